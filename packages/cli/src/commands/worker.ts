/**
 * `fastdepth worker`: runs NetAdapt proposals for `fastdepth prune --queue` coordinators, from
 * any machine that reaches their Redis, and prints each one it runs. Only data arrives (graph
 * JSON, safetensors, images), each checked by the usual loaders; no code is ever received.
 */
import { UserError } from '../errors.js';
import { parseInteger } from '../options.js';
import type { Output } from '../output.js';
import { parseQueueChoice, type QueueOptions } from '../queue-options.js';

export interface WorkerOptions extends QueueOptions {
  readonly queue: string;
  readonly concurrency: string;
  readonly name?: string;
  readonly lockSeconds: string;
}

/** Resolves when Ctrl-C / SIGTERM has let the running proposals finish. */
export async function workerCommand(out: Output, options: WorkerOptions): Promise<void> {
  const concurrency = parseInteger('--concurrency', options.concurrency, 1, 64);
  const lockSeconds = parseInteger('--lock-seconds', options.lockSeconds, 1, 24 * 3600);
  if (options.name !== undefined && !/^[^\s]{1,100}$/.test(options.name))
    throw new UserError(`--name must be 1 to 100 characters without spaces, found "${options.name}"`);
  const choice = (await parseQueueChoice(options))!;
  const { startQueueWorker } = await import('@fastdepth/netadapt/queue');
  const label = (d: { iteration: number; unitId: string; width: number }): string =>
    `iteration ${d.iteration} ${d.unitId} -> ${d.width}`;
  const worker = await startQueueWorker({
    queue: choice.location,
    queueName: choice.name,
    concurrency,
    lockSeconds,
    ...(options.name !== undefined ? { name: options.name } : {}),
    events: {
      start: ({ data, attempt }) =>
        out.line(`${label(data)} (run ${data.runId}${attempt > 1 ? `, try ${attempt}` : ''}): running`),
      done: ({ data, result }) => {
        const s = result.score;
        const agreement =
          s.delta1 !== undefined && s.absRel !== undefined
            ? `delta1 ${s.delta1.toFixed(3)}, AbsRel ${s.absRel.toFixed(3)}`
            : `proxy ${s.accuracy.toFixed(4)}`;
        out.line(`${label(data)}: done in ${(result.ms / 1000).toFixed(2)} s, ${agreement}`);
      },
      failed: ({ jobId, job, message, final }) =>
        out.line(
          `${job ? label(job) : `job ${jobId}`}: failed${final ? '' : ' (will be retried)'}: ${message}`,
        ),
      error: (message) => out.note(`worker: Redis: ${message} (retrying)`),
    },
  });
  out.note(
    `worker ${worker.name} on ${choice.location.display}, queue "${choice.name}", concurrency ${concurrency}, ` +
      `lock ${lockSeconds} s: waiting for proposals (Ctrl-C to stop)`,
  );
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      out.note('worker: stopping after the running proposals');
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await worker.close();
}
