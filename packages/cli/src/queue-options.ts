/**
 * The proposal-queue options of `prune` and `worker`, parsed in one place: `--queue URL`
 * (redis:// or rediss://, credentials in the URL) and `--queue-name`. The queue code (BullMQ,
 * ioredis) is loaded only when a queue is asked for.
 */
import type { QueueLocation } from '@fastdepth/netadapt/queue';
import { UserError } from './errors.js';
import type { Output } from './output.js';

export interface QueueOptions {
  readonly queue?: string;
  readonly queueName?: string;
}

export interface QueueChoice {
  readonly location: QueueLocation;
  readonly name: string;
}

const queueCode = (): Promise<typeof import('@fastdepth/netadapt/queue')> =>
  import('@fastdepth/netadapt/queue');

/** Checks the flags (no connection yet); undefined without `--queue`. */
export async function parseQueueChoice(o: QueueOptions): Promise<QueueChoice | undefined> {
  if (o.queue === undefined) {
    if (o.queueName !== undefined) throw new UserError('--queue-name needs --queue redis://HOST:PORT');
    return undefined;
  }
  const q = await queueCode();
  let location: QueueLocation;
  try {
    location = q.parseQueueUrl(o.queue, '--queue');
  } catch (e) {
    throw new UserError((e as Error).message);
  }
  const name = o.queueName ?? q.DEFAULT_QUEUE_NAME;
  // BullMQ keys are "bull:<name>:..."; a colon would split them.
  if (!/^[A-Za-z0-9_.-]{1,100}$/.test(name))
    throw new UserError(`--queue-name must be letters, digits, '_', '.' or '-', found "${name}"`);
  return { location, name };
}

/** Reaches Redis (connect, authenticate, PING), so a wrong URL fails before any work. */
export async function checkQueueReachable(choice: QueueChoice): Promise<void> {
  const q = await queueCode();
  try {
    await q.checkReachable(choice.location);
  } catch (e) {
    throw new UserError((e as Error).message.replace(/\s*[\r\n]+\s*/g, ' '));
  }
}

/** The coordinator's dispatcher (Redis is reached first: unreachable is one line). */
export async function openDispatcher(choice: QueueChoice, out: Output) {
  const q = await queueCode();
  return q.openQueueDispatcher({
    queue: choice.location,
    queueName: choice.name,
    onConnectionError: (message) =>
      out.note(`queue: Redis at ${choice.location.display}: ${message} (retrying)`),
  });
}
