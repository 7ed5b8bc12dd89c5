/**
 * Thread scaling of the shared-memory module (Node worker_threads): 1 vs 2 threads for the
 * thread schedule of `schedule.ts` (`threadSplit: 'auto'`, dynamic rows) beside the same without
 * dynamic rows (`'static'`) and the first one (`'rows'`: whole rows, a barrier after every
 * stage) and, with `--baseline DIR`, an artifact folder compiled by
 * an earlier version, all in one run: rounds interleaved, the order of the configurations
 * shuffled each round, medians. Two times per inference: the host's (signal, all threads done)
 * and thread 0's own `run` (no wake-up latency). The machine may be shared: read the ratios.
 *
 * The int8 build of the paper's trained model (`loadTrainedInt8`) runs beside the float one,
 * on the same schedules.
 *
 * The machine's ceiling for the same work, in the same rounds: `pair` runs two independent
 * 1-thread inferences at once, one per worker, each on its own memory (no barrier, no shared
 * data), and times until both are done. Two cores that each kept their 1-thread speed would
 * finish the pair in the 1-thread time; `2 x 1-thread / pair` is the speed-up no schedule of this
 * build can beat on this machine at that moment (on a 2-vCPU VM the host's other load and the
 * vCPUs' placement take 0-45 % of it). The table prints it beside the 2-thread speed-up, both
 * per round (the median of each round's ratio: the runs are moments apart), and their quotient,
 * the schedule's efficiency. `--profile`: builds that call
 * `env.mark` around every stage and barrier (`run.ts`), and per stage and thread the median
 * compute time and barrier wait at 1 and 2 threads.
 *
 *   node --conditions=@fastdepth/source --import tsx bench/threads.ts [--rounds 40] [--arch fastdepth-pruned] [--baseline DIR] [--profile]
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { buildArch } from '@fastdepth/fastdepth-arch';
import { emitWasm } from '../src/emit.js';
import { emitWasmInt8 } from '../src/int8/emit.js';
import { loadTrainedInt8 } from '../src/testing/trained-int8.js';
import type { WasmManifest } from '../src/manifest.js';
import { createWasmMemory } from '../src/testing/load.js';
import { randomInput, seededWeights } from '../src/testing/harness.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}
const ROUNDS = Number(flag('rounds', '40'));
const WARMUP = Number(flag('warmup', '5'));
const ARCH = flag('arch', 'fastdepth-pruned');
const BASELINE = flag('baseline', '');
const PROFILE = process.argv.includes('--profile');

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
/** Events per thread in a profile build: 2 per stage and one after the final barrier. */
const eventsOf = (b: Build): number => 2 * b.manifest.stages.length + 1;

/**
 * `threads` workers running one inference together on one memory, or with `pair`, two workers
 * each running a whole 1-thread inference on a memory of its own, at the same moment.
 */
async function pool(
  b: Build,
  threads: number,
  x: Float32Array,
  pair = false,
): Promise<{ run: () => [number, number]; stop: () => Promise<void>; marks: Float64Array }> {
  const workerCount = pair ? 2 : threads;
  const memories = Array.from({ length: pair ? 2 : 1 }, () => {
    const memory = createWasmMemory(b.manifest, true);
    // The host writes weights and input itself: a profile build cannot be instantiated here without `env.mark`.
    new Uint8Array(memory.buffer, b.manifest.weights.byteOffset, b.weights.byteLength).set(b.weights);
    new Float32Array(memory.buffer, b.manifest.input.byteOffset, x.length).set(x);
    return memory;
  });
  const host = {
    resetBarrier: () => {
      for (const memory of memories) new Int32Array(memory.buffer, b.manifest.barrier.byteOffset, 2).fill(0);
    },
  };

  const module = await WebAssembly.compile(b.module);
  const control = new SharedArrayBuffer(16);
  const flags = new Int32Array(control);
  const timing = new Float64Array(new SharedArrayBuffer(8));
  const allMarks = new Float64Array(new SharedArrayBuffer(8 * (workerCount * eventsOf(b) + workerCount)));
  const source = `
    const { workerData } = require('node:worker_threads');
    const { module, memory, thread, threads, workers } = workerData;
    const marks = new Float64Array(workerData.marks);
    // Profile marks per worker (a pair's two workers are both thread 0 of their own run).
    const base = workerData.slot * workerData.events;
    const mark = (_thread, event) => { marks[base + event] = performance.now(); };
    const run = new WebAssembly.Instance(module, { env: { memory, mark } }).exports.run;
    const control = new Int32Array(workerData.control);
    const timing = new Float64Array(workerData.timing);
    for (let r = 0; ; r++) {
      while (Atomics.load(control, 0) <= r) Atomics.wait(control, 0, r);
      if (Atomics.load(control, 2) !== 0) break;
      const t = performance.now();
      marks[workerData.workers * workerData.events + workerData.slot] = t;
      run(thread, threads);
      if (thread === 0) timing[0] = performance.now() - t;
      if (Atomics.add(control, 1, 1) === workers - 1) Atomics.notify(control, 1);
    }`;
  const workers = Array.from(
    { length: workerCount },
    (_, w) =>
      new Worker(source, {
        eval: true,
        workerData: {
          module,
          memory: memories[pair ? w : 0],
          thread: pair ? 0 : w,
          threads: pair ? 1 : threads,
          workers: workerCount,
          slot: w,
          control,
          timing: timing.buffer,
          marks: allMarks.buffer,
          events: eventsOf(b),
        },
      }),
  );
  await new Promise((r) => setTimeout(r, 300));
  let round = 0;
  return {
    marks: allMarks,
    run: () => {
      host.resetBarrier();
      Atomics.store(flags, 1, 0);
      const t = performance.now();
      Atomics.store(flags, 0, ++round);
      Atomics.notify(flags, 0);
      for (let done = Atomics.load(flags, 1); done < workerCount; done = Atomics.load(flags, 1))
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
const int8Model = loadTrainedInt8();
const builds: Record<string, Build> = {};
for (const split of PROFILE ? (['auto'] as const) : (['auto', 'static', 'rows'] as const)) {
  const a = emitWasm({ graph, weights }, { threadSplit: split, profile: PROFILE });
  builds[`float32, split ${split}`] = {
    manifest: a.manifest,
    module: a.modules['simd-threads'],
    weights: a.weights,
  };
  // The trained int8 model in both integer arithmetics (TFLite's fixed-point requantisation,
  // XNNPACK's float32 one): the same integers in, other requantisation code per stage.
  for (const arithmetic of ['tflite', 'xnnpack'] as const) {
    const model = {
      ...int8Model,
      graph: { ...int8Model.graph, quantization: { ...int8Model.graph.quantization, arithmetic } },
    };
    const q = emitWasmInt8(model, { threadSplit: split, profile: PROFILE });
    builds[`int8 (trained, ${arithmetic}), split ${split}`] = {
      manifest: q.manifest,
      module: q.modules['simd-threads'],
      weights: q.weights,
    };
  }
}
if (BASELINE !== '' && !PROFILE) {
  const manifest = JSON.parse(
    readFileSync(join(BASELINE, `${ARCH}.wasm-manifest.json`), 'utf8'),
  ) as WasmManifest;
  builds['baseline'] = {
    manifest,
    module: new Uint8Array(readFileSync(join(BASELINE, manifest.modules['simd-threads']))),
    weights: readFileSync(join(BASELINE, manifest.weightsFile)),
  };
}
interface Config {
  name: string;
  threads: number;
  /** Two independent 1-thread inferences at once (the ceiling, see the top comment). */
  pair: boolean;
  build: Build;
  run: () => [number, number];
  stop: () => Promise<void>;
  marks: Float64Array;
}
const configs: Config[] = [];
for (const [name, b] of Object.entries(builds))
  for (const [threads, pair] of [
    [1, false],
    [2, false],
    [2, true],
  ] as const)
    configs.push({ name, threads, pair, build: b, ...(await pool(b, threads, x, pair)) });
const times = configs.map(() => ({ host: [] as number[], worker: [] as number[] }));
/** Per config, per thread, per stage: compute and wait-before samples; plus the final barrier wait. */
const prof = configs.map((c) =>
  Array.from({ length: c.threads }, () => ({
    compute: c.build.manifest.stages.map(() => [] as number[]),
    wait: c.build.manifest.stages.map(() => [] as number[]),
    tail: [] as number[],
  })),
);
const load0 = loadavg();
for (let r = 0; r < WARMUP + ROUNDS; r++) {
  const order = configs.map((_, i) => i).sort(() => Math.random() - 0.5);
  for (const i of order) {
    const c = configs[i]!;
    const [h, w] = c.run();
    if (r < WARMUP) continue;
    times[i]!.host.push(h);
    times[i]!.worker.push(w);
    if (!PROFILE || c.pair) continue;
    const E = eventsOf(c.build);
    const N = c.build.manifest.stages.length;
    for (let t = 0; t < c.threads; t++) {
      const at = (e: number): number => c.marks[t * E + e]!;
      let prev = c.marks[c.threads * E + t]!;
      const p = prof[i]![t]!;
      for (let s = 0; s < N; s++) {
        p.wait[s]!.push(at(2 * s) - prev);
        p.compute[s]!.push(at(2 * s + 1) - at(2 * s));
        prev = at(2 * s + 1);
      }
      p.tail.push(at(2 * N) - prev);
    }
  }
}
const load1 = loadavg();
for (const c of configs) await c.stop();
console.log(
  `\n${ARCH} 224x224, ${ROUNDS} interleaved rounds (+${WARMUP} warm-up), load average ${load0[0]!.toFixed(2)} -> ${load1[0]!.toFixed(2)}${PROFILE ? ', profile builds (env.mark per stage)' : ''}\n`,
);
console.log(
  '| build | threads | host median ms | min | thread-0 run() median ms | speed-up (host, median) | speed-up (min) |',
);
console.log('|---|---|---|---|---|---|---|');
/** Work done per config run, in 1-thread inferences (a pair does two). */
const inferences = (c: Config): number => (c.pair ? 2 : 1);
const oneThread = (c: Config): number => configs.findIndex((d) => d.name === c.name && d.threads === 1);
configs.forEach((c, i) => {
  const one = oneThread(c);
  const h = median(times[i]!.host);
  const k = inferences(c);
  console.log(
    `| ${c.name} | ${c.pair ? '2 (pair: two 1-thread runs at once)' : c.threads} | ${h.toFixed(2)} | ${Math.min(...times[i]!.host).toFixed(2)} | ${median(times[i]!.worker).toFixed(2)} | ${((k * median(times[one]!.host)) / h).toFixed(2)}x | ${((k * Math.min(...times[one]!.host)) / Math.min(...times[i]!.host)).toFixed(2)}x |`,
  );
});
// Per round: the three runs of a build are moments apart, so the machine's drift between
// rounds cancels in their ratios.
console.log(
  "\nThe 2-thread speed-up against the machine's ceiling (medians over rounds of each round's ratios)\n",
);
console.log(
  '| build | 2-thread speed-up | ceiling: 2 x 1-thread / pair | efficiency: pair / (2 x 2-thread) |',
);
console.log('|---|---|---|---|');
for (const name of Object.keys(builds)) {
  const at = (threads: number, pair: boolean): number[] =>
    times[configs.findIndex((c) => c.name === name && c.threads === threads && c.pair === pair)]!.host;
  const [one, two, pair] = [at(1, false), at(2, false), at(2, true)];
  const speedUp = median(one.map((t, r) => t / two[r]!));
  const ceiling = median(one.map((t, r) => (2 * t) / pair[r]!));
  const efficiency = median(pair.map((t, r) => t / (2 * two[r]!)));
  console.log(
    `| ${name} | ${speedUp.toFixed(2)}x | ${ceiling.toFixed(2)}x | ${(100 * efficiency).toFixed(0)} % |`,
  );
}
if (PROFILE) {
  const f = (v: number): string => v.toFixed(3);
  for (const name of Object.keys(builds)) {
    const i1 = configs.findIndex((c) => c.name === name && c.threads === 1);
    const i2 = configs.findIndex((c) => c.name === name && c.threads === 2 && !c.pair);
    const stages = configs[i1]!.build.manifest.stages;
    console.log(`\n${name}: per-stage medians, ms (wait = barrier wait before the stage)\n`);
    console.log(
      '| stage | kind | rows | 1t compute | 2t t0 compute | 2t t1 compute | t0 wait | t1 wait | 1t / max(2t) |',
    );
    console.log('|---|---|---|---|---|---|---|---|---|');
    const sum = { one: 0, c0: 0, c1: 0, w0: 0, w1: 0 };
    stages.forEach((s, k) => {
      const one = median(prof[i1]![0]!.compute[k]!);
      const [c0, c1] = [0, 1].map((t) => median(prof[i2]![t]!.compute[k]!)) as [number, number];
      const [w0, w1] = [0, 1].map((t) => median(prof[i2]![t]!.wait[k]!)) as [number, number];
      sum.one += one;
      sum.c0 += c0;
      sum.c1 += c1;
      sum.w0 += w0;
      sum.w1 += w1;
      console.log(
        `| ${s.name} | ${s.kind} | ${s.rows} | ${f(one)} | ${f(c0)} | ${f(c1)} | ${f(w0)} | ${f(w1)} | ${(one / Math.max(c0, c1)).toFixed(2)}x |`,
      );
    });
    const [t0, t1] = [0, 1].map((t) => median(prof[i2]![t]!.tail)) as [number, number];
    console.log(
      `| (final barrier) | | | | | | ${f(t0)} | ${f(t1)} | |\n| sum of medians | | | ${f(sum.one)} | ${f(sum.c0)} | ${f(sum.c1)} | ${f(sum.w0 + t0)} | ${f(sum.w1 + t1)} | ${(sum.one / Math.max(sum.c0, sum.c1)).toFixed(2)}x |`,
    );
  }
}
