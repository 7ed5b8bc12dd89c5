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

/** A content hash as `store.ts` names data: 64 lowercase hex digits (sha256). */
const HASH = /^[0-9a-f]{64}$/;
const TF_BACKENDS: readonly TfBackendName[] = ['cpu', 'wasm'];
const SELECTIONS: readonly ChannelSelection[] = ['reconstruction', 'l2'];

/**
 * Checks every field of a proposal job (after `checkJobVersion`) before a worker touches any
 * of it: a job that is not what this version writes fails alone, naming the field, instead of
 * failing deep inside the proposal (or worse, in a promise nobody awaits).
 */
export function checkJobData(data: ProposalJobData, jobId: string): ProposalJobData {
  const bad = (field: string, why: string): never => {
    throw new FastDepthError(`job ${jobId}: "${field}" ${why}`);
  };
  const rec = (v: unknown, field: string): Record<string, unknown> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(field, 'must be an object');
    return v as Record<string, unknown>;
  };
  const str = (o: Record<string, unknown>, key: string, field = key): string => {
    const v = o[key];
    if (typeof v !== 'string' || v.length === 0 || v.length > 256)
      bad(field, 'must be a string of 1 to 256 characters');
    return v as string;
  };
  const int = (o: Record<string, unknown>, key: string, min: number, field = key): number => {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min)
      bad(field, `must be a whole number >= ${min}`);
    return v as number;
  };
  const num = (o: Record<string, unknown>, key: string, field = key): number => {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) bad(field, 'must be a finite number');
    return v as number;
  };
  const hash = (o: Record<string, unknown>, key: string, field: string): void => {
    if (typeof o[key] !== 'string' || !HASH.test(o[key]))
      bad(field, 'must be a sha256 content hash (64 hex digits)');
  };
  const modelRef = (v: unknown, field: string): void => {
    const m = rec(v, field);
    hash(m, 'graph', `${field}.graph`);
    hash(m, 'weights', `${field}.weights`);
  };
  const d = rec(data, 'data');
  for (const key of ['fastdepth', 'runId', 'unitId']) str(d, key);
  for (const key of ['iteration', 'unitIndex', 'seed']) int(d, key, 0);
  int(d, 'width', 1);
  for (const key of ['resource', 'target']) num(d, key);
  modelRef(d.base, 'base');
  if (!Array.isArray(d.origins)) bad('origins', 'must be a list of [layer, channels]');
  for (const [i, entry] of (d.origins as unknown[]).entries()) {
    if (
      !Array.isArray(entry) ||
      entry.length !== 2 ||
      typeof entry[0] !== 'string' ||
      !Array.isArray(entry[1]) ||
      !(entry[1] as unknown[]).every((c) => Number.isSafeInteger(c) && (c as number) >= 0)
    )
      bad(`origins[${i}]`, 'must be [layer name, channel indices]');
  }
  const r = rec(d.recovery, 'recovery');
  if (r.kind === 'reconstruction') {
    modelRef(r.reference, 'recovery.reference');
    hash(r, 'calibration', 'recovery.calibration');
    hash(r, 'scoring', 'recovery.scoring');
    if (!(SELECTIONS as readonly unknown[]).includes(r.selection))
      bad('recovery.selection', `must be one of ${SELECTIONS.join(', ')}`);
    if (num(r, 'ridge', 'recovery.ridge') < 0) bad('recovery.ridge', 'must not be negative');
    if (typeof r.chain !== 'boolean') bad('recovery.chain', 'must be true or false');
    if (r.positions !== undefined) int(r, 'positions', 1, 'recovery.positions');
    if (r.seed !== undefined) int(r, 'seed', 0, 'recovery.seed');
    if (r.batch !== undefined) int(r, 'batch', 1, 'recovery.batch');
  } else if (r.kind !== 'data-free') {
    bad('recovery.kind', `must be data-free or reconstruction, found ${JSON.stringify(r.kind) ?? 'nothing'}`);
  }
  if (d.fineTune !== undefined) {
    const f = rec(d.fineTune, 'fineTune');
    int(f, 'steps', 0, 'fineTune.steps');
    hash(f, 'samples', 'fineTune.samples');
    int(f, 'batchSize', 1, 'fineTune.batchSize');
    if (!(num(f, 'learningRate', 'fineTune.learningRate') > 0))
      bad('fineTune.learningRate', 'must be positive');
    int(f, 'seed', 0, 'fineTune.seed');
    if (!(TF_BACKENDS as readonly unknown[]).includes(f.backend))
      bad('fineTune.backend', `must be one of ${TF_BACKENDS.join(', ')}`);
  }
  return data;
}

/**
 * The range a proposal's score can take under the job's recovery: the data-free proxy is the
 * share of filter energy kept (0 to 1); the reconstruction proxy is minus a relative error
 * (at most 0), with delta1 a share (0 to 1) and AbsRel an error (at least 0).
 */
export function scoreRange(recovery: RecoveryRef): { readonly min: number; readonly max: number } {
  return recovery.kind === 'data-free' ? { min: 0, max: 1 } : { min: -Number.MAX_VALUE, max: 0 };
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
  const score = r.score as Partial<Record<'accuracy' | 'delta1' | 'absRel', unknown>> | undefined;
  if (typeof score?.accuracy !== 'number' || Number.isNaN(score.accuracy)) return bad('no score');
  // A worker's word decides which cut wins: a score the proxy cannot give is refused.
  const { min, max } = scoreRange(data.recovery);
  if (!Number.isFinite(score.accuracy) || score.accuracy < min || score.accuracy > max)
    return bad(
      `score ${score.accuracy} is outside the ${data.recovery.kind} proxy's range ${min === -Number.MAX_VALUE ? '(-inf' : `[${min}`}, ${max}]`,
    );
  const within = (v: unknown, lo: number, hi: number): boolean =>
    v === undefined || (typeof v === 'number' && Number.isFinite(v) && v >= lo && v <= hi);
  if (!within(score.delta1, 0, 1)) return bad(`delta1 ${String(score.delta1)} is not in [0, 1]`);
  if (!within(score.absRel, 0, Number.MAX_VALUE))
    return bad(`AbsRel ${String(score.absRel)} is not a finite error >= 0`);
  if (!within(r.refitError, 0, Number.MAX_VALUE))
    return bad(`refit error ${String(r.refitError)} is not a finite error >= 0`);
  if (
    !Array.isArray(r.keep) ||
    r.keep.length !== data.width ||
    !r.keep.every((k) => Number.isInteger(k) && k >= 0) ||
    new Set(r.keep).size !== r.keep.length
  )
    return bad(`kept channels are not ${data.width} distinct channel indices`);
  return r as ProposalJobResult;
}
