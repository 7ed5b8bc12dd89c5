/**
 * One NetAdapt proposal, the unit of work that travels: cut one unit to a width, repair the
 * network (the recovery's refit), optionally fine-tune it briefly, and score it. The loop runs
 * it in-process; a queue worker (`@fastdepth/netadapt/queue`) runs the same function on a
 * step it rebuilt from data. Everything a proposal's outcome depends on is an argument here,
 * so it is the same wherever it runs.
 */
import type { Model } from '@fastdepth/graph-dsl';
import type { ChannelOrigins } from './reconstruction.js';
import type { Candidate, Recovery, RecoveryStep, Score } from './recovery.js';
import type { Trainer } from './train.js';
import type { PrunableUnit } from './units.js';

/** Fine-tunes a proposal (`steps` = 0 or no trainer: returns it unchanged). */
export type FineTune = (model: Model, steps: number, seed: number) => Promise<Model>;

/** A proposal made and scored. */
export interface EvaluatedProposal {
  readonly candidate: Candidate;
  readonly score: Score;
}

/** Makes the proposal (cut + recovery + optional short fine-tune); `score: false` skips scoring. */
export async function makeProposal(
  step: RecoveryStep,
  unit: PrunableUnit,
  width: number,
  fineTune: FineTune,
  shortSteps: number,
  seed: number,
): Promise<Candidate> {
  const made = await step.propose(unit, width);
  return { ...made, model: await fineTune(made.model, shortSteps, seed) };
}

/** Makes and scores one proposal: what every dispatcher runs per job. */
export async function evaluateProposal(
  step: RecoveryStep,
  unit: PrunableUnit,
  width: number,
  fineTune: FineTune,
  shortSteps: number,
  seed: number,
): Promise<EvaluatedProposal> {
  const candidate = await makeProposal(step, unit, width, fineTune, shortSteps, seed);
  return { candidate, score: await step.score(candidate) };
}

/** A proposal as the loop hands it to a dispatcher. */
export interface DispatchedProposal {
  /** Index of the unit in `prunableUnits(current.graph)` (ties are broken by it). */
  readonly index: number;
  readonly unit: PrunableUnit;
  readonly width: number;
  /** The resource the cut reaches (computed by the coordinator from its own table). */
  readonly resource: number;
  readonly seed: number;
}

/** What a dispatcher returns per proposal: enough to rank and to check the local recompute. */
export interface ProposalResult {
  readonly unit: string;
  readonly width: number;
  readonly score: Score;
  readonly keep: readonly number[];
  readonly refitError?: number;
  /** Who computed it (a queue worker's name); undefined in-process. */
  readonly worker?: string;
  /** True when the result was found finished in the queue (a resumed coordinator). */
  readonly reused?: boolean;
}

/** Counts of an iteration's proposals, for progress bars. */
export interface DispatchStatus {
  readonly done: number;
  readonly running: number;
  readonly queued: number;
}

/** One iteration's proposals for a dispatcher. */
export interface DispatchRequest {
  /** Stable across `--resume` (kept in state.json): results are keyed by run, iteration and unit. */
  readonly runId: string;
  readonly iteration: number;
  readonly target: number;
  readonly current: Model;
  readonly origins: ChannelOrigins;
  readonly recovery: Recovery;
  readonly trainer?: Trainer;
  readonly shortSteps: number;
  readonly proposals: readonly DispatchedProposal[];
  /** Ends the wait for the results at once (the run's own signal: Ctrl-C). */
  readonly signal?: AbortSignal;
}

/** Sends proposals elsewhere (a job queue) and returns their results in proposal order. */
export interface ProposalDispatcher {
  /** One line for progress output, e.g. "queue fastdepth-netadapt on redis://host:6379". */
  readonly description: string;
  run(
    request: DispatchRequest,
    report: {
      result(proposal: DispatchedProposal, result: ProposalResult): void;
      status(status: DispatchStatus): void;
    },
  ): Promise<ProposalResult[]>;
}
