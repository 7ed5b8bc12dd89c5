// Development aid: per stage, each thread's time for its share when 2 worker_threads run the
// stages one by one with a spin barrier in JS between them (where the imbalance goes):
//   node --conditions=@fastdepth/source --import tsx src/testing/stage-split-timing.ts [arch]
import { Worker } from 'node:worker_threads';
import { buildArch } from '@fastdepth/fastdepth-arch';
import { emitWasm } from '../emit.js';
import { createWasmMemory, loadWasmModel } from './load.js';
import { randomInput, seededWeights } from './harness.js';
const arch = process.argv[2] ?? 'fastdepth-pruned';
const graph = buildArch(arch, { inputSize: 224 });
const art = emitWasm({ graph, weights: seededWeights(graph, 1) });
const memory = createWasmMemory(art.manifest, true);
const host = await loadWasmModel(art.manifest, art.modules['simd-threads'], art.weights, { memory });
host.writeInput(randomInput([1, 3, 224, 224], 1));
const module = await WebAssembly.compile(art.modules['simd-threads']);
const stages = art.manifest.stages.map((s) => s.rows);
const src = `
  const { workerData, parentPort } = require('node:worker_threads');
  const { module, memory, thread, threads, stages } = workerData;
  const ex = new WebAssembly.Instance(module, { env: { memory } }).exports;
  const go = new Int32Array(workerData.go);
  let n = 0;
  const bar = () => { n++; Atomics.add(go, 0, 1); while (Atomics.load(go, 0) < threads * n) {} };
  const R = 40;
  const times = stages.map(() => []);
  for (let r = 0; r < R; r++) {
    bar();
    stages.forEach((rows, i) => {
      const tt = workerData.swap ? threads - 1 - thread : thread; const a = Math.floor(rows * tt / threads), b = Math.floor(rows * (tt + 1) / threads);
      const t = performance.now();
      ex.run_stage(i, a, b, thread);
      times[i].push(performance.now() - t);
      bar();
    });
  }
  parentPort.postMessage(times.map((t) => t.slice(10).sort((x, y) => x - y)[15]));
`;
for (const threads of [1, 2]) {
  const go = new SharedArrayBuffer(8);
  const ws = Array.from(
    { length: threads },
    (_, thread) =>
      new Worker(src, {
        eval: true,
        workerData: { module, memory, thread, threads, stages, go, swap: process.env.SWAP === '1' },
      }),
  );
  const meds = (await Promise.all(ws.map((w) => new Promise((r) => w.once('message', r))))) as number[][];
  let sum = 0,
    sumMax = 0;
  art.manifest.stages.forEach((s, i) => {
    const ts = meds.map((m) => m[i]!);
    sum += ts[0]!;
    sumMax += Math.max(...ts);
    console.log(
      threads,
      s.name.padEnd(16),
      s.kind.padEnd(5),
      String(s.rows).padStart(4),
      ts.map((t) => t.toFixed(3)).join(' '),
    );
  });
  console.log(threads, 'sum thread0', sum.toFixed(2), 'sum of max', sumMax.toFixed(2));
  await Promise.all(ws.map((w) => w.terminate()));
}
