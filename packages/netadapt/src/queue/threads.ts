/**
 * Proposals in worker threads of this process, as jobs: the same jobs, data and handler as the
 * Redis queue (`JobBuilder`, `proposalHandler`), with blobs passed to the threads instead of
 * stored in Redis. For one machine with cores the onnxruntime calls of one proposal leave idle.
 */
import type { Worker } from 'node:worker_threads';
import { FastDepthError } from '@fastdepth/graph-dsl';
import { startThread } from '../pool.js';
import type { DispatchStatus, ProposalDispatcher } from '../proposal.js';
import { checkResult, type ProposalJobData, type ProposalJobResult } from './jobs.js';
import { jobBlobs, JobBuilder, toProposalResult, type JobOutcome } from './prepare.js';
import { BlobWriter, memoryBlobs } from './store.js';

/** Messages between `threadDispatcher` and `thread.ts`. */
export interface ThreadRequest {
  readonly id: number;
  readonly worker: string;
  readonly data: ProposalJobData;
  /** Blobs the thread has not received yet. */
  readonly blobs: readonly (readonly [string, Uint8Array])[];
}
export type ThreadReply =
  | { readonly id: number; readonly result: ProposalJobResult }
  | { readonly id: number; readonly error: string; readonly user: boolean };

export interface ThreadDispatcher extends ProposalDispatcher {
  close(): Promise<void>;
}

/** `size` worker threads running proposals (started on first use). */
export function threadDispatcher(size: number): ThreadDispatcher {
  if (!Number.isInteger(size) || size < 1)
    throw new FastDepthError(`threads must be a whole number >= 1, found ${size}`);
  const store = memoryBlobs();
  const builder = new JobBuilder(new BlobWriter(store));
  const threads: { worker: Worker; name: string; known: Set<string> }[] = [];
  let nextId = 0;
  const ask = (t: (typeof threads)[number], data: ProposalJobData): Promise<ThreadReply> => {
    const needed = jobBlobs(data);
    const request: ThreadRequest = {
      id: nextId++,
      worker: t.name,
      data,
      blobs: needed.filter((h) => !t.known.has(h)).map((h) => [h, store.map.get(h)!] as const),
    };
    t.known = new Set(needed);
    return new Promise<ThreadReply>((resolve, reject) => {
      const onMessage = (m: ThreadReply): void => {
        if (m.id !== request.id) return;
        t.worker.off('message', onMessage);
        t.worker.off('error', reject);
        resolve(m);
      };
      t.worker.on('message', onMessage);
      t.worker.once('error', reject);
      t.worker.postMessage(request);
    });
  };
  return {
    description: `${size} worker thread${size > 1 ? 's' : ''}`,
    async run(request, report) {
      const jobs = await builder.build(request);
      while (threads.length < size) {
        const name = `thread-${threads.length}`;
        threads.push({ worker: startThread('queue/thread', {}), name, known: new Set() });
      }
      const outcomes: JobOutcome[] = new Array<JobOutcome>(jobs.length);
      const counts = { done: 0, running: 0, queued: jobs.length };
      const status = (): void => report.status({ ...counts } satisfies DispatchStatus);
      let next = 0;
      const lane = async (t: (typeof threads)[number]): Promise<void> => {
        while (next < jobs.length) {
          const i = next++;
          const data = jobs[i]!.data;
          counts.queued--;
          counts.running++;
          status();
          const reply = await ask(t, data);
          if ('error' in reply) {
            const message = `proposal for unit ${data.unitId} (iteration ${data.iteration}, width ${data.width}) failed: ${reply.error}`;
            throw reply.user ? new FastDepthError(message) : new Error(message);
          }
          outcomes[i] = { result: checkResult(reply.result, data), reused: false };
          counts.running--;
          counts.done++;
          report.result(request.proposals[i]!, toProposalResult(outcomes[i]));
          status();
        }
      };
      await Promise.all(threads.slice(0, Math.min(size, jobs.length)).map(lane));
      return outcomes.map(toProposalResult);
    },
    async close() {
      await Promise.all(threads.splice(0).map((t) => t.worker.terminate()));
    },
  };
}
