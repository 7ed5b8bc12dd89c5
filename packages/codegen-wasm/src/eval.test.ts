/**
 * The paper's trained weights (the published TFLite FastDepth, dequantised by the importer) on
 * the NYU sample frame: the wasm module gives the same depth metrics as the float64 reference
 * executor and onnxruntime, and is as close to the official model as the CLI requires of the
 * other engines (RMSE <= 0.65 m, delta1 >= 0.75).
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeOnnx } from '@fastdepth/codegen-onnx';
import { computeMetrics, loadNpyPair, toInputTensor, type DepthMetrics } from '@fastdepth/eval';
import { importTflite } from '@fastdepth/importers';
import { describe, expect, it } from 'vitest';
import { emitWasm } from './emit.js';
import { instantiate, reference, relativeError } from './testing/harness.js';
import { runOnnx } from '@fastdepth/codegen-onnx/testing';

const DATA =
  process.env['FASTDEPTH_DATA'] ??
  resolve(dirname(fileURLToPath(import.meta.url)), '../../../../shared/data');
const TFLITE = resolve(DATA, 'weights/fast_depth_224.tflite');
const NYU = resolve(DATA, 'nyu-sample');

function expectSameMetrics(actual: DepthMetrics, expected: DepthMetrics): void {
  for (const [name, value] of Object.entries(expected) as [keyof DepthMetrics, number][]) {
    expect(Math.abs(actual[name] - value), name).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(value)));
  }
}

describe('trained TFLite weights on the NYU sample', () => {
  it('gives the eval figures of the reference executor and onnxruntime', async () => {
    const { model } = importTflite(readFileSync(TFLITE), TFLITE);
    const frame = await loadNpyPair(resolve(NYU, 'rgb.npy'), resolve(NYU, 'depth.npy'));
    const input = toInputTensor(frame);
    const wasm = (await instantiate(emitWasm(model), 'simd')).runSingleThread(input.data);
    const ref = reference(model.graph, model.weights, input.data);
    const ort = await runOnnx(encodeOnnx(model, { foldBatchNorm: true }), input);
    expect(relativeError(wasm, ref).rel).toBeLessThan(1e-4);

    const metrics = computeMetrics(wasm, frame.depth);
    expectSameMetrics(metrics, computeMetrics(ref, frame.depth));
    expectSameMetrics(metrics, computeMetrics(ort.data, frame.depth));
    expect(metrics.rmse).toBeLessThanOrEqual(0.65);
    expect(metrics.delta1).toBeGreaterThanOrEqual(0.75);
  });
});
