/**
 * A worker process for bench/queue.ts: the real proposal (`--mode real`, what `fastdepth worker`
 * runs), an immediate fake result (`trivial`: the queue's own overhead), or a fixed sleep
 * (`sleep`: the scale test). Prints "ready" once it takes jobs.
 */
import { parseArgs } from 'node:util';
import { JOB_FORMAT, startQueueWorker, type ProposalHandler } from '../src/queue/index.js';

const { values } = parseArgs({
  options: {
    queue: { type: 'string' },
    'queue-name': { type: 'string' },
    mode: { type: 'string', default: 'real' },
    'sleep-ms': { type: 'string', default: '200' },
    name: { type: 'string', default: `bench-${process.pid}` },
  },
});
const sleepMs = Number(values['sleep-ms']);
const fake =
  (wait: number): ProposalHandler =>
  async (data, worker) => {
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    return {
      format: JOB_FORMAT,
      version: data.version,
      runId: data.runId,
      iteration: data.iteration,
      unitId: data.unitId,
      width: data.width,
      score: { accuracy: -data.unitIndex },
      keep: Array.from({ length: data.width }, (_, i) => i),
      worker,
      ms: wait,
    };
  };
const worker = await startQueueWorker({
  queue: values.queue!,
  queueName: values['queue-name']!,
  name: values.name,
  ...(values.mode === 'trivial'
    ? { handler: fake(0) }
    : values.mode === 'sleep'
      ? { handler: fake(sleepMs) }
      : {}),
});
process.stdout.write('ready\n');
const stop = (): void => void worker.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
