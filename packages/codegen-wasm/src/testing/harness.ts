/**
 * Test and benchmark helpers (not part of the library build): seeded models, the reference
 * result, and running an emitted artifact's plain-SIMD module in this process.
 */
import {
  execute,
  initWeights,
  numel,
  SeededRandom,
  type Graph,
  type TensorF32,
  type WeightMap,
} from '@fastdepth/graph-dsl';
import type { WasmArtifact } from '../emit.js';
import type { WasmVariant } from '../manifest.js';
import { createWasmMemory, loadWasmModel, type WasmModelInstance } from './load.js';

/** Random BatchNorm statistics and biases, so a dropped or misfolded one shows. */
export function seededWeights(graph: Graph, seed: number): Map<string, TensorF32> {
  const rng = new SeededRandom(seed + 1);
  const out = new Map(initWeights(graph, seed));
  for (const [name, t] of out) {
    const set = (f: () => number): void => {
      out.set(name, { shape: t.shape, data: Float32Array.from({ length: t.data.length }, f) });
    };
    if (name.endsWith('_bn.weight')) set(() => 0.5 + rng.uniform());
    else if (name.endsWith('_bn.bias') || name.endsWith('.bias')) set(() => 0.2 * rng.normal());
    else if (name.endsWith('running_mean')) set(() => 0.2 * rng.normal());
    else if (name.endsWith('running_var')) set(() => 0.5 + rng.uniform());
  }
  return out;
}

export function randomInput(
  shape: readonly number[],
  seed: number,
  kind: 'image' | 'normal' = 'image',
): Float32Array {
  const rng = new SeededRandom(seed);
  return Float32Array.from({ length: numel(shape) }, () => (kind === 'image' ? rng.uniform() : rng.normal()));
}

/** The float64 reference output of the graph's single output layer. */
export function reference(graph: Graph, weights: WeightMap, input: Float32Array): Float64Array {
  const inNode = graph.nodes.find((n) => n.op === 'input')!;
  const outNode = graph.nodes.find((n) => n.op === 'output')!;
  const shape = inNode.op === 'input' ? inNode.attrs.shape : [0];
  return execute(graph, weights, { [inNode.name]: { shape, data: input } })[outNode.name]!.data;
}

/** Max |a - b| over max |b| (NaN counts as infinite). */
export function relativeError(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
): { rel: number; maxAbs: number } {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != ${expected.length}`);
  let err = 0;
  let maxAbs = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    if (!(d <= err)) err = Number.isNaN(d) ? Infinity : d;
    maxAbs = Math.max(maxAbs, Math.abs(expected[i]!));
  }
  return { rel: maxAbs > 0 ? err / maxAbs : err, maxAbs };
}

export async function instantiate(
  artifact: WasmArtifact,
  variant: WasmVariant = 'simd',
): Promise<WasmModelInstance> {
  const shared = variant.endsWith('-threads');
  const memory = createWasmMemory(artifact.manifest, shared);
  return loadWasmModel(artifact.manifest, artifact.modules[variant], artifact.weights, { memory });
}
