/**
 * `compile --target tfjs|wasm --weights-dtype`: smaller weights files for the web, and
 * `--for-web`, which writes only what a page loads. The paper's
 * trained weights on the NYU sample frame give the same depth from int8 / float16 weights as
 * from float32 (mean relative difference under 1 %), from a file about 3.7x / 2x smaller.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { emitTfjs, type WeightsDtype } from '@fastdepth/codegen-tfjs';
import { importGeneratedModule } from '@fastdepth/codegen-tfjs/node';
import { loadNpyPair } from '@fastdepth/eval';
import { importTflite } from '@fastdepth/importers';
import { createDepthEstimator } from '@fastdepth/runtime-web';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './testing/run-cli.js';

const DATA = fileURLToPath(new URL('../../../../shared/data/', import.meta.url));
const TFLITE = join(DATA, 'weights/fast_depth_224.tflite');
const NYU = join(DATA, 'nyu-sample');

/** The depth of the NYU sample frame (authors' validation transform) on tfjs-wasm. */
async function nyuDepth(dtype: WeightsDtype): Promise<{ depth: Float32Array; bytes: number }> {
  const { model } = importTflite(new Uint8Array(readFileSync(TFLITE)), TFLITE);
  const emitted = emitTfjs(model, { weightsDtype: dtype });
  const loaded = await importGeneratedModule(emitted);
  const estimator = await createDepthEstimator({
    model: {
      engine: 'tfjs',
      module: loaded.module,
      weights: { manifest: loaded.manifest, buffer: loaded.weights },
    },
    backend: 'wasm',
  });
  try {
    const frame = await loadNpyPair(join(NYU, 'rgb.npy'), join(NYU, 'depth.npy'));
    const result = await estimator.estimateRgb({ data: frame.rgb, width: frame.width, height: frame.height });
    return { depth: result.depth, bytes: emitted.weights.byteLength };
  } finally {
    await estimator.dispose();
  }
}

function meanRelativeDifference(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!) / Math.abs(b[i]!);
  return sum / a.length;
}

describe('tfjs weights dtype on the NYU frame, trained weights', () => {
  let float32: { depth: Float32Array; bytes: number };
  beforeAll(async () => {
    float32 = await nyuDepth('float32');
  }, 300_000);

  it.each([
    ['int8', 3.5],
    ['float16', 1.9],
  ] as const)(
    '%s: mean relative difference to float32 under 1 percent, file over %s times smaller',
    async (dtype, ratio) => {
      const small = await nyuDepth(dtype);
      expect(Math.min(...float32.depth)).toBeGreaterThan(0);
      const difference = meanRelativeDifference(small.depth, float32.depth);
      const sizeRatio = float32.bytes / small.bytes;
      console.log(
        `${dtype}: ${small.bytes} bytes vs ${float32.bytes} float32 (${sizeRatio.toFixed(2)}x smaller), mean relative difference ${difference.toExponential(2)}`,
      );
      expect(difference).toBeLessThan(0.01);
      expect(sizeRatio).toBeGreaterThan(ratio);
    },
  );
});

describe('fastdepth compile --weights-dtype', () => {
  it('writes int8 weights, checked against the reference, and says how much smaller', async () => {
    const out = mkdtempSync(join(tmpdir(), 'fastdepth-cli-'));
    const r = await runCli(
      'compile',
      '--arch',
      'fastdepth-pruned',
      '--input-size',
      '64',
      '--target',
      'tfjs',
      '--weights-dtype',
      'int8',
      '--out',
      out,
      '--json',
    );
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as {
      checks: { name: string; maxRelativeError: number; limit: number }[];
    };
    expect(report.checks.map((c) => c.name)).toEqual([
      'generated tfjs (wasm) vs reference executor',
      'generated tfjs (wasm), int8 weights vs reference executor',
    ]);
    for (const c of report.checks) expect(c.maxRelativeError).toBeLessThanOrEqual(c.limit);
    expect(readdirSync(join(out, 'tfjs')).sort()).toEqual([
      'fastdepth-pruned.d.ts',
      'fastdepth-pruned.js',
      'fastdepth-pruned.ts',
      'fastdepth-pruned.weights.bin',
      'fastdepth-pruned.weights.json',
    ]);
    const manifest = JSON.parse(readFileSync(join(out, 'tfjs', 'fastdepth-pruned.weights.json'), 'utf8')) as {
      tensors: { name: string; dtype: string }[];
    };
    expect(new Set(manifest.tensors.map((t) => t.dtype))).toEqual(new Set(['int8', 'float32']));
  });

  it.each(['int8', 'float16'] as const)(
    '--target wasm --weights-dtype %s --for-web: only what a page loads, the weights checked at 1 and 2 threads',
    async (dtype) => {
      const out = mkdtempSync(join(tmpdir(), 'fastdepth-cli-'));
      const r = await runCli(
        'compile',
        '--arch',
        'fastdepth-pruned',
        '--input-size',
        '64',
        '--target',
        'wasm,onnx',
        '--weights-dtype',
        dtype,
        '--for-web',
        '--out',
        out,
        '--json',
      );
      expect(r.stderr).not.toMatch(/error/);
      expect(r.code).toBe(0);
      const report = JSON.parse(r.stdout) as {
        checks: { target: string; name: string; maxRelativeError: number; limit: number }[];
      };
      const wasm = report.checks.filter((c) => c.target === 'wasm');
      expect(wasm.map((c) => c.name)).toEqual([
        'compiled wasm (runtime-web, 1 thread) vs reference executor',
        'compiled wasm (runtime-web, 2 threads) vs reference executor',
        `compiled wasm (runtime-web, 1 thread), ${dtype} weights vs reference executor`,
        `compiled wasm (runtime-web, 2 threads), ${dtype} weights vs reference executor`,
      ]);
      for (const c of report.checks) expect(c.maxRelativeError).toBeLessThanOrEqual(c.limit);
      // Seeded weights are not int8 already: the rounding shows, within its limit.
      expect(wasm[2]!.maxRelativeError).toBeGreaterThan(0);
      // No graph JSON, no safetensors, no float32 weights beside the smaller ones.
      expect(readdirSync(out).sort()).toEqual(['onnx', 'wasm']);
      expect(readdirSync(join(out, 'onnx'))).toEqual(['fastdepth-pruned.onnx']);
      expect(readdirSync(join(out, 'wasm')).sort()).toEqual([
        'fastdepth-pruned.relaxed-threads.wasm',
        'fastdepth-pruned.relaxed.wasm',
        'fastdepth-pruned.simd-threads.wasm',
        'fastdepth-pruned.simd.wasm',
        'fastdepth-pruned.wasm-manifest.json',
        `fastdepth-pruned.weights.${dtype}.bin`,
      ]);
      const manifest = JSON.parse(
        readFileSync(join(out, 'wasm', 'fastdepth-pruned.wasm-manifest.json'), 'utf8'),
      ) as { weightsFile: string; weightsDtype: string; weights: { byteLength: number } };
      expect([manifest.weightsFile, manifest.weightsDtype]).toEqual([
        `fastdepth-pruned.weights.${dtype}.bin`,
        dtype,
      ]);
      const stored = readFileSync(join(out, 'wasm', manifest.weightsFile)).byteLength;
      expect(stored / manifest.weights.byteLength).toBeLessThan(dtype === 'int8' ? 0.3 : 0.52);
      // The folder runs as a page would load it (manifest URL, weights beside it).
      const estimator = await createDepthEstimator({
        model: {
          engine: 'wasm',
          model: { manifestUrl: join(out, 'wasm', 'fastdepth-pruned.wasm-manifest.json') },
        },
      });
      try {
        const depth = await estimator.estimateRgb({
          data: new Float32Array(64 * 64 * 3).fill(0.5),
          width: 64,
          height: 64,
        });
        expect(depth.depth.every((d) => Number.isFinite(d))).toBe(true);
      } finally {
        await estimator.dispose();
      }
    },
    300_000,
  );

  it('--for-web refuses a target no page runs', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'fastdepth-cli-')), 'out');
    const r = await runCli('compile', '--target', 'tvm', '--for-web', '--out', out);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'fastdepth: error: --for-web: tvm is not a target a page runs (--for-web writes tfjs, onnx, wasm)',
    );
    expect(() => readdirSync(out)).toThrow();
  });

  it('rejects an unknown dtype, or one without the tfjs target, with one line, writing nothing', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'fastdepth-cli-')), 'out');
    const r = await runCli('compile', '--target', 'tfjs', '--weights-dtype', 'int4', '--out', out);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'fastdepth: error: --weights-dtype must be one of float32, float16, int8, found "int4"',
    );
    expect(() => readdirSync(out)).toThrow();
    const onnx = await runCli('compile', '--target', 'onnx', '--weights-dtype', 'int8', '--out', out);
    expect(onnx.code).toBe(1);
    expect(onnx.stderr).toBe(
      'fastdepth: error: --weights-dtype int8 applies to the tfjs and wasm targets, and --target is onnx',
    );
    expect(() => readdirSync(out)).toThrow();
  });
});
