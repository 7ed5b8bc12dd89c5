/**
 * The paper's trained int8 TFLite model (imported with its own quantisation) on the wasm int8
 * build equals graph-dsl's int8 reference executor bit for bit on the NYU sample frame, and its
 * dequantised depth keeps the published model's accuracy on it.
 */
import { resolve } from 'node:path';
import { computeMetrics, loadNpyPair, toInputTensor } from '@fastdepth/eval';
import type { IntegerArithmetic, QuantizedModel } from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { createWasmMemory, loadWasmModel } from '../testing/load.js';
import { executeInt8, loadTrainedInt8, NYU } from '../testing/trained-int8.js';
import { emitWasmInt8 } from './emit.js';

const withArithmetic = (model: QuantizedModel, arithmetic: IntegerArithmetic): QuantizedModel => ({
  ...model,
  graph: { ...model.graph, quantization: { ...model.graph.quantization, arithmetic } },
});

describe('trained int8 TFLite model on the NYU sample', () => {
  it("the two arithmetics' references differ on the frame (the xnnpack build is not the tflite one)", async () => {
    const model = loadTrainedInt8();
    const frame = await loadNpyPair(resolve(NYU, 'rgb.npy'), resolve(NYU, 'depth.npy'));
    const input = toInputTensor(frame);
    const a = executeInt8(withArithmetic(model, 'tflite'), input.data);
    const b = executeInt8(withArithmetic(model, 'xnnpack'), input.data);
    let differ = 0;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) differ++;
    // ~25 % of the pixels on this frame (the LiteRT bench: 75.19 % equal).
    expect(differ / a.length).toBeGreaterThan(0.05);
  });

  it.each(['tflite', 'xnnpack'] as const)(
    '%s arithmetic: int8 output equal to executeQuantized, dequantised depth within the CLI thresholds',
    async (arithmetic) => {
      const model = withArithmetic(loadTrainedInt8(), arithmetic);
      const frame = await loadNpyPair(resolve(NYU, 'rgb.npy'), resolve(NYU, 'depth.npy'));
      const input = toInputTensor(frame);
      const want = executeInt8(model, input.data);
      // The relaxed build on the exact plain-SIMD dot: its data flow on the trained weights.
      const artifact = emitWasmInt8(model, { relaxedDot: 'usdot-emulated' });
      expect(artifact.manifest.quantization!.arithmetic).toBe(arithmetic);
      expect(artifact.weights.byteLength).toBeLessThan(1.5e6);
      let depth: Float32Array = new Float32Array(0);
      for (const variant of ['simd', 'relaxed'] as const) {
        const memory = createWasmMemory(artifact.manifest, false) as WebAssembly.Memory;
        const m = await loadWasmModel(artifact.manifest, artifact.modules[variant], artifact.weights, {
          memory,
        });
        depth = m.runSingleThread(input.data);
        const got = new Int8Array(
          memory.buffer,
          artifact.manifest.quantization!.outputInt8.byteOffset,
          want.length,
        );
        let differ = 0;
        for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) differ++;
        expect(differ, `${variant}: pixels differing from executeQuantized`).toBe(0);
      }
      const metrics = computeMetrics(depth, frame.depth);
      expect(metrics.rmse).toBeLessThanOrEqual(0.65);
      expect(metrics.delta1).toBeGreaterThanOrEqual(0.75);
    },
  );
});
