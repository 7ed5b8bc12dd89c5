/**
 * A queue worker process for the fault tests: the real proposal, held for `--hold-ms` first
 * (so a test can SIGKILL it mid-job), and optionally stopping after `--jobs N` proposals.
 * Prints "running <job id>" and "done <job id>" lines.
 */
import { parseArgs } from 'node:util';
import {
  BlobReader,
  openRedis,
  parseQueueUrl,
  proposalHandler,
  redisBlobs,
  startQueueWorker,
} from '@fastdepth/netadapt/queue';

const { values } = parseArgs({
  options: {
    queue: { type: 'string' },
    'queue-name': { type: 'string' },
    'hold-ms': { type: 'string', default: '0' },
    jobs: { type: 'string' },
    'lock-seconds': { type: 'string', default: '2' },
    name: { type: 'string', default: 'fixture' },
  },
});
const hold = Number(values['hold-ms']);
const limit = values.jobs === undefined ? Infinity : Number(values.jobs);
const redis = openRedis(parseQueueUrl(values.queue!));
const real = proposalHandler(new BlobReader(redisBlobs(redis)));
let done = 0;
let stopping = false;
const worker = await startQueueWorker({
  queue: values.queue!,
  ...(values['queue-name'] ? { queueName: values['queue-name'] } : {}),
  name: values.name,
  lockSeconds: Number(values['lock-seconds']),
  handler: async (data, name) => {
    await new Promise((r) => setTimeout(r, hold));
    return real(data, name);
  },
  events: {
    start: ({ jobId }) => process.stdout.write(`running ${jobId}\n`),
    done: ({ jobId }) => {
      process.stdout.write(`done ${jobId}\n`);
      if (++done >= limit && !stopping) {
        stopping = true;
        setImmediate(() => {
          void worker.close().then(async () => {
            await redis.quit();
            process.stdout.write('stopped\n');
          });
        });
      }
    },
  },
});
process.stdout.write('ready\n');
