import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildArch } from '@fastdepth/fastdepth-arch';
import { encodeSafetensors, initWeights, saveGraph } from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { runCli } from './testing/run-cli.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'fastdepth-cli-'));

describe('fastdepth list / info', () => {
  it('lists the architecture names', async () => {
    const r = await runCli('list');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^fastdepth\s/m);
    expect(r.stdout).toMatch(/^fastdepth-pruned\s/m);
    expect(r.stdout).toMatch(/^resnet18-upproj\s/m);
  });

  it('info --json gives the paper-exact totals', async () => {
    const r = await runCli('info', '--arch', 'fastdepth', '--json');
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout) as {
      arch: string;
      macs: number;
      params: number;
      convWeights: number;
      layers: { name: string }[];
    };
    expect(info.arch).toBe('fastdepth');
    expect(info.macs).toBe(736_658_944);
    expect(info.convWeights).toBe(3_933_088);
    expect(info.params).toBe(3_933_088 + 27_842);
    expect(info.layers.map((l) => l.name)).toContain('decode_conv6');
  });

  it('info prints a layer table and totals', async () => {
    const r = await runCli('info', '--arch', 'fastdepth-pruned');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/conv13_pw\s+conv2d\s+1x512x7x7/);
    expect(r.stdout).toMatch(/total: 366\.39 M MACs \(366,393,384\)/);
  });

  it('accepts a saved graph file wherever --arch is accepted', async () => {
    const dir = tmp();
    const file = join(dir, 'variant.json');
    writeFileSync(file, saveGraph(buildArch('fastdepth-pruned', { inputSize: 64 })));
    const r = await runCli('info', '--arch', file, '--json');
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { outputShape: number[] }).outputShape).toEqual([1, 1, 64, 64]);
  });
});

describe('fastdepth compile', () => {
  it('compiles to ONNX, checks it in onnxruntime against the reference executor and writes atomically', async () => {
    const out = tmp();
    const r = await runCli(
      'compile',
      '--arch',
      'fastdepth-pruned',
      '--input-size',
      '64',
      '--target',
      'onnx',
      '--out',
      out,
      '--json',
    );
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as {
      files: { path: string; bytes: number }[];
      checks: { maxRelativeError: number }[];
    };
    expect(result.checks[0]!.maxRelativeError).toBeLessThan(1e-4);
    expect(readdirSync(join(out, 'onnx'))).toEqual(['fastdepth-pruned.onnx']);
    for (const f of result.files) expect(readFileSync(f.path).byteLength).toBe(f.bytes);
    // No temporary files left behind.
    expect(readdirSync(out).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('compiles saved weights and a saved graph (a round trip through its own outputs)', async () => {
    const out = tmp();
    const graph = buildArch('fastdepth', { inputSize: 32 });
    writeFileSync(join(out, 'g.json'), saveGraph(graph));
    writeFileSync(join(out, 'w.safetensors'), encodeSafetensors(initWeights(graph, 42)));
    const r = await runCli(
      'compile',
      '--arch',
      join(out, 'g.json'),
      '--weights',
      join(out, 'w.safetensors'),
      '--target',
      'onnx',
      '--out',
      join(out, 'o'),
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/onnxruntime-node vs reference executor\s+\d\.\d+e-\d+/);
    expect(existsSync(join(out, 'o', 'onnx', 'g.onnx'))).toBe(true);
  });
});

describe('fastdepth compile --target wasm', () => {
  it('writes the manifest, four builds and the weights, each checked at 1 and 2 threads', async () => {
    const out = tmp();
    const r = await runCli(
      'compile',
      '--arch',
      'fastdepth-pruned',
      '--input-size',
      '64x96',
      '--target',
      'wasm',
      '--out',
      out,
      '--json',
    );
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as {
      files: { path: string; bytes: number }[];
      checks: { target: string; name: string; maxRelativeError: number }[];
    };
    expect(result.checks.map((c) => [c.target, c.name])).toEqual([
      ['wasm', 'compiled wasm (runtime-web, 1 thread) vs reference executor'],
      ['wasm', 'compiled wasm (runtime-web, 2 threads) vs reference executor'],
    ]);
    for (const c of result.checks) expect(c.maxRelativeError).toBeLessThan(1e-4);
    const stem = 'fastdepth-pruned';
    expect(readdirSync(join(out, 'wasm')).sort()).toEqual(
      [
        `${stem}.relaxed-threads.wasm`,
        `${stem}.relaxed.wasm`,
        `${stem}.simd-threads.wasm`,
        `${stem}.simd.wasm`,
        `${stem}.wasm-manifest.json`,
        `${stem}.weights.bin`,
      ].sort(),
    );
    const manifest = JSON.parse(readFileSync(join(out, 'wasm', `${stem}.wasm-manifest.json`), 'utf8')) as {
      format: string;
      input: { shape: number[] };
      weights: { byteLength: number };
    };
    expect([manifest.format, manifest.input.shape]).toEqual(['fastdepth-wasm', [1, 3, 64, 96]]);
    expect(readFileSync(join(out, 'wasm', `${stem}.weights.bin`)).byteLength).toBe(
      manifest.weights.byteLength,
    );
    for (const f of result.files) expect(readFileSync(f.path).byteLength).toBe(f.bytes);
    expect(readdirSync(out).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('is one of the targets of --target all', async () => {
    const r = await runCli('compile', '--help');
    expect(r.stdout).toMatch(/onnx, tvm, tfjs, wasm or all/);
  });
});

describe('fastdepth compile --weights (real trained weights)', () => {
  const tflite = fileURLToPath(
    new URL('../../../../shared/data/weights/fast_depth_224.tflite', import.meta.url),
  );

  it("imports the paper's int8 TFLite model as fastdepth-pruned and compiles it", async () => {
    const out = tmp();
    const r = await runCli('compile', '--weights', tflite, '--target', 'onnx,tfjs', '--out', out, '--json');
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as {
      arch: string;
      macs: number;
      checks: { target: string; maxRelativeError: number }[];
    };
    expect(result.arch).toBe('fastdepth-pruned');
    expect(result.macs).toBe(366_393_384);
    // Trained weights: onnxruntime-node and the generated tfjs (wasm) both match the reference.
    expect(result.checks.map((c) => c.target)).toEqual(['onnx', 'tfjs']);
    for (const c of result.checks) expect(c.maxRelativeError).toBeLessThan(1e-4);
  });

  it('rejects a TFLite file for the wrong --arch, naming the layer', async () => {
    await expectUserError(
      ['compile', '--arch', 'fastdepth', '--weights', tflite, '--out', join(tmp(), 'o')],
      /fast_depth_224\.tflite/,
    );
  });
});

const expectUserError = async (args: string[], message: RegExp): Promise<void> => {
  const r = await runCli(...args);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
};

describe('bad input: one-line error, exit 1, nothing written', () => {
  it('unknown architecture names', async () => {
    await expectUserError(
      ['info', '--arch', 'fastdeph'],
      /fastdepth: error: unknown architecture "fastdeph"/,
    );
  });

  it('malformed graph JSON files', async () => {
    const dir = tmp();
    writeFileSync(
      join(dir, 'bad.json'),
      '{"format": "fastdepth-graph", "version": 1, "name": "x", "nodes": [{"op": "conv9d", "name": "a", "inputs": [], "attrs": {}}]}',
    );
    await expectUserError(
      ['info', '--arch', join(dir, 'bad.json')],
      /bad\.json: layer "a": unknown op "conv9d"/,
    );
    writeFileSync(join(dir, 'trunc.json'), '{"format": "fastdepth-gr');
    await expectUserError(['info', '--arch', join(dir, 'trunc.json')], /trunc\.json: not valid JSON/);
    await expectUserError(
      ['info', '--arch', join(dir, 'missing.json')],
      /cannot read graph file ".*missing\.json": no such file/,
    );
  });

  it('truncated and mismatched weight files', async () => {
    const dir = tmp();
    const out = join(dir, 'out');
    const bytes = encodeSafetensors(initWeights(buildArch('fastdepth', { inputSize: 32 }), 0));
    writeFileSync(join(dir, 'trunc.safetensors'), bytes.subarray(0, bytes.length - 100));
    await expectUserError(
      [
        'compile',
        '--arch',
        'fastdepth',
        '--input-size',
        '32',
        '--weights',
        join(dir, 'trunc.safetensors'),
        '--out',
        out,
      ],
      /trunc\.safetensors: tensor ".*": data .* lies outside/,
    );
    writeFileSync(join(dir, 'other.safetensors'), bytes);
    await expectUserError(
      [
        'compile',
        '--arch',
        'fastdepth-pruned',
        '--input-size',
        '32',
        '--weights',
        join(dir, 'other.safetensors'),
        '--out',
        out,
      ],
      /other\.safetensors: tensor "conv0\.weight": shape 32x3x3x3 does not match the graph's 16x3x3x3/,
    );
    writeFileSync(join(dir, 'w.bin'), 'not weights at all');
    await expectUserError(
      ['compile', '--weights', join(dir, 'w.bin'), '--out', out],
      /w\.bin: unknown weight file extension "\.bin"/,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('an output folder that cannot be written', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'file'), 'x');
    await expectUserError(
      ['compile', '--input-size', '32', '--target', 'onnx', '--out', join(dir, 'file', 'sub')],
      /cannot write output folder ".*file\/sub": a part of the path is a file/,
    );
  });

  it('bad option values', async () => {
    await expectUserError(
      ['compile', '--opset', '12', '--input-size', '32', '--target', 'onnx', '--out', join(tmp(), 'o')],
      /opset/,
    );
    await expectUserError(
      ['compile', '--target', 'coreml'],
      /--target: unknown target "coreml" \(known: onnx, tvm, tfjs, wasm, all\)/,
    );
    await expectUserError(['compile', '--seed', 'abc'], /--seed must be an integer/);
    await expectUserError(['info', '--arch', 'fastdepth', '--input-size', '100'], /100/);
    await expectUserError(['frobnicate'], /unknown command/);
  });
});
