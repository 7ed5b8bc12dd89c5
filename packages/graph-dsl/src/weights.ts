/**
 * Weights: named float32 tensors in canonical PyTorch layouts (conv OIHW, conv-transpose
 * IOHW, BN vectors), named `${layer}.${suffix}` like a PyTorch state dict.
 */
import { WeightsError } from './errors.js';
import { paramSpecs } from './graph.js';
import type { Graph } from './ir.js';
import { fmt } from './ops.js';

/** A float32 tensor: its shape and its values, row-major (weights are OIHW, activations NCHW). */
export interface TensorF32 {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** A network's weights by tensor name (`conv0.weight`, `conv0_bn.running_var`, ...). */
export type WeightMap = ReadonlyMap<string, TensorF32>;

/** A graph together with its weights: what passes transform and emitters compile. */
export interface Model {
  readonly graph: Graph;
  readonly weights: WeightMap;
}

/** Number of elements of a tensor of `shape` (1 for `[]`). */
export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Deterministic PRNG (mulberry32) with Box-Muller normals: same seed, same weights, everywhere. */
export class SeededRandom {
  private state: number;
  private spare: number | undefined;

  /** @param seed any number; its low 32 bits select the sequence. */
  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Standard normal (mean 0, variance 1), two per pair of uniforms (Box-Muller). */
  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

/**
 * Seeded initialisation like the authors' `weights_init`: conv weights He-normal with
 * std sqrt(2 / (k*k*out)) (conv-transpose: k*k*in), biases 0, BN gamma 1, beta 0, running
 * mean 0 and variance 1.
 */
export function initWeights(graph: Graph, seed = 0): Map<string, TensorF32> {
  const rng = new SeededRandom(seed);
  const weights = new Map<string, TensorF32>();
  for (const spec of paramSpecs(graph)) {
    const data = new Float32Array(numel(spec.shape));
    if (spec.init.kind === 'heNormal') {
      const std = Math.sqrt(2 / spec.init.fanOut);
      for (let i = 0; i < data.length; i++) data[i] = rng.normal() * std;
    } else {
      data.fill(spec.init.value);
    }
    weights.set(spec.name, { shape: spec.shape, data });
  }
  return weights;
}

/**
 * Checks that `weights` fit `graph`: every expected tensor present with the right shape and
 * finite values, nothing unexpected. Throws `WeightsError` naming the first bad tensor.
 */
export function checkWeights(graph: Graph, weights: WeightMap, file?: string): void {
  const specs = paramSpecs(graph);
  const expected = new Set(specs.map((s) => s.name));
  for (const spec of specs) {
    const t = weights.get(spec.name);
    if (!t) throw new WeightsError(spec.name, `missing (expected shape ${fmt(spec.shape)})`, file);
    if (t.shape.length !== spec.shape.length || t.shape.some((d, i) => d !== spec.shape[i])) {
      throw new WeightsError(
        spec.name,
        `shape ${fmt(t.shape)} does not match the graph's ${fmt(spec.shape)}`,
        file,
      );
    }
    if (t.data.length !== numel(spec.shape)) {
      throw new WeightsError(
        spec.name,
        `holds ${t.data.length} values, shape ${fmt(spec.shape)} needs ${numel(spec.shape)}`,
        file,
      );
    }
    const bad = t.data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0)
      throw new WeightsError(spec.name, `value ${t.data[bad]} at flat index ${bad} is not finite`, file);
  }
  for (const name of weights.keys()) {
    if (!expected.has(name))
      throw new WeightsError(name, `is not a parameter of graph "${graph.name}"`, file);
  }
}
