import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FormatError, execute, paramSpecs, readNpy } from '@fastdepth/graph-dsl';
import { FASTDEPTH_PRUNED_WIDTHS } from '@fastdepth/fastdepth-arch';
import { beforeAll, describe, expect, it } from 'vitest';
import { importTflite, type TfliteImport } from './import.js';

const DATA =
  process.env.FASTDEPTH_DATA ??
  resolve(dirname(fileURLToPath(import.meta.url)), '../../../../../shared/data');
const TFLITE = resolve(DATA, 'weights/fast_depth_224.tflite');

describe('importTflite on the published FastDepth', () => {
  let bytes: Uint8Array;
  let imported: TfliteImport;
  beforeAll(() => {
    bytes = readFileSync(TFLITE);
    imported = importTflite(bytes, TFLITE);
  });

  it('recognises fastdepth-pruned with the exact widths', () => {
    expect(imported.archName).toBe('fastdepth-pruned');
    expect(imported.report.widths).toEqual(FASTDEPTH_PRUNED_WIDTHS);
    expect(imported.report.quantized).toBe(true);
    expect(imported.report.convolutions).toBe(38);
    expect(imported.report.input.shape).toEqual([1, 224, 224, 3]);
    expect(imported.report.output.scale).toBeCloseTo(0.0717, 4);
    expect(imported.model.graph.meta?.arch).toBe('fastdepth-pruned');
  });

  it('gives every parameter of the graph, all finite', () => {
    const specs = paramSpecs(imported.model.graph);
    expect(imported.model.weights.size).toBe(specs.length);
    for (const spec of specs) {
      const t = imported.model.weights.get(spec.name)!;
      expect(t.shape, spec.name).toEqual(spec.shape);
      expect(
        t.data.every((v) => Number.isFinite(v)),
        spec.name,
      ).toBe(true);
    }
    // Dequantised, transposed: conv0 is (16, 3, 3, 3) OIHW, conv1_dw (16, 1, 3, 3).
    expect(imported.model.weights.get('conv0.weight')!.shape).toEqual([16, 3, 3, 3]);
    expect(imported.model.weights.get('conv1_dw.weight')!.shape).toEqual([16, 1, 3, 3]);
    expect(imported.model.weights.get('decode_conv6.weight')!.shape).toEqual([1, 16, 1, 1]);
  });

  it('builds every BatchNorm as identity plus the folded bias', () => {
    expect(imported.report.identityBatchNorms).toBe(38);
    const w = imported.model.weights;
    for (const layer of ['conv0_bn', 'conv13_pw_bn', 'decode_conv6_bn']) {
      expect(w.get(`${layer}.weight`)!.data.every((v) => v === 1)).toBe(true);
      expect(w.get(`${layer}.running_mean`)!.data.every((v) => v === 0)).toBe(true);
      expect(w.get(`${layer}.running_var`)!.data.every((v) => v === Math.fround(1 - 1e-5))).toBe(true);
      expect(w.get(`${layer}.bias`)!.data.some((v) => v !== 0)).toBe(true);
    }
  });

  it('reproduces the official prediction on the NYU sample', () => {
    const rgb = readNpy(readFileSync(resolve(DATA, 'nyu-sample/rgb.npy')), 'rgb.npy');
    const pred = readNpy(readFileSync(resolve(DATA, 'nyu-sample/pred.npy')), 'pred.npy');
    const depth = readNpy(readFileSync(resolve(DATA, 'nyu-sample/depth.npy')), 'depth.npy');
    expect(rgb.shape).toEqual([224, 224, 3]);
    const [h, w] = [224, 224];
    const nchw = new Float64Array(3 * h * w);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let c = 0; c < 3; c++) nchw[(c * h + y) * w + x] = rgb.data[(y * w + x) * 3 + c]!;
    const out = execute(imported.model.graph, imported.model.weights, {
      input: { shape: [1, 3, h, w], data: nchw },
    }).depth!;
    expect(out.shape).toEqual([1, 1, h, w]);
    let rel = 0;
    let se = 0;
    for (let i = 0; i < h * w; i++) {
      rel += Math.abs(out.data[i]! - pred.data[i]!) / pred.data[i]!;
      se += (out.data[i]! - depth.data[i]!) ** 2;
    }
    const meanRel = rel / (h * w);
    const rmse = Math.sqrt(se / (h * w));
    console.log(
      `nyu-sample: mean relative difference to pred.npy ${(meanRel * 100).toFixed(3)}%, RMSE vs depth.npy ${rmse.toFixed(4)} m`,
    );
    expect(meanRel).toBeLessThanOrEqual(0.03);
    expect(rmse).toBeLessThanOrEqual(0.65);
    expect(rmse).toBeGreaterThan(0.55);
  });

  it('rejects a truncated file, naming it', () => {
    expect(() => importTflite(bytes.subarray(0, 100_000), 'cut.tflite')).toThrow(FormatError);
    expect(() => importTflite(bytes.subarray(0, 100_000), 'cut.tflite')).toThrow(
      /cut\.tflite: truncated or corrupt/,
    );
    expect(() => importTflite(bytes.subarray(0, 6), 'tiny.tflite')).toThrow(/tiny\.tflite: too short/);
  });

  it('rejects a wrong file identifier', () => {
    const copy = Uint8Array.from(bytes);
    copy.set([0x54, 0x46, 0x4c, 0x32], 4); // "TFL2"
    expect(() => importTflite(copy, 'old.tflite')).toThrow(
      /old\.tflite: not a TFLite file: file identifier is "TFL2", expected "TFL3"/,
    );
  });
});
