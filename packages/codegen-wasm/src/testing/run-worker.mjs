// A worker_threads worker for the threaded-parity test: instantiates the shared-memory module on
// the shared memory it is given and runs its share of every stage (plain JS: workers get no tsx).
import { parentPort, workerData } from 'node:worker_threads';

const { module, memory, thread, threads, runs } = workerData;
const instance = new WebAssembly.Instance(module, { env: { memory } });
const control = new Int32Array(workerData.control);
for (let r = 0; r < runs; r++) {
  // Wait for the host to start run r (control[0] = r + 1), run, then report.
  while (Atomics.load(control, 0) <= r) Atomics.wait(control, 0, r);
  instance.exports.run(thread, threads);
  Atomics.add(control, 1, 1);
  Atomics.notify(control, 1);
}
parentPort.postMessage('done');
