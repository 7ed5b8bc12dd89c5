/**
 * Worker-thread entry of `threadDispatcher`: the queue worker's proposal handler, with blobs
 * sent by the parent instead of read from Redis. One job at a time.
 */
import { parentPort } from 'node:worker_threads';
import { isUserError } from '@fastdepth/graph-dsl';
import { checkJobVersion } from './jobs.js';
import { jobBlobs } from './prepare.js';
import { BlobReader, memoryBlobs } from './store.js';
import type { ThreadReply, ThreadRequest } from './threads.js';
import { proposalHandler } from './worker.js';

const port = parentPort!;
const blobs = memoryBlobs();
const handler = proposalHandler(new BlobReader(blobs));

port.on('message', (m: ThreadRequest) => {
  const handle = async (): Promise<ThreadReply> => {
    try {
      checkJobVersion(m.data, m.worker);
      for (const [hash, bytes] of m.blobs) blobs.map.set(hash, bytes);
      // Raw bytes of earlier iterations are no longer needed (decoded data stays cached).
      const needed = new Set(jobBlobs(m.data));
      for (const hash of [...blobs.map.keys()]) if (!needed.has(hash)) blobs.map.delete(hash);
      return { id: m.id, result: await handler(m.data, m.worker) };
    } catch (e) {
      return { id: m.id, error: (e as Error).message, user: isUserError(e) };
    }
  };
  void handle().then((r) => port.postMessage(r));
});
