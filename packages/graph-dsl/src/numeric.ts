/**
 * Numeric helpers shared by checks and tests across packages: seeded
 * random inputs and BN statistics, so parity tests exercise every parameter, and a
 * relative-error measure.
 */
import { SeededRandom, type TensorF32, type WeightMap } from './weights.js';
import type { Graph } from './ir.js';
import { paramSpecs } from './graph.js';

/** Replaces BN statistics and affine parameters with seeded random values (var in [0.5, 1.5]). */
export function randomizeBatchNorm(graph: Graph, weights: WeightMap, seed = 1): Map<string, TensorF32> {
  const rng = new SeededRandom(seed);
  const out = new Map(weights);
  for (const spec of paramSpecs(graph)) {
    const draw = {
      gamma: () => 0.5 + rng.uniform(),
      beta: () => rng.uniform() * 0.2 - 0.1,
      mean: () => rng.uniform() * 0.2 - 0.1,
      var: () => 0.5 + rng.uniform(),
    };
    if (spec.role === 'gamma' || spec.role === 'beta' || spec.role === 'mean' || spec.role === 'var') {
      const f = draw[spec.role];
      out.set(spec.name, {
        shape: spec.shape,
        data: Float32Array.from({ length: spec.shape.reduce((a, b) => a * b, 1) }, f),
      });
    }
  }
  return out;
}

/** Seeded uniform values in [lo, hi). */
export function randomTensor(shape: readonly number[], seed = 7, lo = 0, hi = 1): TensorF32 {
  const rng = new SeededRandom(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, data: Float32Array.from({ length: n }, () => lo + (hi - lo) * rng.uniform()) };
}

/** max |a - b| / max |b|: the parity measure used across the project. */
export function maxRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} vs ${expected.length}`);
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i]! - expected[i]!));
    maxRef = Math.max(maxRef, Math.abs(expected[i]!));
  }
  return maxRef === 0 ? maxDiff : maxDiff / maxRef;
}

/**
 * The value of an output that is (nearly) the same everywhere, else undefined. A parity check
 * against such a reference proves nothing: all zeros match any code that outputs zeros.
 * "Nearly": the spread is at most 1e-6 of the largest magnitude (all zeros count).
 */
export function constantValue(data: ArrayLike<number>): number | undefined {
  if (data.length === 0) return undefined;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return hi - lo <= 1e-6 * Math.max(Math.abs(lo), Math.abs(hi)) ? lo : undefined;
}

/** IEEE 754 half precision (as stored in safetensors, ONNX, TFLite float16 tensors) to a number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 0x1f) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}
