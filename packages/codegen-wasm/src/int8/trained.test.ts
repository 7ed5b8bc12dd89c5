/**
 * The paper's trained int8 TFLite model (imported with its own quantisation) on the wasm int8
 * build equals graph-dsl's int8 reference executor bit for bit on the NYU sample frame, and its
 * dequantised depth keeps the published model's accuracy on it.
 */
import { resolve } from 'node:path';
import { computeMetrics, loadNpyPair, toInputTensor } from '@fastdepth/eval';
import { describe, expect, it } from 'vitest';
import { createWasmMemory, loadWasmModel } from '../testing/load.js';
import { executeInt8, loadTrainedInt8, NYU } from '../testing/trained-int8.js';
import { emitWasmInt8 } from './emit.js';

describe('trained int8 TFLite model on the NYU sample', () => {
  it('int8 output equal to executeQuantized, dequantised depth within the CLI thresholds', async () => {
    const model = loadTrainedInt8();
    const frame = await loadNpyPair(resolve(NYU, 'rgb.npy'), resolve(NYU, 'depth.npy'));
    const input = toInputTensor(frame);
    const want = executeInt8(model, input.data);
    // The relaxed build on the exact plain-SIMD dot: its data flow on the trained weights.
    const artifact = emitWasmInt8(model, { relaxedDot: 'usdot-emulated' });
    expect(artifact.weights.byteLength).toBeLessThan(1.5e6);
    let depth = new Float32Array(0);
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
  });
});
