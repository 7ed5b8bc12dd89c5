import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  dequantizeModel,
  dequantizeValues,
  execute,
  executeQuantized,
  foldBatchNorm,
  readNpy,
  type QuantizedValue,
} from '@fastdepth/graph-dsl';
import { beforeAll, describe, expect, it } from 'vitest';
import { importTfliteQuantized, type TfliteQuantizedImport } from './import.js';

const DATA =
  process.env.FASTDEPTH_DATA ??
  resolve(dirname(fileURLToPath(import.meta.url)), '../../../../../shared/data');
const TFLITE = resolve(DATA, 'weights/fast_depth_224.tflite');

describe('importTfliteQuantized on the published int8 FastDepth', () => {
  let imported: TfliteQuantizedImport;
  let nchw: Float64Array;
  let int8Depth: QuantizedValue;
  beforeAll(() => {
    imported = importTfliteQuantized(readFileSync(TFLITE), TFLITE);
    const rgb = readNpy(readFileSync(resolve(DATA, 'nyu-sample/rgb.npy')), 'rgb.npy');
    nchw = new Float64Array(3 * 224 * 224);
    for (let y = 0; y < 224; y++)
      for (let x = 0; x < 224; x++)
        for (let c = 0; c < 3; c++) nchw[(c * 224 + y) * 224 + x] = rgb.data[(y * 224 + x) * 3 + c]!;
    int8Depth = executeQuantized(imported.quantized, {
      input: { shape: [1, 3, 224, 224], data: nchw },
    }).depth!;
  });

  it("keeps the file's quantisation on the architecture's layer names, BatchNorm folded", () => {
    const { graph, weights } = imported.quantized;
    expect(graph.nodes.some((n) => n.op === 'batchNorm')).toBe(false);
    const convs = graph.nodes.filter((n) => n.op === 'conv2d');
    expect(convs).toHaveLength(38);
    const float = foldBatchNorm(imported.model).graph;
    expect(graph.nodes.map((n) => n.name)).toEqual(float.nodes.map((n) => n.name));
    // Input: RGB in [0, 1] as uint8 behind a QUANTIZE to int8 (scale 1/255, zero point -128).
    expect(graph.quantization.tensors.input).toEqual({ scale: Math.fround(1 / 255), zeroPoint: -128 });
    expect(graph.quantization.tensors.depth!.scale).toBeCloseTo(0.0717, 4);
    // Per-channel weight scales everywhere but the one-channel head.
    for (const c of convs) {
      const scales = graph.quantization.weightScales[c.name]!;
      expect(scales.length, c.name).toBe(c.op === 'conv2d' ? c.attrs.outChannels : 0);
    }
    let bytes = 0;
    for (const t of weights.values()) bytes += t.data.byteLength;
    // The paper's model: about 1.3 MB of int8 weights and int32 biases.
    expect(bytes).toBeGreaterThan(1.2e6);
    expect(bytes).toBeLessThan(1.5e6);
  });

  it('dequantises to the float import (the same numbers, two readings of one file)', () => {
    const fromInt8 = dequantizeModel(imported.quantized);
    const fromFloat = foldBatchNorm(imported.model);
    for (const [name, t] of fromInt8.weights) {
      const f = fromFloat.weights.get(name)!;
      expect(f.shape, name).toEqual(t.shape);
      let scale = 0;
      let worst = 0;
      for (let i = 0; i < t.data.length; i++) {
        scale = Math.max(scale, Math.abs(f.data[i]!));
        worst = Math.max(worst, Math.abs(t.data[i]! - f.data[i]!));
      }
      expect(scale, name).toBeGreaterThan(0);
      expect(worst, name).toBeLessThanOrEqual(1e-6 * scale);
    }
  });

  it('runs in int8 on the NYU frame: the official prediction to ~1.5 %, within a step of float', () => {
    const pred = readNpy(readFileSync(resolve(DATA, 'nyu-sample/pred.npy')), 'pred.npy');
    const depth = readNpy(readFileSync(resolve(DATA, 'nyu-sample/depth.npy')), 'depth.npy');
    const { scale } = int8Depth.params;
    const d = dequantizeValues(int8Depth.data, int8Depth.params);
    const float = foldBatchNorm(imported.model);
    const f = execute(float.graph, float.weights, {
      input: { shape: [1, 3, 224, 224], data: nchw },
    }).depth!.data;
    let rel = 0;
    let se = 0;
    let withinStep = 0;
    let maxSteps = 0;
    for (let i = 0; i < d.length; i++) {
      rel += Math.abs(d[i]! - pred.data[i]!) / pred.data[i]!;
      se += (d[i]! - depth.data[i]!) ** 2;
      const steps = Math.abs(d[i]! - f[i]!) / scale;
      if (steps <= 1) withinStep++;
      maxSteps = Math.max(maxSteps, steps);
    }
    const meanRel = rel / d.length;
    const rmse = Math.sqrt(se / d.length);
    console.log(
      `int8 reference on nyu-sample: mean relative difference to pred.npy ${(meanRel * 100).toFixed(2)}%, RMSE ${rmse.toFixed(4)} m, ${((100 * withinStep) / d.length).toFixed(1)}% within one output step of the float reading, max ${maxSteps.toFixed(2)} steps`,
    );
    expect(meanRel).toBeLessThan(0.03);
    expect(rmse).toBeGreaterThan(0.55);
    expect(rmse).toBeLessThan(0.66);
    expect(withinStep / d.length).toBeGreaterThan(0.85);
    expect(maxSteps).toBeLessThan(5);
  });
});
