/**
 * codegen-wasm benchmark (Node, one thread): for fastdepth-pruned and fastdepth at 224x224, the
 * emitted plain-SIMD module's per-stage medians (ms, GFLOP/s = 2 x MACs / time) and the whole
 * network's median, beside onnxruntime-node (1 intra-op thread) measured in the same run,
 * interleaved so machine noise hits both. Relaxed SIMD needs `--experimental-wasm-relaxed-simd` in
 * Node 20; pass it (`node --experimental-wasm-relaxed-simd ...`) to time that module too.
 *
 *   npm run bench -w @fastdepth/codegen-wasm [-- --runs 20 --warmup 5 --arch fastdepth-pruned]
 */
import { availableParallelism, cpus } from 'node:os';
import { Worker } from 'node:worker_threads';
import { encodeOnnx } from '@fastdepth/codegen-onnx';
import { buildArch } from '@fastdepth/fastdepth-arch';
import { emitWasm } from '../src/emit.js';
import { createWasmMemory, loadWasmModel, type WasmModelInstance } from '../src/testing/load.js';
import type { WasmArtifact } from '../src/emit.js';
import { instantiate, randomInput, seededWeights } from '../src/testing/harness.js';
import { createSession, runSession } from '@fastdepth/codegen-onnx/testing';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}
const RUNS = Number(flag('runs', '20'));
const WARMUP = Number(flag('warmup', '5'));
const ARCHS = flag('arch', 'fastdepth-pruned,fastdepth').split(',');

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((c, i) => c.padStart(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/**
 * The shared-memory module on `threads` worker_threads (thread 0 too, so the host only signals):
 * returns a function that runs one inference and resolves when every thread is through.
 */
async function threaded(
  artifact: WasmArtifact,
  threads: number,
  x: Float32Array,
): Promise<{ run: () => Promise<void>; stop: () => Promise<void> }> {
  const memory = createWasmMemory(artifact.manifest, true);
  const host = await loadWasmModel(artifact.manifest, artifact.modules['simd-threads'], artifact.weights, {
    memory,
  });
  host.writeInput(x);
  const module = await WebAssembly.compile(artifact.modules['simd-threads']);
  const control = new SharedArrayBuffer(8);
  const flags = new Int32Array(control);
  const source = `
    const { workerData } = require('node:worker_threads');
    const { module, memory, thread, threads } = workerData;
    const run = new WebAssembly.Instance(module, { env: { memory } }).exports.run;
    const control = new Int32Array(workerData.control);
    for (let r = 0; ; r++) {
      while (Atomics.load(control, 0) <= r) Atomics.wait(control, 0, r);
      if (Atomics.load(control, 0) < 0) break;
      run(thread, threads);
      if (Atomics.add(control, 1, 1) === threads - 1) Atomics.notify(control, 1);
    }`;
  const workers = Array.from(
    { length: threads },
    (_, thread) =>
      new Worker(source, { eval: true, workerData: { module, memory, thread, threads, control } }),
  );
  let round = 0;
  return {
    run: async () => {
      host.resetBarrier();
      Atomics.store(flags, 1, 0);
      Atomics.store(flags, 0, ++round);
      Atomics.notify(flags, 0);
      // Atomics.waitAsync keeps the event loop free while the workers run.
      const atomics = Atomics as unknown as {
        waitAsync: (a: Int32Array, i: number, v: number) => { value: Promise<string> | string };
      };
      for (let done = Atomics.load(flags, 1); done < threads; done = Atomics.load(flags, 1)) {
        const w = atomics.waitAsync(flags, 1, done);
        if (typeof w.value !== 'string') await w.value;
      }
    },
    stop: async () => {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

async function benchArch(arch: string): Promise<void> {
  const graph = buildArch(arch, { inputSize: 224 });
  const weights = seededWeights(graph, 1);
  const t0 = performance.now();
  const artifact = emitWasm({ graph, weights });
  const emitMs = performance.now() - t0;
  const x = randomInput([1, 3, 224, 224], 2);
  const engines: Record<string, () => Promise<void> | void> = {};
  const simd = await instantiate(artifact, 'simd');
  simd.writeInput(x);
  engines['wasm simd'] = () => simd.exports.run(0, 1);
  let relaxed: WasmModelInstance | undefined;
  if (WebAssembly.validate(artifact.modules.relaxed)) {
    relaxed = await instantiate(artifact, 'relaxed');
    relaxed.writeInput(x);
    engines['wasm relaxed'] = () => relaxed!.exports.run(0, 1);
  }
  const two = await threaded(artifact, 2, x);
  engines['wasm simd-threads, 2 workers'] = two.run;
  const one = await threaded(artifact, 1, x);
  engines['wasm simd-threads, 1 worker'] = one.run;
  const session = await createSession(encodeOnnx({ graph, weights }, { foldBatchNorm: true }), {
    intraOpNumThreads: 1,
  });
  const feeds = { input: { shape: [1, 3, 224, 224], data: x } };
  engines['onnxruntime-node 1 thread'] = async () => {
    await runSession(session, feeds);
  };
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(engines).map((k) => [k, []]));
  for (let r = 0; r < WARMUP + RUNS; r++) {
    for (const [name, fn] of Object.entries(engines)) {
      const t = performance.now();
      await fn();
      if (r >= WARMUP) times[name]!.push(performance.now() - t);
    }
  }
  await session.release();
  await two.stop();
  await one.stop();
  const base = median(times['onnxruntime-node 1 thread']!);
  console.log(
    `\n## ${arch} 224x224 (emit of 4 modules: ${emitMs.toFixed(0)} ms, module ${(artifact.modules.simd.length / 1024).toFixed(0)} KiB)\n`,
  );
  console.log(
    table(
      ['engine', 'median ms', 'vs ORT'],
      Object.entries(times).map(([k, v]) => [k, median(v).toFixed(2), (median(v) / base).toFixed(2)]),
    ),
  );
  // Per stage: each stage alone, all its rows, on thread 0; stages run in order so inputs are real.
  const stages = artifact.manifest.stages;
  const per: number[][] = stages.map(() => []);
  for (let r = 0; r < WARMUP + RUNS; r++) {
    stages.forEach((s, i) => {
      const t = performance.now();
      simd.runStage(i, 0, s.rows, 0);
      if (r >= WARMUP) per[i]!.push(performance.now() - t);
    });
  }
  const total = per.reduce((a, p) => a + median(p), 0);
  const totalMacs = stages.reduce((a, s) => a + s.macs, 0);
  console.log(
    `\nper stage (simd, 1 thread; sum of medians ${total.toFixed(2)} ms, ${(totalMacs / 1e6).toFixed(0)} MMACs):\n`,
  );
  console.log(
    table(
      ['#', 'stage', 'kind', 'rows', 'MMACs', 'ms', '% time', 'GFLOP/s'],
      stages.map((s, i) => {
        const ms = median(per[i]!);
        return [
          String(i),
          s.layers.filter((l) => !/_relu$|_bn$/.test(l)).join('+'),
          s.kind,
          String(s.rows),
          (s.macs / 1e6).toFixed(1),
          ms.toFixed(3),
          ((100 * ms) / total).toFixed(1),
          s.macs > 0 ? ((2 * s.macs) / (ms * 1e6)).toFixed(1) : '-',
        ];
      }),
    ),
  );
}

console.log(
  `codegen-wasm bench: ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}`,
);
console.log(
  `medians of ${RUNS} runs after ${WARMUP} warm-up; relaxed SIMD timed where this Node validates it (Node 20: only with --experimental-wasm-relaxed-simd)`,
);
for (const arch of ARCHS) await benchArch(arch);
