/**
 * What travels on the proposal queue. A job names its data by content hash (see `store.ts`)
 * and carries only numbers and names inline; its result is the proposal's score and the
 * channels it kept, never weights: the coordinator recomputes the winner itself.
 *
 * Every job and result carries `format` and `version`; a worker refuses a job of another
 * version (the data layout or the proposal's code may differ) with a message naming both.
 */
import { FastDepthError } from '@fastdepth/graph-dsl';
import type { ChannelSelection } from '../recovery.js';
import type { TfBackendName } from '../tf-backend.js';
import type { ModelRef } from './store.js';

export const JOB_FORMAT = 'fastdepth-netadapt-proposal';
/** Bump when a job, its data or the proposal's computation changes incompatibly. */
export const JOB_VERSION = 1;
/** The package version, reported in mismatch messages. */
export const PACKAGE_VERSION = '0.1.0';

/**
 * The format version this process speaks. `FASTDEPTH_QUEUE_FORMAT_VERSION` overrides it: a
 * diagnostic that makes a process behave as another release would (the mismatch tests use it).
 */
export function formatVersion(): number {
  const env = process.env.FASTDEPTH_QUEUE_FORMAT_VERSION;
  return env === undefined || env === '' ? JOB_VERSION : Number(env);
}

export type RecoveryRef =
  | { readonly kind: 'data-free' }
  | {
      readonly kind: 'reconstruction';
      readonly reference: ModelRef;
      readonly calibration: string;
      readonly scoring: string;
      readonly selection: ChannelSelection;
      readonly ridge: number;
      readonly chain: boolean;
      readonly positions?: number;
      readonly seed?: number;
      readonly batch?: number;
    };

export interface FineTuneRef {
  readonly steps: number;
  /** Training pairs (safetensors `rgb.N`, `depth.N`). */
  readonly samples: string;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly seed: number;
  readonly backend: TfBackendName;
}

export interface ProposalJobData {
  readonly format: typeof JOB_FORMAT;
  readonly version: number;
  readonly fastdepth: string;
  readonly runId: string;
  readonly iteration: number;
  readonly unitId: string;
  readonly unitIndex: number;
  readonly width: number;
  /** The resource the cut reaches and the iteration's target (computed by the coordinator). */
  readonly resource: number;
  readonly target: number;
  readonly seed: number;
  readonly base: ModelRef;
  /** Reference channel of every current channel (see `ChannelOrigins`). */
  readonly origins: readonly (readonly [string, readonly number[]])[];
  readonly recovery: RecoveryRef;
  readonly fineTune?: FineTuneRef;
}

export interface ProposalJobResult {
  readonly format: typeof JOB_FORMAT;
  readonly version: number;
  readonly runId: string;
  readonly iteration: number;
  readonly unitId: string;
  readonly width: number;
  readonly score: { readonly accuracy: number; readonly delta1?: number; readonly absRel?: number };
  readonly keep: readonly number[];
  readonly refitError?: number;
  readonly worker: string;
  /** Time the worker spent on it. */
  readonly ms: number;
}

/** Job ids: run, iteration, base model and unit, so a resumed coordinator finds its results. */
export function jobId(runId: string, iteration: number, base: ModelRef, unitId: string): string {
  // BullMQ reserves ':' in ids; unit ids hold '+' between tied layers, kept as is.
  const unit = unitId.replace(/[^A-Za-z0-9_+.-]/g, '_');
  return `${runId}.${iteration}.${base.weights.slice(0, 12)}.${unit}`;
}

/** Refuses a job of another format or version, naming both sides. */
export function checkJobVersion(data: unknown, worker: string): asserts data is ProposalJobData {
  const d = data as Partial<ProposalJobData> | null;
  if (d === null || typeof d !== 'object' || d.format !== JOB_FORMAT)
    throw new FastDepthError(`worker ${worker}: not a NetAdapt proposal job (format ${String(d?.format)})`);
  const mine = formatVersion();
  if (d.version !== mine)
    throw new FastDepthError(
      `worker ${worker} refused the job: it was written in queue format ${String(d.version)} (fastdepth ${String(d.fastdepth)}), ` +
        `this worker reads format ${mine} (fastdepth ${PACKAGE_VERSION}); run the same fastdepth version on the coordinator and every worker`,
    );
}

/** Checks a worker's result before the coordinator trusts it. */
export function checkResult(value: unknown, data: ProposalJobData): ProposalJobResult {
  const r = value as Partial<ProposalJobResult> | null;
  const bad = (why: string): never => {
    throw new FastDepthError(
      `iteration ${data.iteration}, unit ${data.unitId}: the worker's result is not usable (${why})`,
    );
  };
  if (r === null || typeof r !== 'object' || r.format !== JOB_FORMAT) return bad('not a proposal result');
  if (r.version !== data.version) return bad(`format ${String(r.version)}, the job's ${data.version}`);
  if (r.unitId !== data.unitId || r.width !== data.width || r.iteration !== data.iteration)
    return bad('it answers another proposal');
  if (typeof r.score?.accuracy !== 'number' || Number.isNaN(r.score.accuracy)) return bad('no score');
  if (
    !Array.isArray(r.keep) ||
    r.keep.length !== data.width ||
    !r.keep.every((k) => Number.isInteger(k) && k >= 0)
  )
    return bad(`kept channels are not ${data.width} channel indices`);
  return r as ProposalJobResult;
}
