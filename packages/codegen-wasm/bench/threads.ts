/**
 * Thread scaling of the shared-memory module (Node worker_threads): 1 vs 2 threads for the
 * thread schedule of `schedule.ts` (`threadSplit: 'auto'`) beside the old one (`'rows'`: whole
 * rows, a barrier after every stage) and, with `--baseline DIR`, an artifact folder compiled by
 * an earlier version, all in one run: rounds interleaved, the order of the configurations
 * shuffled each round, medians. Two times per inference: the host's (signal, all threads done)
 * and thread 0's own `run` (no wake-up latency). The machine may be shared: read the ratios.
 *
 *   node --conditions=@fastdepth/source --import tsx bench/threads.ts [--rounds 40] [--arch fastdepth-pruned] [--baseline DIR]
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { buildArch } from '@fastdepth/fastdepth-arch';
import { emitWasm } from '../src/emit.js';
import type { WasmManifest } from '../src/manifest.js';
import { createWasmMemory, loadWasmModel } from '../src/testing/load.js';
import { randomInput, seededWeights } from '../src/testing/harness.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}
const ROUNDS = Number(flag('rounds', '40'));
const WARMUP = Number(flag('warmup', '5'));
const ARCH = flag('arch', 'fastdepth-pruned');
const BASELINE = flag('baseline', '');

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface Build {
  readonly manifest: WasmManifest;
  readonly module: Uint8Array<ArrayBuffer>;
  readonly weights: Uint8Array;
}

/** Workers on one shared memory; `run` returns [host ms, thread 0's in-worker ms]. */
async function pool(
  b: Build,
  threads: number,
  x: Float32Array,
): Promise<{ run: () => [number, number]; stop: () => Promise<void> }> {
  const memory = createWasmMemory(b.manifest, true);
  const host = await loadWasmModel(b.manifest, b.module, b.weights, { memory });
  host.writeInput(x);
  const module = await WebAssembly.compile(b.module);
  const control = new SharedArrayBuffer(16);
  const flags = new Int32Array(control);
  const timing = new Float64Array(new SharedArrayBuffer(8));
  const source = `
    const { workerData } = require('node:worker_threads');
    const { module, memory, thread, threads } = workerData;
    const run = new WebAssembly.Instance(module, { env: { memory } }).exports.run;
    const control = new Int32Array(workerData.control);
    const timing = new Float64Array(workerData.timing);
    for (let r = 0; ; r++) {
      while (Atomics.load(control, 0) <= r) Atomics.wait(control, 0, r);
      if (Atomics.load(control, 2) !== 0) break;
      const t = performance.now();
      run(thread, threads);
      if (thread === 0) timing[0] = performance.now() - t;
      if (Atomics.add(control, 1, 1) === threads - 1) Atomics.notify(control, 1);
    }`;
  const workers = Array.from(
    { length: threads },
    (_, thread) =>
      new Worker(source, {
        eval: true,
        workerData: { module, memory, thread, threads, control, timing: timing.buffer },
      }),
  );
  await new Promise((r) => setTimeout(r, 300));
  let round = 0;
  return {
    run: () => {
      host.resetBarrier();
      Atomics.store(flags, 1, 0);
      const t = performance.now();
      Atomics.store(flags, 0, ++round);
      Atomics.notify(flags, 0);
      for (let done = Atomics.load(flags, 1); done < threads; done = Atomics.load(flags, 1))
        Atomics.wait(flags, 1, done);
      return [performance.now() - t, timing[0]!];
    },
    stop: async () => {
      Atomics.store(flags, 2, 1);
      Atomics.store(flags, 0, 1 << 30);
      Atomics.notify(flags, 0);
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

const graph = buildArch(ARCH, { inputSize: 224 });
const weights = seededWeights(graph, 1);
const x = randomInput([1, 3, 224, 224], 2);
const builds: Record<string, Build> = {};
for (const split of ['auto', 'rows'] as const) {
  const a = emitWasm({ graph, weights }, { threadSplit: split });
  builds[`this version, split ${split}`] = {
    manifest: a.manifest,
    module: a.modules['simd-threads'],
    weights: a.weights,
  };
}
if (BASELINE !== '') {
  const manifest = JSON.parse(
    readFileSync(join(BASELINE, `${ARCH}.wasm-manifest.json`), 'utf8'),
  ) as WasmManifest;
  builds['baseline'] = {
    manifest,
    module: new Uint8Array(readFileSync(join(BASELINE, manifest.modules['simd-threads']))),
    weights: readFileSync(join(BASELINE, manifest.weightsFile)),
  };
}
const configs: { name: string; threads: number; run: () => [number, number]; stop: () => Promise<void> }[] =
  [];
for (const [name, b] of Object.entries(builds))
  for (const threads of [1, 2]) configs.push({ name, threads, ...(await pool(b, threads, x)) });
const times = configs.map(() => ({ host: [] as number[], worker: [] as number[] }));
const load0 = loadavg();
for (let r = 0; r < WARMUP + ROUNDS; r++) {
  const order = configs.map((_, i) => i).sort(() => Math.random() - 0.5);
  for (const i of order) {
    const [h, w] = configs[i]!.run();
    if (r >= WARMUP) {
      times[i]!.host.push(h);
      times[i]!.worker.push(w);
    }
  }
}
const load1 = loadavg();
for (const c of configs) await c.stop();
console.log(
  `\n${ARCH} 224x224, ${ROUNDS} interleaved rounds (+${WARMUP} warm-up), load average ${load0[0]!.toFixed(2)} -> ${load1[0]!.toFixed(2)}\n`,
);
console.log('| build | threads | host median ms | min | thread-0 run() median ms | speed-up (host) |');
console.log('|---|---|---|---|---|---|');
configs.forEach((c, i) => {
  const one = configs.findIndex((d) => d.name === c.name && d.threads === 1);
  const h = median(times[i]!.host);
  console.log(
    `| ${c.name} | ${c.threads} | ${h.toFixed(2)} | ${Math.min(...times[i]!.host).toFixed(2)} | ${median(times[i]!.worker).toFixed(2)} | ${(median(times[one]!.host) / h).toFixed(2)}x |`,
  );
});
