/**
 * The coordinator's side of the proposal queue: a `ProposalDispatcher` for `runNetAdapt` that
 * stores each iteration's data once by content hash, puts one BullMQ job per proposal and waits
 * for the results (QueueEvents, with a slow poll as a safety net). Jobs are keyed by run,
 * iteration, base model and unit: a resumed coordinator re-adds the same ids and picks up what
 * finished while it was away instead of recomputing it.
 */
import { Queue, QueueEvents, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { FastDepthError } from '@fastdepth/graph-dsl';
import type { DispatchStatus, ProposalDispatcher } from '../proposal.js';
import {
  bullConnection,
  checkReachable,
  openRedis,
  parseQueueUrl,
  type QueueLocation,
} from './connection.js';
import { checkResult, type ProposalJobResult } from './jobs.js';
import { JobBuilder, toProposalResult, type JobOutcome, type SubmittedJob } from './prepare.js';
import { BlobWriter, redisBlobs } from './store.js';
import { DEFAULT_QUEUE_NAME } from './worker.js';

export interface QueueDispatcherOptions {
  readonly queue: string | QueueLocation;
  readonly queueName?: string;
  /** Expiry of stored data and finished jobs (default 24 h; refreshed each iteration). */
  readonly ttlSeconds?: number;
  /** Tries per proposal before the run ends with an error (default 3). */
  readonly attempts?: number;
  /** Safety-net poll of unfinished jobs, in case an event is missed (default 2000 ms). */
  readonly pollMs?: number;
  /**
   * Connection trouble once running (Redis restarting, network): the clients keep retrying and
   * the run waits; this says so (once per distinct message) instead of a silent stall.
   */
  readonly onConnectionError?: (message: string) => void;
}

export type { JobOutcome, SubmittedJob };

export interface QueueDispatcher extends ProposalDispatcher {
  readonly location: QueueLocation;
  readonly queueName: string;
  /**
   * Queues `jobs` (reusing finished ones) and resolves with their results in order. `signal`
   * ends the wait at once (rejecting with `QueueInterrupted`); finished results stay in the
   * queue for a resumed run.
   */
  submit(
    jobs: readonly SubmittedJob[],
    report?: {
      result?(index: number, outcome: JobOutcome): void;
      status?(status: DispatchStatus): void;
    },
    signal?: AbortSignal,
  ): Promise<JobOutcome[]>;
  close(): Promise<void>;
}

type JobState = 'queued' | 'running' | 'done';

/** The wait for an iteration's proposals was interrupted (its `signal`); nothing is lost. */
export class QueueInterrupted extends FastDepthError {
  override readonly name = 'QueueInterrupted';
  constructor() {
    super('interrupted: the proposals finished so far stay in the queue for --resume');
  }
}

/** Connects (Redis checked first) and returns the dispatcher. */
export async function openQueueDispatcher(options: QueueDispatcherOptions): Promise<QueueDispatcher> {
  const location = typeof options.queue === 'string' ? parseQueueUrl(options.queue) : options.queue;
  const ttl = options.ttlSeconds ?? 24 * 3600;
  const attempts = options.attempts ?? 3;
  const pollMs = options.pollMs ?? 2000;
  await checkReachable(location);
  const queueName = options.queueName ?? DEFAULT_QUEUE_NAME;
  const redis: Redis = openRedis(location);
  const queue = new Queue(queueName, { connection: bullConnection(location) });
  const events = new QueueEvents(queueName, { connection: bullConnection(location) });
  let lastError = '';
  const connectionError = (e: Error): void => {
    if (e.message === lastError) return;
    lastError = e.message;
    options.onConnectionError?.(e.message);
  };
  queue.on('error', connectionError);
  events.on('error', connectionError);
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
  const builder = new JobBuilder(new BlobWriter(redisBlobs(redis, ttl)));

  const submit: QueueDispatcher['submit'] = (jobs, report = {}, signal) =>
    new Promise<JobOutcome[]>((resolve, reject) => {
      const index = new Map(jobs.map((j, i) => [j.id, i]));
      const states: JobState[] = jobs.map(() => 'queued');
      // Whether the job is known to be in Redis (added, or found there): one that then reads
      // as unknown was lost with Redis's data, and would never finish.
      const inQueue: boolean[] = jobs.map(() => false);
      const outcomes: (JobOutcome | undefined)[] = jobs.map(() => undefined);
      let settled = false;
      const status = (): void => {
        report.status?.({
          done: states.filter((s) => s === 'done').length,
          running: states.filter((s) => s === 'running').length,
          queued: states.filter((s) => s === 'queued').length,
        });
      };
      const cleanup = (): void => {
        settled = true;
        clearInterval(timer);
        events.off('completed', onCompleted);
        events.off('failed', onFailed);
        events.off('active', onActive);
        events.off('waiting', onWaiting);
        signal?.removeEventListener('abort', onAbort);
      };
      const fail = (e: unknown): void => {
        if (settled) return;
        cleanup();
        // The run ends: proposals nobody started yet would only keep workers busy.
        void Promise.all(
          jobs.map(async (j, i) => {
            if (states[i] === 'queued') await queue.remove(j.id).catch(() => undefined);
          }),
        ).finally(() => reject(e instanceof Error ? e : new Error(String(e))));
      };
      const complete = (i: number, value: unknown, reused: boolean): void => {
        if (settled || states[i] === 'done') return;
        let result: ProposalJobResult;
        try {
          result = checkResult(
            typeof value === 'string' ? (JSON.parse(value) as unknown) : value,
            jobs[i]!.data,
          );
        } catch (e) {
          fail(e);
          return;
        }
        states[i] = 'done';
        outcomes[i] = { result, reused };
        report.result?.(i, outcomes[i]);
        status();
        if (states.every((s) => s === 'done')) {
          cleanup();
          resolve(outcomes as JobOutcome[]);
        }
      };
      const failedFinally = (i: number, job: Job | undefined, reason: string): void => {
        const d = jobs[i]!.data;
        const tries = job?.attemptsMade ?? attempts;
        fail(
          new FastDepthError(
            `proposal for unit ${d.unitId} (iteration ${d.iteration}, width ${d.width}) failed` +
              `${tries > 1 ? ` ${tries} times` : ''}: ${reason}`,
          ),
        );
      };
      /**
       * The job's state from Redis: completed and failed jobs settle it. The state is read
       * before the job: a job read first could complete in between, without its return value.
       */
      const check = async (i: number, reused: boolean): Promise<void> => {
        const state = await queue.getJobState(jobs[i]!.id);
        const job = state === 'completed' || state === 'failed' ? await queue.getJob(jobs[i]!.id) : undefined;
        if (settled) return;
        if (state === 'unknown' && inQueue[i] && states[i] !== 'done') {
          const d = jobs[i]!.data;
          fail(
            new FastDepthError(
              `the queue lost the proposal for unit ${d.unitId} (iteration ${d.iteration}): Redis at ${location.display} ` +
                'no longer has it (restarted without its data, flushed or evicted); start the run again with --resume',
            ),
          );
          return;
        }
        if (state !== 'unknown') inQueue[i] = true;
        if (state === 'completed' && job) complete(i, job.returnvalue, reused);
        else if (state === 'failed' && job) failedFinally(i, job, job.failedReason);
        else if (state === 'active' && states[i] !== 'running') {
          states[i] = 'running';
          status();
        }
      };
      const onCompleted = ({ jobId: id, returnvalue }: { jobId: string; returnvalue: unknown }): void => {
        const i = index.get(id);
        if (i !== undefined) complete(i, returnvalue, false);
      };
      const onFailed = ({ jobId: id }: { jobId: string }): void => {
        const i = index.get(id);
        // Retried failures pass through here too: only the job's final state ends the run.
        if (i !== undefined) void check(i, false).catch(fail);
      };
      const onActive = ({ jobId: id }: { jobId: string }): void => {
        const i = index.get(id);
        if (i !== undefined && states[i] === 'queued') {
          states[i] = 'running';
          status();
        }
      };
      const onWaiting = ({ jobId: id }: { jobId: string }): void => {
        const i = index.get(id);
        // A stalled or retried job is back in the queue.
        if (i !== undefined && states[i] === 'running') {
          states[i] = 'queued';
          status();
        }
      };
      const onAbort = (): void => fail(new QueueInterrupted());
      if (signal?.aborted) {
        fail(new QueueInterrupted());
        return;
      }
      signal?.addEventListener('abort', onAbort);
      events.on('completed', onCompleted);
      events.on('failed', onFailed);
      events.on('active', onActive);
      events.on('waiting', onWaiting);
      const timer = setInterval(() => {
        for (let i = 0; i < jobs.length; i++) if (states[i] !== 'done') void check(i, false).catch(fail);
      }, pollMs);
      void (async () => {
        for (const [i, j] of jobs.entries()) {
          if (settled) return;
          const state = await queue.getJobState(j.id);
          if (state !== 'unknown') inQueue[i] = true;
          if (state === 'completed') {
            await check(i, true);
            continue;
          }
          if (state === 'failed') {
            // A resumed run tries its failed proposals again.
            await (await queue.getJob(j.id))?.retry();
            continue;
          }
          if (state !== 'unknown') continue;
          await queue.add('proposal', j.data, {
            jobId: j.id,
            attempts,
            backoff: { type: 'fixed', delay: 500 },
            removeOnComplete: { age: ttl },
            removeOnFail: { age: ttl },
          });
          inQueue[i] = true;
        }
        status();
        // Jobs that finished before the listeners saw them.
        for (let i = 0; i < jobs.length; i++) if (states[i] !== 'done') await check(i, false);
      })().catch(fail);
    });

  const dispatcher: QueueDispatcher = {
    location,
    queueName,
    description: `queue "${queueName}" on ${location.display}`,
    submit,
    async run(request, report) {
      const jobs = await builder.build(request);
      const outcomes = await submit(
        jobs,
        {
          result: (i, o) => report.result(request.proposals[i]!, toProposalResult(o)),
          status: (s) => report.status(s),
        },
        request.signal,
      );
      return outcomes.map(toProposalResult);
    },
    async close() {
      await events.close().catch(() => undefined);
      await queue.close().catch(() => undefined);
      await redis.quit().catch(() => undefined);
    },
  };
  return dispatcher;
}
