/** Seeded weights, BN statistics and inputs shared by the parity tests and the benchmark. */
import { numel, SeededRandom, type Graph, type TensorF32, type WeightMap } from '@fastdepth/graph-dsl';

/**
 * Replaces the identity BatchNorm statistics of `initWeights` (gamma 1, beta 0, mean 0, var 1)
 * with random ones, so a test that forgets BN, swaps its inputs or folds it wrongly fails.
 */
export function perturbBatchNorm(graph: Graph, weights: WeightMap, seed: number): Map<string, TensorF32> {
  const rng = new SeededRandom(seed);
  const out = new Map(weights);
  const fill = (name: string, f: () => number): void => {
    const t = weights.get(name);
    if (!t) return;
    out.set(name, { shape: t.shape, data: Float32Array.from({ length: t.data.length }, f) });
  };
  for (const node of graph.nodes) {
    if (node.op !== 'batchNorm') continue;
    fill(`${node.name}.weight`, () => 0.5 + rng.uniform());
    fill(`${node.name}.bias`, () => 0.2 * rng.normal());
    fill(`${node.name}.running_mean`, () => 0.2 * rng.normal());
    fill(`${node.name}.running_var`, () => 0.5 + rng.uniform());
  }
  return out;
}

/** Random biases too (initWeights zeroes them), so a dropped or misplaced bias shows. */
export function perturbBiases(graph: Graph, weights: WeightMap, seed: number): Map<string, TensorF32> {
  const rng = new SeededRandom(seed);
  const out = new Map(weights);
  for (const node of graph.nodes) {
    if (node.op !== 'conv2d' && node.op !== 'convTranspose2d') continue;
    const t = weights.get(`${node.name}.bias`);
    if (t)
      out.set(`${node.name}.bias`, {
        shape: t.shape,
        data: Float32Array.from(t.data, () => 0.5 * rng.normal()),
      });
  }
  return out;
}

/** A float32 tensor of `scale * N(0, 1)` values (or uniform [0, 1) like an RGB image). */
export function randomTensor(
  shape: readonly number[],
  seed: number,
  kind: 'normal' | 'image' = 'normal',
  scale = 1,
): { shape: readonly number[]; data: Float32Array } {
  const rng = new SeededRandom(seed);
  const data = Float32Array.from({ length: numel(shape) }, () =>
    kind === 'image' ? rng.uniform() : scale * rng.normal(),
  );
  return { shape, data };
}

/** Largest |a - b| and largest |b|, to judge float32 results against the float64 reference. */
export function compare(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
): { maxAbsError: number; maxAbs: number } {
  if (actual.length !== expected.length)
    throw new Error(`length ${actual.length} != expected ${expected.length}`);
  let maxAbsError = 0;
  let maxAbs = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const d = Math.abs(actual[i]! - e);
    // NaN must fail, and Math.max would swallow it.
    if (!(d <= maxAbsError)) maxAbsError = Number.isNaN(d) ? Infinity : d;
    maxAbs = Math.max(maxAbs, Math.abs(e));
  }
  return { maxAbsError, maxAbs };
}
