// `compile --quantize int8`: post-training quantisation on the shared photos, the agreement
// report and the int8 artifacts, read back and run by the int8 reference executor.
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  decodeQuantizedWeights,
  dequantizeValues,
  executeQuantized,
  GraphBuilder,
  loadGraph,
  quantizedModel,
  randomTensor,
  saveGraph,
} from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { runCli } from './testing/run-cli.js';

const DATA = fileURLToPath(new URL('../../../../shared/data/', import.meta.url));
const PHOTOS = join(DATA, 'photos');
const TFLITE = join(DATA, 'weights/fast_depth_224.tflite');
const tmp = (): string => mkdtempSync(join(tmpdir(), 'fastdepth-int8-'));

interface Int8Report {
  files: { path: string; bytes: number }[];
  int8: {
    calibration: string;
    calibrationPhotos: string[];
    outputStep: number;
    arithmetic: string;
    agreement: {
      photo: string;
      count: number;
      meanRelativeDifference: number;
      withinOneStep: number;
      absRel: number;
      delta1: number;
    }[];
    wasm: { built: boolean; note: string };
  };
}

describe('fastdepth compile --quantize int8', () => {
  it('the trained model: calibrated on the photos, agreement on the held-out ones, int8 files that load and run', async () => {
    const out = tmp();
    // 64x64 keeps the float64 reference executors quick; the network is fully convolutional.
    const r = await runCli(
      'compile',
      '--weights',
      TFLITE,
      '--input-size',
      '64',
      '--target',
      'onnx',
      '--quantize',
      'int8',
      '--images',
      PHOTOS,
      '--holdout',
      '3',
      '--out',
      out,
      '--json',
    );
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as Int8Report;
    const { int8 } = report;
    expect(int8.calibration).toBe('minmax');
    expect(int8.arithmetic).toBe('xnnpack');
    expect(int8.calibrationPhotos).toHaveLength(17);
    expect(int8.agreement.map((a) => a.photo)).toHaveLength(4);
    expect(int8.agreement[3]!.photo).toBe('all');
    for (const a of int8.agreement.slice(0, 3)) {
      expect(int8.calibrationPhotos).not.toContain(a.photo);
      expect(a.count).toBe(64 * 64);
    }
    const all = int8.agreement[3]!;
    expect(all.count).toBe(3 * 64 * 64);
    // The trained network quantises well: a few percent apart at most (LiteRT's own int8 model
    // is 1.3 % from the float engine at 224x224).
    expect(all.meanRelativeDifference).toBeLessThan(0.05);
    expect(all.delta1).toBeGreaterThan(0.97);
    expect(all.withinOneStep).toBeGreaterThan(0.3);
    expect(int8.wasm).toEqual({
      built: false,
      note: 'no int8 wasm build asked (--target has no wasm)',
      checks: [],
    });

    const names = readdirSync(out);
    expect(names).toContain('fastdepth-pruned.int8.json');
    expect(names).toContain('fastdepth-pruned.int8.safetensors');
    const graph = loadGraph(readFileSync(join(out, 'fastdepth-pruned.int8.json'), 'utf8'), 'int8.json');
    const weights = decodeQuantizedWeights(
      readFileSync(join(out, 'fastdepth-pruned.int8.safetensors')),
      'int8.safetensors',
    );
    const model = quantizedModel(graph, weights);
    // The default integer arithmetic is written into the int8 model.
    expect(model.graph.quantization.arithmetic).toBe('xnnpack');
    expect(model.graph.quantization.tensors.depth!.scale).toBeCloseTo(int8.outputStep, 12);
    const result = executeQuantized(model, { input: randomTensor([1, 3, 64, 64], 3) }).depth!;
    expect(result.data).toHaveLength(64 * 64);
    expect(Math.max(...dequantizeValues(result.data, result.params))).toBeGreaterThan(0);
  });

  it('prints the agreement table, percentile calibration, and writes the int8 wasm build, checked exactly, linked from the float manifest', async () => {
    const out = tmp();
    const r = await runCli(
      'compile',
      '--arch',
      'fastdepth-pruned',
      '--input-size',
      '32',
      '--target',
      'wasm',
      '--quantize',
      'int8',
      '--images',
      PHOTOS,
      '--calibration',
      'percentile',
      '--percentile',
      '99.9',
      '--out',
      out,
    );
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /int8 \(post-training quantisation, percentile 99\.9, calibrated on 16 photo\(s\)/,
    );
    expect(r.stdout).toMatch(/photo\s+mean rel\. diff\s+within 1 step\s+AbsRel vs float\s+delta1 vs float/);
    expect(r.stdout).toMatch(/^all\s+\d/m);
    expect(r.stdout).toMatch(/fastdepth-pruned\.int8\.safetensors/);
    const wasmLine = /^int8 wasm: (.*)$/m.exec(r.stdout)?.[1];
    // The manifest, four modules (simd, relaxed, each with -threads) and the weights.
    expect(readdirSync(join(out, 'wasm')).filter((f) => f.includes('.int8.')).length).toBe(6);
    expect(wasmLine).toMatch(/^int8 wasm build written to wasm\//);
    // Checked at 1 and 2 threads against the int8 reference executor: the same integers.
    expect(r.stdout).toMatch(/int8 wasm \(runtime-web, 2 threads\) vs int8 reference executor +0\.00e\+0 +0/);
    const manifest = JSON.parse(
      readFileSync(join(out, 'wasm', 'fastdepth-pruned.wasm-manifest.json'), 'utf8'),
    ) as {
      int8Manifest?: string;
    };
    expect(manifest.int8Manifest).toBe('fastdepth-pruned.int8.wasm-manifest.json');
  });

  it("a network whose output is not a depth map at the input size: the int8 wasm build checked on codegen-wasm's host", async () => {
    // A squeeze-excite block ending at half resolution (a U-Net's last map before its upsample):
    // runtime-web's estimator runs depth maps at the input size only.
    const g = new GraphBuilder('half-res-se');
    const x = g.input('input', [1, 3, 32, 32]);
    const c = g.hardSwish('act', g.conv2d('stem', x, { outChannels: 16, kernel: 3, stride: 2, pads: 1 }));
    const gate = g.hardSigmoid(
      'gate',
      g.conv2d(
        'excite',
        g.relu('squeeze_relu', g.conv2d('squeeze', g.globalAvgPool('gap', c), { outChannels: 8, kernel: 1 })),
        {
          outChannels: 16,
          kernel: 1,
        },
      ),
    );
    g.output('out', g.conv2d('head', g.mul('se', c, gate), { outChannels: 1, kernel: 1 }));
    const dir = tmp();
    const arch = join(dir, 'half-res-se.json');
    writeFileSync(arch, saveGraph(g.build()));
    const out = join(dir, 'o');
    const r = await runCli(
      'compile',
      '--arch',
      arch,
      '--target',
      'wasm',
      '--quantize',
      'int8',
      '--images',
      PHOTOS,
      '--out',
      out,
    );
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^int8 wasm: int8 wasm build written to wasm\/.*on one thread \(its output is not a depth map/m,
    );
    expect(r.stdout).toMatch(
      /int8 wasm \(codegen-wasm host, 1 thread\) vs int8 reference executor +0\.00e\+0 +0/,
    );
    expect(readdirSync(join(out, 'wasm')).filter((f) => f.includes('.int8.')).length).toBe(6);
  });

  it("an int8 .tflite file's own quantisation: no --images, the int8 wasm build equal to its reference", async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'fastdepth-own-int8-')), 'o');
    const r = await runCli(
      'compile',
      '--weights',
      TFLITE,
      '--input-size',
      '64',
      '--quantize',
      'int8',
      '--int8-arithmetic',
      'tflite',
      '--target',
      'wasm',
      '--out',
      out,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /int8: the weights file's own int8 model \(output step 0\.07170, tflite arithmetic\), no calibration/,
    );
    const manifest = JSON.parse(
      readFileSync(join(out, 'wasm', 'fastdepth-pruned.int8.wasm-manifest.json'), 'utf8'),
    ) as { quantization: { arithmetic: string } };
    expect(manifest.quantization.arithmetic).toBe('tflite');
    expect(r.stdout).toMatch(/int8 wasm \(runtime-web, 1 thread\) vs int8 reference executor +0\.00e\+0 +0/);
    expect(readdirSync(out)).toContain('fastdepth-pruned.int8.json');
    const seeded = await runCli(
      'compile',
      '--arch',
      'fastdepth-pruned',
      '--input-size',
      '32',
      '--quantize',
      'int8',
      '--target',
      'onnx',
      '--out',
      join(out, 'x'),
    );
    expect(seeded.code).toBe(1);
    expect(seeded.stderr).toBe(
      'fastdepth: error: --quantize int8 needs --images DIR (a folder of photos to calibrate on), unless --weights is an int8 .tflite file, whose own quantisation is then used',
    );
  });

  it('bilinear decoders under the default xnnpack arithmetic: calibrated, XNNPACK bilinear integers, the int8 wasm build checked exactly', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'fastdepth-blconv-int8-')), 'o');
    const r = await runCli(
      'compile',
      '--arch',
      'mobilenet-blconv5dw-skipadd',
      '--input-size',
      '32',
      '--quantize',
      'int8',
      '--images',
      PHOTOS,
      '--target',
      'wasm',
      '--out',
      out,
    );
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /int8 \(post-training quantisation, minmax, calibrated on 16 photo\(s\).*; xnnpack arithmetic\)/,
    );
    // The int8 wasm build's bilinear stages compute the reference's integers: 0 pixels differ.
    expect(r.stdout).toMatch(/int8 wasm \(runtime-web, 2 threads\) vs int8 reference executor +0\.00e\+0 +0/);
    const graph = loadGraph(
      readFileSync(join(out, 'mobilenet-blconv5dw-skipadd.int8.json'), 'utf8'),
      'int8.json',
    );
    expect(graph.quantization?.arithmetic).toBe('xnnpack');
    expect(graph.nodes.filter((n) => n.op === 'upsample' && n.attrs.mode === 'bilinear')).toHaveLength(5);
  });
});
