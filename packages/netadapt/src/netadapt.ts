/**
 * The NetAdapt loop (Yang et al., ECCV 2018) on DSL graphs. Each iteration lowers the resource
 * target by dR_i = initialReduction * R_0 * decay^i, makes one proposal per prunable unit (the
 * widest width in steps of `step` meeting the target, filters kept by L2 norm, tied sets
 * aligned), short-term fine-tunes and scores every proposal, keeps the best, and writes it
 * atomically; a long fine-tune finishes the run once the budget is met. A killed run resumes
 * from its last finished iteration.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import {
  analyze,
  decodeSafetensors,
  encodeSafetensors,
  FastDepthError,
  loadGraph,
  saveGraph,
  type Graph,
  type Model,
} from '@fastdepth/graph-dsl';
import { LatencyTable, onnxRunner, tfjsRunner } from './latency.js';
import { inProcessPool, workerPool, type ProposalPool } from './pool.js';
import { resizeUnitGraph, shrinkUnit } from './surgery.js';
import type { Evaluator, Trainer } from './train.js';
import { prunableUnits } from './units.js';

/** The runtimes a latency table can be measured on. */
export type LatencyBackend = 'wasm' | 'onnx';

/** The resource NetAdapt shrinks. */
export type Metric = 'macs' | 'params' | 'latency';

export interface NetAdaptOptions {
  readonly model: Model;
  readonly metric: Metric;
  /** Target as a fraction of the initial resource, e.g. 0.5. */
  readonly budget: number;
  /**
   * Latency runtime (metric `latency`): `wasm` = generated tfjs code on tfjs-backend-wasm,
   * `onnx` = the ONNX export in onnxruntime-node, one thread. Default `wasm`.
   */
  readonly backend?: LatencyBackend;
  /** A ready latency table (overrides `backend`); lets callers share one cache or fake a runtime. */
  readonly latencyTable?: LatencyTable;
  readonly trainer: Trainer;
  readonly evaluator: Evaluator;
  /** Short-term fine-tune steps per proposal (default 10). */
  readonly shortSteps?: number;
  /** Long-term fine-tune steps of the result (default 100). */
  readonly longSteps?: number;
  /** Where variants, `report.jsonl` and `state.json` go. */
  readonly outDir: string;
  /** Continue from `outDir/state.json` if present. */
  readonly resume?: boolean;
  /** Worker threads for proposals; 0 = in-process. Default min(2, cores). */
  readonly workers?: number;
  /** Width granularity (default 8); no unit goes below `step` channels. */
  readonly step?: number;
  /** dR_0 as a fraction of the initial resource (default 0.025). */
  readonly initialReduction?: number;
  /** Per-iteration decay of dR (default 0.96). */
  readonly decay?: number;
  /** `best` accuracy (default) or `ratio`: least accuracy lost per unit of resource saved. */
  readonly selection?: 'best' | 'ratio';
  /** Fine-tuning resolution, recorded in the report (the task's images decide it). */
  readonly resolution?: number;
  /** Stop after this many finished iterations (without the long fine-tune): a planned "kill". */
  readonly maxIterations?: number;
  /** Aborting stops after the current iteration is written. */
  readonly signal?: AbortSignal;
  /** Seed of the fine-tuning batch orders (default 0). */
  readonly seed?: number;
}

/** One accepted iteration (one line of `report.jsonl`). */
export interface IterationRow {
  readonly iteration: number;
  /** The unit shrunk, its old and new width. */
  readonly unit: string;
  readonly from: number;
  readonly to: number;
  readonly target: number;
  readonly resource: number;
  /** resource / initial resource. */
  readonly fraction: number;
  /** Accuracy proxy after the short fine-tune (higher is better). */
  readonly accuracy: number;
  readonly proposals: number;
  readonly graphFile: string;
  readonly weightsFile: string;
}

export interface ProposalRow {
  readonly iteration: number;
  readonly unit: string;
  readonly width: number;
  readonly resource: number;
  readonly accuracy: number;
}

/** Progress callbacks (the CLI draws its bars from these). */
export interface NetAdaptEvents {
  start?(info: { metric: Metric; initial: number; budget: number; units: number; resumedAt: number }): void;
  iterationStart?(info: { iteration: number; resource: number; target: number; proposals: number }): void;
  proposalDone?(row: ProposalRow): void;
  iterationDone?(row: IterationRow): void;
  longFineTuneStart?(info: { steps: number }): void;
  done?(result: NetAdaptResult): void;
}

export interface NetAdaptResult {
  readonly metric: Metric;
  readonly initial: number;
  readonly final: number;
  readonly rows: readonly IterationRow[];
  /** Accuracy of the original model and of the result after the long fine-tune. */
  readonly initialAccuracy: number;
  readonly finalAccuracy: number;
  readonly model: Model;
  /** True when the budget was met (and the long fine-tune ran). */
  readonly done: boolean;
}

interface State {
  readonly format: 'fastdepth-netadapt-state';
  readonly version: 1;
  readonly metric: Metric;
  readonly budget: number;
  readonly initial: number;
  readonly initialAccuracy: number;
  readonly rows: readonly IterationRow[];
}

/** Writes a file atomically (temp + rename), so a kill never leaves half a file. */
function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

function readModel(outDir: string, graphFile: string, weightsFile: string): Model {
  const graphPath = join(outDir, graphFile);
  const graph = loadGraph(readFileSync(graphPath, 'utf8'), graphPath);
  const weightsPath = join(outDir, weightsFile);
  return { graph, weights: decodeSafetensors(readFileSync(weightsPath), weightsPath).weights };
}

/** A resource function for the metric (MACs and params exact from `analyze`). */
export function resourceOf(
  metric: Metric,
  table?: LatencyTable,
  backend: LatencyBackend = 'wasm',
): (graph: Graph) => Promise<number> {
  switch (metric) {
    case 'macs':
      return (g) => Promise.resolve(analyze(g).macs);
    case 'params':
      return (g) => Promise.resolve(analyze(g).params);
    case 'latency': {
      const t =
        table ?? new LatencyTable(backend === 'onnx' ? onnxRunner() : tfjsRunner({ backend: 'wasm' }));
      return (g) => t.estimate(g);
    }
  }
}

/** Runs NetAdapt; see `NetAdaptOptions`. */
export async function runNetAdapt(
  options: NetAdaptOptions,
  events: NetAdaptEvents = {},
): Promise<NetAdaptResult> {
  const o = {
    shortSteps: 10,
    longSteps: 100,
    workers: Math.min(2, cpus().length),
    step: 8,
    initialReduction: 0.025,
    decay: 0.96,
    selection: 'best' as const,
    seed: 0,
    ...options,
  };
  if (!(o.budget > 0 && o.budget < 1))
    throw new FastDepthError(`budget must be in (0, 1), found ${o.budget}`);
  const resource = resourceOf(o.metric, o.latencyTable, o.backend);
  mkdirSync(o.outDir, { recursive: true });
  const statePath = join(o.outDir, 'state.json');
  const pool: ProposalPool =
    o.workers > 0 ? workerPool(o.workers, o.trainer, o.evaluator) : inProcessPool(o.trainer, o.evaluator);
  try {
    let current = o.model;
    let state: State;
    if (o.resume && existsSync(statePath)) {
      state = JSON.parse(readFileSync(statePath, 'utf8')) as State;
      if (
        state.format !== 'fastdepth-netadapt-state' ||
        state.metric !== o.metric ||
        state.budget !== o.budget
      ) {
        throw new FastDepthError(
          `${statePath}: cannot resume a run of metric ${state.metric} budget ${state.budget} as ${o.metric} ${o.budget}`,
        );
      }
      const last = state.rows.at(-1);
      if (last) current = readModel(o.outDir, last.graphFile, last.weightsFile);
    } else {
      state = {
        format: 'fastdepth-netadapt-state',
        version: 1,
        metric: o.metric,
        budget: o.budget,
        initial: await resource(o.model.graph),
        initialAccuracy: await o.evaluator.evaluate(o.model),
        rows: [],
      };
      writeAtomic(statePath, `${JSON.stringify(state, null, 1)}\n`);
    }
    const goal = o.budget * state.initial;
    let currentResource = await resource(current.graph);
    let currentAccuracy = state.rows.at(-1)?.accuracy ?? state.initialAccuracy;
    events.start?.({
      metric: o.metric,
      initial: state.initial,
      budget: o.budget,
      units: prunableUnits(current.graph).length,
      resumedAt: state.rows.length,
    });

    while (currentResource > goal) {
      if (o.maxIterations !== undefined && state.rows.length >= o.maxIterations) break;
      if (o.signal?.aborted) break;
      const iteration = state.rows.length;
      const dR = o.initialReduction * state.initial * o.decay ** iteration;
      const target = Math.max(goal, currentResource - dR);
      // One proposal per unit: the widest multiple of `step` meeting the target.
      const proposals: { unit: string; from: number; width: number; resource: number; index: number }[] = [];
      const units = prunableUnits(current.graph);
      for (const [index, unit] of units.entries()) {
        for (let w = Math.ceil(unit.channels / o.step) * o.step - o.step; w >= o.step; w -= o.step) {
          const r = await resource(resizeUnitGraph(current.graph, unit, w));
          if (r <= target) {
            proposals.push({ unit: unit.id, from: unit.channels, width: w, resource: r, index });
            break;
          }
        }
      }
      events.iterationStart?.({ iteration, resource: currentResource, target, proposals: proposals.length });
      if (proposals.length === 0) break;
      const outcomes = await Promise.all(
        proposals.map(async (p) => {
          const pruned = shrinkUnit(current, p.unit, p.width);
          const out = await pool.run({
            model: pruned,
            steps: o.shortSteps,
            seed: o.seed + iteration * 1000 + p.index,
          });
          events.proposalDone?.({
            iteration,
            unit: p.unit,
            width: p.width,
            resource: p.resource,
            accuracy: out.accuracy,
          });
          return { ...p, ...out };
        }),
      );
      const score = (x: (typeof outcomes)[number]): number =>
        o.selection === 'best'
          ? x.accuracy
          : -(currentAccuracy - x.accuracy) / Math.max(1e-12, currentResource - x.resource);
      const best = outcomes.reduce((a, b) => (score(b) > score(a) ? b : a));
      const stem = `iter-${String(iteration).padStart(3, '0')}`;
      const row: IterationRow = {
        iteration,
        unit: best.unit,
        from: best.from,
        to: best.width,
        target,
        resource: best.resource,
        fraction: best.resource / state.initial,
        accuracy: best.accuracy,
        proposals: proposals.length,
        graphFile: `${stem}.graph.json`,
        weightsFile: `${stem}.safetensors`,
      };
      writeAtomic(join(o.outDir, row.graphFile), saveGraph(best.model.graph));
      writeAtomic(join(o.outDir, row.weightsFile), encodeSafetensors(best.model.weights));
      state = { ...state, rows: [...state.rows, row] };
      writeAtomic(join(o.outDir, 'report.jsonl'), state.rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
      // state.json last: it is the commit point a resumed run trusts.
      writeAtomic(statePath, `${JSON.stringify(state, null, 1)}\n`);
      current = best.model;
      currentResource = best.resource;
      currentAccuracy = best.accuracy;
      events.iterationDone?.(row);
    }

    const done = currentResource <= goal;
    let finalAccuracy = currentAccuracy;
    if (done) {
      events.longFineTuneStart?.({ steps: o.longSteps });
      const tuned = await pool.run({ model: current, steps: o.longSteps, seed: o.seed + 999_999 });
      current = tuned.model;
      finalAccuracy = tuned.accuracy;
      writeAtomic(join(o.outDir, 'final.graph.json'), saveGraph(current.graph));
      writeAtomic(join(o.outDir, 'final.safetensors'), encodeSafetensors(current.weights));
    }
    const result: NetAdaptResult = {
      metric: o.metric,
      initial: state.initial,
      final: currentResource,
      rows: state.rows,
      initialAccuracy: state.initialAccuracy,
      finalAccuracy,
      model: current,
      done,
    };
    events.done?.(result);
    return result;
  } finally {
    await pool.close();
  }
}
