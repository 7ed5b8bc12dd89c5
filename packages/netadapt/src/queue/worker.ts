/**
 * A queue worker: takes proposal jobs from BullMQ, rebuilds the iteration's recovery step from
 * content-addressed data (cached across jobs: one step per base model), runs `evaluateProposal`
 * -- the function the in-process loop runs -- and returns the score and kept channels.
 */
import { hostname } from 'node:os';
import { UnrecoverableError, Worker, type Job, type JobJson } from 'bullmq';
import { FastDepthError, isUserError, type Model } from '@fastdepth/graph-dsl';
import { evaluateProposal, type FineTune } from '../proposal.js';
import { recoveryFromPortable, type Recovery, type RecoveryStep } from '../recovery.js';
import { l1Trainer, type Trainer } from '../train.js';
import { unitById } from '../units.js';
import {
  bullConnection,
  checkReachable,
  openRedis,
  parseQueueUrl,
  type QueueLocation,
} from './connection.js';
import {
  checkJobData,
  checkJobVersion,
  JOB_FORMAT,
  type ProposalJobData,
  type ProposalJobResult,
} from './jobs.js';
import { BlobReader, Recent, redisBlobs, sha256 } from './store.js';

export const DEFAULT_QUEUE_NAME = 'fastdepth-netadapt';
/** Long enough for a fastdepth proposal's longest stretch without yielding to the event loop. */
export const DEFAULT_LOCK_SECONDS = 120;

export type ProposalHandler = (data: ProposalJobData, worker: string) => Promise<ProposalJobResult>;

/** The real proposal: data from Redis, then the loop's own `evaluateProposal`. */
export function proposalHandler(reader: BlobReader): ProposalHandler {
  const recoveries = new Recent<Promise<Recovery>>(2);
  const steps = new Recent<Promise<{ base: Model; step: RecoveryStep }>>(2);
  const trainers = new Recent<Trainer>(2);
  return async (data, worker) => {
    const started = performance.now();
    const r = data.recovery;
    const recoveryKey = JSON.stringify(r);
    const recovery = recoveries.get(recoveryKey, async () => {
      if (r.kind === 'data-free') return recoveryFromPortable({ kind: 'data-free' });
      if (r.kind !== 'reconstruction')
        throw new FastDepthError(`unknown recovery "${String((r as { kind: unknown }).kind)}"`);
      return recoveryFromPortable({
        ...r,
        reference: await reader.model(r.reference, 'reference network'),
        calibration: await reader.imageList(r.calibration, 'calibration images'),
        scoring: await reader.imageList(r.scoring, 'scoring images'),
      });
    });
    // A failed load is not cached, and is never left unhandled: a job whose base network fails
    // first does not await it, and an unawaited rejection would end the whole process.
    recovery.catch(() => recoveries.delete(recoveryKey));
    const stepKey = `${recoveryKey}/${data.base.graph}/${data.base.weights}/${sha256(new TextEncoder().encode(JSON.stringify(data.origins)))}`;
    const prepared = steps.get(stepKey, async () => {
      const base = await reader.model(data.base, `iteration ${data.iteration} base network`);
      return { base, step: await (await recovery).begin(base, new Map(data.origins)) };
    });
    // A failed preparation is not cached: the next job tries again.
    const { base, step } = await prepared.catch((e: unknown) => {
      steps.delete(stepKey);
      throw e;
    });
    const unit = unitById(base.graph, data.unitId);
    if (!(Number.isInteger(data.width) && data.width >= 1 && data.width < unit.channels))
      throw new FastDepthError(
        `unit ${data.unitId} has ${unit.channels} channels; cannot propose width ${data.width}`,
      );
    const ft = data.fineTune;
    let fineTune: FineTune = (model) => Promise.resolve(model);
    if (ft && ft.steps > 0) {
      const samples = await reader.sampleList(ft.samples, 'fine-tuning samples');
      const trainer = trainers.get(JSON.stringify(ft), () =>
        l1Trainer({
          kind: 'l1',
          samples,
          batchSize: ft.batchSize,
          learningRate: ft.learningRate,
          seed: ft.seed,
          backend: ft.backend,
        }),
      );
      fineTune = (model, steps, seed) => trainer.train(model, steps, seed);
    }
    const { candidate, score } = await evaluateProposal(
      step,
      unit,
      data.width,
      fineTune,
      ft?.steps ?? 0,
      data.seed,
    );
    return {
      format: JOB_FORMAT,
      version: data.version,
      runId: data.runId,
      iteration: data.iteration,
      unitId: data.unitId,
      width: data.width,
      score: {
        accuracy: score.accuracy,
        ...(score.delta1 !== undefined ? { delta1: score.delta1 } : {}),
        ...(score.absRel !== undefined ? { absRel: score.absRel } : {}),
      },
      keep: [...candidate.keep],
      ...(candidate.refitError !== undefined ? { refitError: candidate.refitError } : {}),
      worker,
      ms: performance.now() - started,
    };
  };
}

/** The fields that name a proposal in log lines. */
export interface JobLabel {
  readonly iteration: number;
  readonly unitId: string;
  readonly width: number;
}

/** The label of a job's data if its naming fields are well-formed. */
function labelOf(raw: unknown): JobLabel | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const { iteration, unitId, width } = raw as Record<string, unknown>;
  return Number.isSafeInteger(iteration) &&
    typeof unitId === 'string' &&
    /^[^\s]{1,256}$/.test(unitId) &&
    Number.isSafeInteger(width)
    ? { iteration: iteration as number, unitId, width: width as number }
    : undefined;
}

export interface QueueWorkerEvents {
  start?(info: { jobId: string; data: ProposalJobData; attempt: number }): void;
  done?(info: { jobId: string; data: ProposalJobData; result: ProposalJobResult }): void;
  /** `job`: what the job says it is, where those fields are well-formed (even if the rest is not). */
  failed?(info: { jobId: string; job?: JobLabel; message: string; final: boolean }): void;
  /** Connection trouble after the start (Redis restarting, network); the worker keeps retrying. */
  error?(message: string): void;
}

export interface QueueWorkerOptions {
  readonly queue: string | QueueLocation;
  readonly queueName?: string;
  /** Jobs run at once in this process (default 1: a proposal already uses every core). */
  readonly concurrency?: number;
  /** Shown to the coordinator (default host:pid). */
  readonly name?: string;
  /**
   * How long a job's lock lasts without renewal. A worker renews it every half of this while
   * alive; a killed worker's job is handed to another after about this long plus half of it.
   */
  readonly lockSeconds?: number;
  /** Replaces the proposal (benchmarks, tests of the queue itself). */
  readonly handler?: ProposalHandler;
  readonly events?: QueueWorkerEvents;
}

/** Where `ProposalWorker` puts the reason a job's data could not even be read. */
const UNREADABLE = '__fastdepthUnreadable';

/**
 * BullMQ's Worker, but a job whose data is not JSON becomes a job that fails with that reason:
 * BullMQ would throw while building the job, before any processor runs, and the job would stay
 * active with nobody working on it.
 */
class ProposalWorker extends Worker {
  protected override createJob(data: JobJson, jobId: string): Job {
    try {
      return super.createJob(data, jobId);
    } catch (e) {
      const why = `its data is not JSON (${(e as Error).message})`;
      return super.createJob({ ...data, data: JSON.stringify({ [UNREADABLE]: why }) }, jobId);
    }
  }
}

/** The job's data once it passes every check (undefined: refused, `why` says why). */
function validJob(job: Job, worker: string): { data?: ProposalJobData; why?: string } {
  const raw: unknown = job.data;
  if (typeof raw === 'object' && raw !== null && UNREADABLE in raw)
    return { why: `job ${job.id ?? '?'}: ${String((raw as Record<string, unknown>)[UNREADABLE])}` };
  try {
    checkJobVersion(raw, worker);
    return { data: checkJobData(raw, job.id ?? '?') };
  } catch (e) {
    return { why: (e as Error).message };
  }
}

/** One line, whatever the error carried (JSON parser excerpts, stack-like text). */
const oneLine = (message: string): string => message.replace(/\s*[\r\n]+\s*/g, ' ').trim();

export interface QueueWorker {
  readonly name: string;
  readonly location: QueueLocation;
  /** Finishes running jobs, then disconnects. */
  close(): Promise<void>;
}

/** Starts a worker (Redis checked first: unreachable is one clear error). */
export async function startQueueWorker(options: QueueWorkerOptions): Promise<QueueWorker> {
  const location = typeof options.queue === 'string' ? parseQueueUrl(options.queue) : options.queue;
  const concurrency = options.concurrency ?? 1;
  const lockSeconds = options.lockSeconds ?? DEFAULT_LOCK_SECONDS;
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new FastDepthError(`concurrency must be a whole number >= 1, found ${concurrency}`);
  if (!(lockSeconds >= 1))
    throw new FastDepthError(`lock duration must be at least 1 s, found ${lockSeconds}`);
  await checkReachable(location);
  const name = options.name ?? `${hostname()}:${process.pid}`;
  const redis = openRedis(location);
  const handler = options.handler ?? proposalHandler(new BlobReader(redisBlobs(redis)));
  const ev = options.events ?? {};
  const worker = new ProposalWorker(
    options.queueName ?? DEFAULT_QUEUE_NAME,
    async (job: Job) => {
      // Every field checked before anything is read: a bad job fails alone, the worker goes on.
      const { data, why } = validJob(job, name);
      // Not retried: every attempt would be refused the same way.
      if (!data) throw new UnrecoverableError(oneLine(why ?? 'bad job'));
      ev.start?.({ jobId: job.id!, data, attempt: job.attemptsMade + 1 });
      // The coordinator shows who runs what from this.
      await job.updateProgress({ worker: name });
      try {
        const result = await handler(data, name);
        ev.done?.({ jobId: job.id!, data, result });
        return result;
      } catch (e) {
        // Bad or expired data fails the same way everywhere: no retry.
        if (isUserError(e)) throw new UnrecoverableError((e as Error).message);
        throw e;
      }
    },
    {
      connection: bullConnection(location),
      name,
      concurrency,
      lockDuration: lockSeconds * 1000,
      stalledInterval: Math.max(500, (lockSeconds * 1000) / 2),
      // A job whose worker died twice is retried once more, then fails with a message.
      maxStalledCount: 2,
    },
  );
  worker.on('failed', (job, err) => {
    const final = job
      ? job.attemptsMade >= (job.opts.attempts ?? 1) || err.name === 'UnrecoverableError'
      : true;
    const label = labelOf(job?.data);
    ev.failed?.({
      jobId: job?.id ?? '?',
      ...(label ? { job: label } : {}),
      message: oneLine(err.message),
      final,
    });
  });
  worker.on('error', (e) => ev.error?.(oneLine(e.message)));
  await worker.waitUntilReady();
  return {
    name,
    location,
    async close() {
      await worker.close();
      await redis.quit().catch(() => undefined);
    },
  };
}
