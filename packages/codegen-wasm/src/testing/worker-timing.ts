// Development aid: run() timed inside 1 and 2 worker_threads (no host signalling in the timing):
//   node --conditions=@fastdepth/source --import tsx src/testing/worker-timing.ts [arch]
import { Worker } from 'node:worker_threads';
import { buildArch } from '@fastdepth/fastdepth-arch';
import { emitWasm } from '../emit.js';
import { createWasmMemory, loadWasmModel } from './load.js';
import { randomInput, seededWeights } from './harness.js';
const arch = process.argv[2] ?? 'fastdepth-pruned';
const graph = buildArch(arch, { inputSize: 224 });
const art = emitWasm({ graph, weights: seededWeights(graph, 1) });
for (const threads of [1, 2, 1, 2]) {
  const memory = createWasmMemory(art.manifest, true);
  const host = await loadWasmModel(art.manifest, art.modules['simd-threads'], art.weights, { memory });
  host.writeInput(randomInput([1, 3, 224, 224], 1));
  const module = await WebAssembly.compile(art.modules['simd-threads']);
  const src = `
    const { workerData, parentPort } = require('node:worker_threads');
    const { module, memory, thread, threads } = workerData;
    const run = new WebAssembly.Instance(module, { env: { memory } }).exports.run;
    const go = new Int32Array(workerData.go);
    const times = [];
    for (let r = 0; r < 60; r++) {
      Atomics.add(go, 0, 1);
      while (Atomics.load(go, 0) < threads * (r + 1)) {}
      const t = performance.now();
      run(thread, threads);
      times.push(performance.now() - t);
      Atomics.add(go, 1, 1);
      while (Atomics.load(go, 1) < threads * (r + 1)) {}
    }
    const last = times.slice(20).sort((a, b) => a - b);
    parentPort.postMessage(last[20].toFixed(2));
  `;
  const go = new SharedArrayBuffer(8);
  const ws = Array.from(
    { length: threads },
    (_, thread) => new Worker(src, { eval: true, workerData: { module, memory, thread, threads, go } }),
  );
  const meds = await Promise.all(ws.map((w) => new Promise((r) => w.once('message', r))));
  console.log(arch, threads, 'thread(s): in-worker run() median ms', meds.join(' '));
  await Promise.all(ws.map((w) => w.terminate()));
}
