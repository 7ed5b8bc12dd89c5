/**
 * A deterministic "runtime" for tests and dry runs: latency = f(MACs, memory traffic, ops) of
 * the graph, never a timing. Tests of what consumes a latency table (NetAdapt's budget, the
 * CLI's prune) use it so that no test asserts on wall time; the real runtimes are checked by
 * benchmarks (`packages/netadapt/bench/contention.ts`).
 */
import { analyze, type Model } from '@fastdepth/graph-dsl';
import type { LatencyRunner } from './table.js';

export interface CostModelOptions {
  /** ms per million MACs (default 0.12: tfjs-wasm on one core, roughly). */
  readonly msPerMMac?: number;
  /** ms per MB of activations written (default 0.05). */
  readonly msPerMB?: number;
  /** ms per op (dispatch; default 0.02). */
  readonly msPerOp?: number;
}

/** The cost model's latency of `model` in ms. */
export function costModelMs(model: Model, options: CostModelOptions = {}): number {
  const s = analyze(model.graph);
  const ops = model.graph.nodes.filter((n) => n.op !== 'input' && n.op !== 'output').length;
  const bytes = s.layers.reduce((a, l) => a + l.activationBytes, 0);
  return (
    (s.macs / 1e6) * (options.msPerMMac ?? 0.12) +
    (bytes / 1e6) * (options.msPerMB ?? 0.05) +
    ops * (options.msPerOp ?? 0.02)
  );
}

/** A `LatencyRunner` that computes `costModelMs` (backend key `cost-model`). */
export function costModelRunner(options: CostModelOptions = {}): LatencyRunner {
  return {
    backend: 'cost-model',
    version: 'cost-model 1',
    measure: (model) => Promise.resolve(costModelMs(model, options)),
  };
}
