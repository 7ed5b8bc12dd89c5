/**
 * The worker_threads worker for the threaded-parity test, as source for `new Worker(src, { eval:
 * true })` (a worker cannot load TypeScript here). It instantiates the shared-memory module on the
 * shared memory it is given and, `runs` times, waits for the host's go (control[0] = run + 1),
 * runs its share of every stage with `run(thread, threads)` and reports (control[1] += 1).
 */
export const RUN_WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { module, memory, thread, threads, runs } = workerData;
const instance = new WebAssembly.Instance(module, { env: { memory } });
const control = new Int32Array(workerData.control);
for (let r = 0; r < runs; r++) {
  while (Atomics.load(control, 0) <= r) Atomics.wait(control, 0, r);
  instance.exports.run(thread, threads);
  Atomics.add(control, 1, 1);
  Atomics.notify(control, 1);
}
parentPort.postMessage('done');
`;
