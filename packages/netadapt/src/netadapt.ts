/**
 * The NetAdapt loop (Yang et al., ECCV 2018) on DSL graphs. Each iteration lowers the resource
 * target by dR_i = initialReduction * R_0 * decay^i and makes one proposal per prunable unit
 * (the widest width in steps of `step` meeting the target). A `Recovery` decides which
 * channels each proposal keeps and repairs the network after the cut (by default a
 * least-squares refit against the unpruned reference), optionally followed by a short
 * fine-tune, and scores it; the best proposal is kept and written atomically. Once the budget is
 * met, an optional long fine-tune finishes the run. A killed run resumes from its last finished
 * iteration.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
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
import { LatencyTable, onnxRunner, tfjsRunner, wasmEngineRunner } from '@fastdepth/latency';
import { sweepStaleTemps, writeFileAtomicSync, writeFilesAtomicSync } from './temp-files.js';
import { inProcessPool, workerPool, type ProposalPool } from './pool.js';
import {
  evaluateProposal,
  makeProposal,
  type DispatchedProposal,
  type DispatchStatus,
  type ProposalDispatcher,
  type ProposalResult,
} from './proposal.js';
import type { ChannelOrigins } from './reconstruction.js';
import {
  composeOrigins,
  dataFreeRecovery,
  evaluatorRecovery,
  type Candidate,
  type Recovery,
  type RecoveryStep,
  type Score,
} from './recovery.js';
import { checkSafeTuneOptions, safeFineTune, type SafeTuneOptions, type TuneCheck } from './safe-tune.js';
import { pruneUnit, resizeUnitGraph } from './surgery.js';
import type { Evaluator, Trainer } from './train.js';
import { prunableUnits } from './units.js';

/** The runtimes a latency table can be measured on. */
export type LatencyBackend = 'wasm' | 'onnx' | 'wasm-engine';

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
  /**
   * Metric `latency`: the resource is the whole network's time, not the table's sum (default
   * true). The start and every accepted network are timed whole (by the table's protocol, in
   * the same rounds as the start, so the fraction is a ratio measured side by side), and each
   * proposal's table estimate is scaled by whole / estimate of the current network, so the
   * budget asked is the speed-up delivered. False where nothing can be timed (a saved table).
   */
  readonly latencyWhole?: boolean;
  /**
   * How proposals keep channels, are repaired and scored (`reconstructionRecovery`,
   * `dataFreeRecovery`, `evaluatorRecovery`). Default: `evaluatorRecovery(evaluator)` when an
   * evaluator is given, else `dataFreeRecovery()`.
   */
  readonly recovery?: Recovery;
  /** Gradient fine-tuning (short per proposal, long at the end); optional. */
  readonly trainer?: Trainer;
  /** Scores proposals when no `recovery` is given (higher is better). */
  readonly evaluator?: Evaluator;
  /** Short-term fine-tune steps per proposal (default 0: the recovery alone repairs). */
  readonly shortSteps?: number;
  /** Long-term fine-tune steps of the result (default 0). */
  readonly longSteps?: number;
  /**
   * A fine-tune of the result that never ends worse than it started (`safeFineTune`: early
   * stopping on its `heldOut` agreement with the teacher, the best weights kept). Runs once the
   * budget is met, after any long fine-tune; the run's channel origins are passed for you.
   */
  readonly safeTune?: Omit<SafeTuneOptions, 'origins'>;
  /** Where variants, `report.jsonl` and `state.json` go. */
  readonly outDir: string;
  /** Continue from `outDir/state.json` if present. */
  readonly resume?: boolean;
  /** Worker threads for fine-tuning proposals; 0 = in-process. Default min(2, cores). */
  readonly workers?: number;
  /**
   * Runs each iteration's proposals elsewhere (e.g. `queueDispatcher` from
   * `@fastdepth/netadapt/queue`: workers on other machines). The winner is then recomputed here
   * with the same code, so the accepted weights never travel and do not depend on who ran what.
   */
  readonly dispatcher?: ProposalDispatcher;
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
  /**
   * Keep the weights and graph files of only the last N accepted iterations (older ones are
   * deleted once a newer one is committed; `report.jsonl` keeps every row). Default: all.
   */
  readonly keepIterations?: number;
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
  /** Accuracy proxy of the accepted model (higher is better; see the recovery's description). */
  readonly accuracy: number;
  /** Agreement with the reference's depth, where the recovery measures it. */
  readonly delta1?: number;
  readonly absRel?: number;
  /** Mean relative reconstruction error of the refitted consumers of the cut unit. */
  readonly refitError?: number;
  /**
   * Metric `latency`, timed whole: the table's raw estimate of the accepted network (ms), the
   * calibrated prediction it was chosen by, and the two over the whole network's time.
   */
  readonly estimatedMs?: number;
  readonly predictedMs?: number;
  readonly estimateOverWhole?: number;
  readonly predictedOverWhole?: number;
  /** Agreement of the cut alone (no repair): before recovery. */
  readonly cutDelta1?: number;
  readonly cutAbsRel?: number;
  /** Agreement of the proposal as ranked (the cut with its consumers refitted). */
  readonly proposalDelta1?: number;
  readonly proposalAbsRel?: number;
  /** Convs corrected block-wise when the iteration was accepted (block recovery only). */
  readonly blocksCorrected?: number;
  /**
   * The accepted network timed whole (ms), where the run measures each accepted iteration;
   * absent otherwise (the latency protocol fills it).
   */
  readonly measuredMs?: number;
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
  readonly delta1?: number;
  readonly absRel?: number;
  readonly refitError?: number;
  /** The queue worker that computed it (queue runs only). */
  readonly worker?: string;
  /** Found finished in the queue by a resumed coordinator. */
  readonly reused?: boolean;
}

/** Progress callbacks (the CLI draws its bars from these). */
export interface NetAdaptEvents {
  start?(info: {
    metric: Metric;
    initial: number;
    budget: number;
    units: number;
    resumedAt: number;
    recovery: string;
  }): void;
  iterationStart?(info: { iteration: number; resource: number; target: number; proposals: number }): void;
  proposalDone?(row: ProposalRow): void;
  /** Queue runs: how many of the iteration's proposals are done, running and queued. */
  proposalStatus?(info: DispatchStatus & { iteration: number }): void;
  iterationDone?(row: IterationRow): void;
  longFineTuneStart?(info: { steps: number }): void;
  done?(result: NetAdaptResult): void;
}

export interface NetAdaptResult {
  readonly metric: Metric;
  readonly initial: number;
  readonly final: number;
  readonly rows: readonly IterationRow[];
  /** Proxy score of the original model and of the result (after the long fine-tune, if any). */
  readonly initialAccuracy: number;
  readonly finalAccuracy: number;
  readonly finalScore: Score;
  /** What the ranking rested on (the recovery's description). */
  readonly recovery: string;
  readonly model: Model;
  /** True when the budget was met (and the long fine-tune ran). */
  readonly done: boolean;
  /** Metric `latency`: whether the resource is the whole network's measured time. */
  readonly latencyWhole: boolean;
  /** What the safe fine-tune did (held-out agreement at the start and at its best). */
  readonly safeTune?: {
    readonly start: TuneCheck;
    readonly best: TuneCheck;
    readonly stepsRun: number;
    readonly stoppedEarly: boolean;
    readonly improved: boolean;
  };
}

interface State {
  readonly format: 'fastdepth-netadapt-state';
  readonly version: 2;
  readonly metric: Metric;
  readonly budget: number;
  readonly recovery: string;
  readonly initial: number;
  readonly initialAccuracy: number;
  readonly rows: readonly IterationRow[];
  /** Reference channel of every current channel, for layers that lost some (see `ChannelOrigins`). */
  readonly origins: Readonly<Record<string, readonly number[]>>;
  /**
   * Names this run's proposals in a job queue (jobs are keyed by run, iteration, base model and
   * unit), so a resumed coordinator finds the results finished before it was stopped.
   */
  readonly runId?: string;
  /** Metric latency: the resource is the whole network's time (absent in older state files: false). */
  readonly latencyWhole?: boolean;
}

/** Widths per unit whose latency entries are measured in one batch (see the proposal walk). */
const LOOKAHEAD = 4;

/** A fresh id for a run's queued proposals. */
const newRunId = (): string => randomBytes(8).toString('hex');

/** Runs `tasks` with at most `limit` in flight, results in order. */
async function limited<T>(limit: number, tasks: readonly (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array<T>(tasks.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, tasks.length)) }, lane));
  return results;
}

/** Writes a file atomically (temp + rename), so a kill never leaves half a file. */
const writeAtomic = writeFileAtomicSync;

function readModel(outDir: string, graphFile: string, weightsFile: string): Model {
  const graphPath = join(outDir, graphFile);
  const graph = loadGraph(readFileSync(graphPath, 'utf8'), graphPath);
  const weightsPath = join(outDir, weightsFile);
  return { graph, weights: decodeSafetensors(readFileSync(weightsPath), weightsPath).weights };
}

function defaultLatencyTable(backend: LatencyBackend): LatencyTable {
  return new LatencyTable(
    backend === 'onnx'
      ? onnxRunner()
      : backend === 'wasm-engine'
        ? wasmEngineRunner()
        : tfjsRunner({ backend: 'wasm' }),
  );
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
      const t = table ?? defaultLatencyTable(backend);
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
    shortSteps: 0,
    longSteps: 0,
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
  for (const [name, v] of [
    ['shortSteps', o.shortSteps],
    ['longSteps', o.longSteps],
    ['workers', o.workers],
    ['keepIterations', o.keepIterations ?? 1],
  ] as const) {
    if (!Number.isInteger(v) || v < 0)
      throw new FastDepthError(`${name} must be a whole number >= 0, found ${v}`);
  }
  if (o.keepIterations !== undefined && o.keepIterations < 1)
    throw new FastDepthError(
      `keepIterations must be at least 1 (a resume starts from the last), found ${o.keepIterations}`,
    );
  // Bad fine-tune options fail now, not after the whole run.
  if (o.safeTune) checkSafeTuneOptions({ ...o.safeTune });
  if ((o.shortSteps > 0 || o.longSteps > 0) && !o.trainer)
    throw new FastDepthError('shortSteps / longSteps need a trainer');
  const recovery = o.recovery ?? (o.evaluator ? evaluatorRecovery(o.evaluator) : dataFreeRecovery());
  const table =
    o.metric === 'latency' ? (o.latencyTable ?? defaultLatencyTable(o.backend ?? 'wasm')) : undefined;
  const whole = table !== undefined && (o.latencyWhole ?? true);
  // Timed whole, the per-network scale replaces the table's own calibration (a per-layer
  // constant measured on another network, which would make every cut look cheap).
  const estimate = whole ? (g: Graph) => table.sum(g) : resourceOf(o.metric, table, o.backend);
  /** Whole / estimate of the current network (1 until timed; metric latency timed whole only). */
  let scale = 1;
  const resource = async (g: Graph): Promise<number> => scale * (await estimate(g));
  /**
   * The start and `model` timed whole in the same rounds: `model`'s time as a fraction of the
   * start's, the median of their same-round ratios (robust to a busy machine, `compareWhole`).
   */
  const wholeFraction = async (model: Model): Promise<{ fraction: number; ms: number }> => {
    const t = await table!.compareWhole(
      new Map([
        ['start', o.model],
        ['model', model],
      ]),
      'start',
    );
    return { fraction: t.relative.get('model')!.ratio, ms: t.ms.get('model')!.ms };
  };
  mkdirSync(o.outDir, { recursive: true });
  // What a run killed outright (kill -9) left half-written; its state.json never names it.
  sweepStaleTemps(o.outDir);
  const statePath = join(o.outDir, 'state.json');
  const trains = o.trainer && (o.shortSteps > 0 || o.longSteps > 0);
  const pool: ProposalPool | undefined = !trains
    ? undefined
    : o.workers > 0
      ? workerPool(o.workers, o.trainer!)
      : inProcessPool(o.trainer!);
  const fineTune = async (model: Model, steps: number, seed: number): Promise<Model> =>
    pool && steps > 0 ? (await pool.run({ model, steps, seed })).model : model;
  try {
    let current = o.model;
    let state: State;
    if (o.resume && existsSync(statePath)) {
      state = JSON.parse(readFileSync(statePath, 'utf8')) as State;
      if (state.format !== 'fastdepth-netadapt-state' || state.version !== 2)
        throw new FastDepthError(`${statePath}: not a state file of this NetAdapt version`);
      if (state.metric !== o.metric || state.budget !== o.budget) {
        throw new FastDepthError(
          `${statePath}: cannot resume a run of metric ${state.metric} budget ${state.budget} as ${o.metric} ${o.budget}`,
        );
      }
      if (o.metric === 'latency' && (state.latencyWhole ?? false) !== whole)
        throw new FastDepthError(
          `${statePath}: the run measured latency ${state.latencyWhole ? 'on whole networks' : 'by the table alone'}; resume it the same way`,
        );
      if (state.recovery !== recovery.description)
        throw new FastDepthError(
          `${statePath}: the run used a different recovery (${state.recovery}); resume it with the same options`,
        );
      const last = state.rows.at(-1);
      if (last) current = readModel(o.outDir, last.graphFile, last.weightsFile);
      // Older state files have no run id: give them one now, before any job is queued.
      if (state.runId === undefined) {
        state = { ...state, runId: newRunId() };
        writeAtomic(statePath, `${JSON.stringify(state, null, 1)}\n`);
      }
    } else {
      state = {
        format: 'fastdepth-netadapt-state',
        version: 2,
        metric: o.metric,
        budget: o.budget,
        recovery: recovery.description,
        initial: whole ? (await wholeFraction(o.model)).ms : await estimate(o.model.graph),
        initialAccuracy: (await recovery.score(o.model)).accuracy,
        rows: [],
        origins: {},
        runId: newRunId(),
        ...(o.metric === 'latency' ? { latencyWhole: whole } : {}),
      };
      writeAtomic(statePath, `${JSON.stringify(state, null, 1)}\n`);
    }
    let origins: ChannelOrigins = new Map(Object.entries(state.origins));
    const goal = o.budget * state.initial;
    let currentResource: number;
    if (whole) {
      currentResource =
        current === o.model ? state.initial : state.initial * (await wholeFraction(current)).fraction;
      scale = currentResource / (await estimate(current.graph));
    } else currentResource = await resource(current.graph);
    let currentAccuracy = state.rows.at(-1)?.accuracy ?? state.initialAccuracy;
    events.start?.({
      metric: o.metric,
      initial: state.initial,
      budget: o.budget,
      units: prunableUnits(current.graph).length,
      resumedAt: state.rows.length,
      recovery: recovery.description,
    });

    while (currentResource > goal) {
      if (o.maxIterations !== undefined && state.rows.length >= o.maxIterations) break;
      if (o.signal?.aborted) break;
      const iteration = state.rows.length;
      const dR = o.initialReduction * state.initial * o.decay ** iteration;
      const target = Math.max(goal, currentResource - dR);
      // One proposal per unit: the widest multiple of `step` meeting the target.
      const proposals: { width: number; resource: number; index: number }[] = [];
      const units = prunableUnits(current.graph);
      // Every unit steps down one width at a time, in lockstep: the latency entries the next
      // widths of all units need are measured together, interleaved in rounds with the probe.
      const walkers = units.map((unit, index) => ({
        unit,
        index,
        width: Math.ceil(unit.channels / o.step) * o.step - o.step,
        found: false,
      }));
      for (;;) {
        const active = walkers.filter((w) => !w.found && w.width >= o.step);
        if (active.length === 0) break;
        const graphs = active.map((w) => resizeUnitGraph(current.graph, w.unit, w.width));
        if (table) {
          // The next LOOKAHEAD widths of every unit still walking, in one batch: late in the
          // walk only the units cut deepest are left, and one width each would make batches of
          // a point or two, each paying the probe's timings.
          const ahead: Graph[] = [];
          for (const w of active)
            for (let k = 0; k < LOOKAHEAD; k++)
              if (w.width - k * o.step >= o.step)
                ahead.push(resizeUnitGraph(current.graph, w.unit, w.width - k * o.step));
          await table.prefetch(ahead);
        }
        for (const [i, w] of active.entries()) {
          const r = await resource(graphs[i]!);
          if (r <= target) {
            proposals.push({ width: w.width, resource: r, index: w.index });
            w.found = true;
          } else w.width -= o.step;
        }
      }
      proposals.sort((a, b) => a.index - b.index);
      events.iterationStart?.({ iteration, resource: currentResource, target, proposals: proposals.length });
      if (proposals.length === 0) break;
      const seedOf = (index: number): number => o.seed + iteration * 1000 + index;
      // Ranking; on equal ranks the unit earlier in graph order wins (results are compared in
      // unit order whatever order they arrived in).
      const rank = (x: { score: Score; resource: number }): number =>
        o.selection === 'best'
          ? x.score.accuracy
          : -(currentAccuracy - x.score.accuracy) / Math.max(1e-12, currentResource - x.resource);
      const stepPromise = recovery.begin(current, origins);
      let step: RecoveryStep;
      let best: { width: number; resource: number; candidate: Candidate; score: Score };
      if (o.dispatcher) {
        // The coordinator prepares its own step (for the winner and the accept) while workers run.
        stepPromise.catch(() => undefined);
        const sent: DispatchedProposal[] = proposals.map((p) => ({
          ...p,
          unit: units[p.index]!,
          seed: seedOf(p.index),
        }));
        let results: ProposalResult[];
        try {
          results = await o.dispatcher.run(
            {
              runId: state.runId!,
              iteration,
              target,
              current,
              origins,
              recovery,
              ...(o.trainer ? { trainer: o.trainer } : {}),
              shortSteps: o.shortSteps,
              proposals: sent,
              ...(o.signal ? { signal: o.signal } : {}),
            },
            {
              result: (p, r) =>
                events.proposalDone?.({
                  iteration,
                  unit: p.unit.id,
                  width: p.width,
                  resource: p.resource,
                  ...r.score,
                  ...(r.refitError !== undefined ? { refitError: r.refitError } : {}),
                  ...(r.worker !== undefined ? { worker: r.worker } : {}),
                  ...(r.reused ? { reused: true } : {}),
                }),
              status: (s) => events.proposalStatus?.({ iteration, ...s }),
            },
          );
        } catch (e) {
          // Interrupted while waiting for workers: stop now, before this iteration (nothing of
          // it is written); its finished proposals wait in the queue for --resume.
          if (o.signal?.aborted) break;
          throw e;
        }
        const scored = sent.map((p, i) => ({ ...p, result: results[i]!, score: results[i]!.score }));
        const winner = scored.reduce((a, b) => (rank(b) > rank(a) ? b : a));
        step = await stepPromise;
        // Recomputed here with the same function the worker ran: the accepted weights never
        // travel, and a worker on another platform or version that chose other channels is caught.
        const candidate = await makeProposal(
          step,
          winner.unit,
          winner.width,
          fineTune,
          o.shortSteps,
          winner.seed,
        );
        if (candidate.keep.join(',') !== winner.result.keep.join(','))
          throw new FastDepthError(
            `iteration ${iteration}: worker ${winner.result.worker ?? '?'} kept other channels of ${winner.unit.id} than this coordinator computes; ` +
              'run the same fastdepth version on the coordinator and every worker',
          );
        best = { width: winner.width, resource: winner.resource, candidate, score: winner.score };
      } else {
        step = await stepPromise;
        // Fine-tuning runs in parallel workers; recovery and scoring use every core themselves.
        const outcomes = await limited(
          pool && o.shortSteps > 0 ? Math.max(1, o.workers) : 1,
          proposals.map((p) => async () => {
            const unit = units[p.index]!;
            const { candidate, score } = await evaluateProposal(
              step,
              unit,
              p.width,
              fineTune,
              o.shortSteps,
              seedOf(p.index),
            );
            events.proposalDone?.({
              iteration,
              unit: unit.id,
              width: p.width,
              resource: p.resource,
              ...score,
              ...(candidate.refitError !== undefined ? { refitError: candidate.refitError } : {}),
            });
            return { ...p, candidate, score };
          }),
        );
        best = outcomes.reduce((a, b) => (rank(b) > rank(a) ? b : a));
      }
      const unit = best.candidate.unit;
      origins = composeOrigins(origins, unit, best.candidate.keep);
      const accepted = await step.accept(best.candidate, origins);
      // The accepted model may differ from the scored proposal (a chained refit): score it again.
      const score = accepted === best.candidate.model ? best.score : await recovery.score(accepted);
      // The accepted network timed whole: its resource is what it measures, and the scale that
      // turns table estimates into whole-network times is redone on it.
      let measuredResource = best.resource;
      let latencyColumns: Partial<IterationRow> = {};
      if (whole) {
        const raw = await estimate(accepted.graph);
        let timed = await wholeFraction(accepted);
        if (state.initial * timed.fraction <= goal) {
          // The run would end on this timing: a second batch of rounds is averaged in, so one
          // lucky batch on a busy machine does not stop the run short of the budget asked.
          const again = await wholeFraction(accepted);
          timed = { fraction: (timed.fraction + again.fraction) / 2, ms: (timed.ms + again.ms) / 2 };
        }
        measuredResource = state.initial * timed.fraction;
        latencyColumns = {
          measuredMs: timed.ms,
          estimatedMs: raw,
          predictedMs: best.resource,
          estimateOverWhole: raw / timed.ms,
          predictedOverWhole: best.resource / measuredResource,
        };
        scale = measuredResource / raw;
      }
      // Before recovery: the same channels cut with nothing repaired (only where agreement is measured).
      const cut =
        best.score.delta1 !== undefined
          ? await recovery.score(pruneUnit(current, unit.id, best.candidate.keep))
          : undefined;
      const blocks = step.acceptReport?.()?.blocks;
      const stem = `iter-${String(iteration).padStart(3, '0')}`;
      const row: IterationRow = {
        iteration,
        unit: unit.id,
        from: unit.channels,
        to: best.width,
        target,
        resource: measuredResource,
        fraction: measuredResource / state.initial,
        accuracy: score.accuracy,
        ...(score.delta1 !== undefined ? { delta1: score.delta1 } : {}),
        ...(score.absRel !== undefined ? { absRel: score.absRel } : {}),
        ...(best.candidate.refitError !== undefined ? { refitError: best.candidate.refitError } : {}),
        ...latencyColumns,
        ...(cut?.delta1 !== undefined ? { cutDelta1: cut.delta1 } : {}),
        ...(cut?.absRel !== undefined ? { cutAbsRel: cut.absRel } : {}),
        ...(best.score.delta1 !== undefined ? { proposalDelta1: best.score.delta1 } : {}),
        ...(best.score.absRel !== undefined ? { proposalAbsRel: best.score.absRel } : {}),
        ...(blocks ? { blocksCorrected: blocks.length } : {}),
        proposals: proposals.length,
        graphFile: `${stem}.graph.json`,
        weightsFile: `${stem}.safetensors`,
      };
      // One unit, the graph last: a graph file on disk always has its weights beside it.
      writeFilesAtomicSync([
        [join(o.outDir, row.weightsFile), encodeSafetensors(accepted.weights)],
        [join(o.outDir, row.graphFile), saveGraph(accepted.graph)],
      ]);
      state = { ...state, rows: [...state.rows, row], origins: Object.fromEntries(origins) };
      writeAtomic(join(o.outDir, 'report.jsonl'), state.rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
      // state.json last: it is the commit point a resumed run trusts.
      writeAtomic(statePath, `${JSON.stringify(state, null, 1)}\n`);
      if (o.keepIterations !== undefined) {
        for (const old of state.rows.slice(0, Math.max(0, state.rows.length - o.keepIterations))) {
          rmSync(join(o.outDir, old.graphFile), { force: true });
          rmSync(join(o.outDir, old.weightsFile), { force: true });
        }
      }
      current = accepted;
      currentResource = measuredResource;
      currentAccuracy = score.accuracy;
      events.iterationDone?.(row);
    }

    const done = currentResource <= goal;
    let tuned: NetAdaptResult['safeTune'];
    let finalScore: Score = { accuracy: currentAccuracy };
    const last = state.rows.at(-1);
    if (last?.delta1 !== undefined && last.absRel !== undefined)
      finalScore = { accuracy: currentAccuracy, delta1: last.delta1, absRel: last.absRel };
    if (done) {
      if (pool && o.longSteps > 0) {
        events.longFineTuneStart?.({ steps: o.longSteps });
        current = await fineTune(current, o.longSteps, o.seed + 999_999);
        finalScore = await recovery.score(current);
      } else if (!last) {
        finalScore = await recovery.score(current);
      }
      if (o.safeTune) {
        const t = await safeFineTune(current, { ...o.safeTune, origins });
        tuned = {
          start: t.start,
          best: t.best,
          stepsRun: t.stepsRun,
          stoppedEarly: t.stoppedEarly,
          improved: t.improved,
        };
        if (t.improved) {
          current = t.model;
          finalScore = await recovery.score(current);
        }
      }
      writeFilesAtomicSync([
        [join(o.outDir, 'final.safetensors'), encodeSafetensors(current.weights)],
        [join(o.outDir, 'final.graph.json'), saveGraph(current.graph)],
      ]);
    }
    const result: NetAdaptResult = {
      metric: o.metric,
      initial: state.initial,
      final: currentResource,
      rows: state.rows,
      initialAccuracy: state.initialAccuracy,
      finalAccuracy: finalScore.accuracy,
      finalScore,
      recovery: recovery.description,
      model: current,
      done,
      latencyWhole: whole,
      ...(tuned ? { safeTune: tuned } : {}),
    };
    events.done?.(result);
    return result;
  } finally {
    await pool?.close();
  }
}
