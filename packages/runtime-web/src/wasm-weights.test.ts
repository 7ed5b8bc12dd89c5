/**
 * The wasm engine's float16 and int8 weights files (`encodeWasmWeights` of codegen-wasm,
 * unpacked at load here): the paper's fastdepth-pruned (seeded weights when the TFLite file is
 * absent) runs from each, at 1 and 2 threads, within the tolerance of its rounding of the
 * float32 weights' depth (int8 gives the paper's weights' depth exactly: they were int8 already),
 * and seeded weights within the tfjs target's limits; the files are 2x and ~3.8x smaller; a damaged file is a BAD_MODEL error.
 */
import { buildArch } from '@fastdepth/fastdepth-arch';
import { emitWasm, encodeWasmWeights, toFloat16Bits, type WasmArtifact } from '@fastdepth/codegen-wasm';
import { maxRelativeError } from '@fastdepth/graph-dsl';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDepthEstimator, type WasmModelSource } from './index.js';
import { seededModel, trainedModel } from './testing/models.js';
import { decodeWasmWeights, fromFloat16Bits, isEncodedWeights } from './wasm-weights.js';

let artifact: WasmArtifact;
let input: Float32Array;
let expected: Float32Array;

function source(weights: Uint8Array): WasmModelSource {
  return { engine: 'wasm', model: { manifest: artifact.manifest, modules: artifact.modules, weights } };
}

async function depth(weights: Uint8Array, numThreads: number): Promise<Float32Array> {
  const estimator = await createDepthEstimator({ model: source(weights), numThreads });
  try {
    expect(estimator.threads).toBe(numThreads);
    const { width, height } = estimator;
    return (await estimator.estimateRgb({ data: input, width, height })).depth;
  } finally {
    await estimator.dispose();
  }
}

beforeAll(async () => {
  const model = (await trainedModel()) ?? seededModel(buildArch('fastdepth-pruned', { inputSize: 224 }), 1);
  artifact = emitWasm(model, { arch: 'fastdepth-pruned' });
  // A smooth image with noise, HWC in [0, 1].
  let s = 7;
  input = Float32Array.from({ length: 224 * 224 * 3 }, (_, i) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const p = Math.floor(i / 3);
    return 0.5 * ((p % 224) / 224) + 0.3 * (Math.floor(p / 224) / 224) + 0.2 * (s / 2 ** 32);
  });
  expected = await depth(artifact.weights, 1);
}, 240_000);

describe('wasm weights dtypes', () => {
  it('float16 bits round to nearest even and come back', () => {
    for (const v of [0, -0, 1, -2.5, 65504, 1e-5, 6.1e-5, 0.1, 3.14159, 1e-8])
      expect(Math.abs(fromFloat16Bits(toFloat16Bits(v)) - v)).toBeLessThanOrEqual(
        Math.abs(v) * 2 ** -11 + 2 ** -25,
      );
    expect(toFloat16Bits(1e6)).toBe(0x7c00);
    expect(fromFloat16Bits(toFloat16Bits(1 + 2 ** -11))).toBe(1); // a tie goes to even
  });

  it('float32 is the packed file as it is', () => {
    expect(encodeWasmWeights(artifact, 'float32')).toBe(artifact.weights);
    expect(isEncodedWeights(artifact.weights)).toBe(false);
  });

  it.each([
    ['float16', 1e-2, 0.51],
    ['int8', 5e-2, 0.27],
  ] as const)(
    '%s: the float32 depth within %f, the file at most %f of the size',
    async (dtype, limit, ratio) => {
      const encoded = encodeWasmWeights(artifact, dtype);
      expect(isEncodedWeights(encoded)).toBe(true);
      expect(encoded.byteLength / artifact.weights.byteLength).toBeLessThan(ratio);
      const decoded = decodeWasmWeights(encoded, artifact.weights.byteLength, 'test');
      // Biases, tables and padding come back bit for bit; only conv weights were rounded.
      const a = new Float32Array(artifact.weights.buffer);
      const b = new Float32Array(decoded.buffer);
      const changed = a.reduce((n, v, i) => n + (Object.is(v, b[i]) ? 0 : 1), 0);
      expect(changed).toBeGreaterThan(0);
      for (const t of [1, 2]) {
        const got = await depth(encoded, t);
        const err = maxRelativeError(got, expected);
        expect(err).toBeLessThan(limit);
      }
    },
    120_000,
  );

  it('int8 of weights that were not int8 already (seeded): within the limits of the tfjs target', async () => {
    const seeded = emitWasm(seededModel(buildArch('fastdepth-pruned', { inputSize: 224 }), 5), {
      arch: 'seeded',
    });
    const run = async (weights: Uint8Array): Promise<Float32Array> => {
      const estimator = await createDepthEstimator({
        model: { engine: 'wasm', model: { manifest: seeded.manifest, modules: seeded.modules, weights } },
      });
      try {
        return (await estimator.estimateRgb({ data: input, width: 224, height: 224 })).depth;
      } finally {
        await estimator.dispose();
      }
    };
    const exact = await run(seeded.weights);
    for (const [dtype, limit] of [
      ['float16', 1e-2],
      ['int8', 1e-1],
    ] as const) {
      const err = maxRelativeError(await run(encodeWasmWeights(seeded, dtype)), exact);
      expect(err).toBeGreaterThan(0);
      expect(err).toBeLessThan(limit);
    }
  }, 240_000);

  it('a damaged file is a BAD_MODEL error naming it, never a wrong read', () => {
    const encoded = encodeWasmWeights(artifact, 'int8');
    const n = artifact.weights.byteLength;
    const thrown = (f: () => unknown): { code?: string; message: string } => {
      try {
        f();
      } catch (error) {
        return error as { code?: string; message: string };
      }
      throw new Error('did not throw');
    };
    const truncated = thrown(() =>
      decodeWasmWeights(encoded.subarray(0, encoded.byteLength - 1000), n, 'w.bin'),
    );
    expect(truncated.code).toBe('BAD_MODEL');
    expect(truncated.message).toMatch(/^w\.bin: piece \d+ .*outside/);
    const other = thrown(() => decodeWasmWeights(encoded, n + 4, 'w.bin'));
    expect(other.code).toBe('BAD_MODEL');
    expect(other.message).toMatch(/decodes to \d+ bytes/);
    const bad = encoded.slice();
    bad[4] = 9;
    expect(() => decodeWasmWeights(bad, n, 'w.bin')).toThrow(/version 9/);
  });
});
