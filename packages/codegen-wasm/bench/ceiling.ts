/**
 * The machine's own ceiling for 2-thread scaling of WebAssembly SIMD: perfectly parallel loops
 * (no barrier, no shared data) split in halves over Node workers on one shared memory, timed
 * 1 thread vs 2. Three loops: `fma` (f32x4 mul+add on 8 register accumulators, no memory),
 * `dot` (i32x4.dot_i16x8_s on registers, the int8 kernels' instruction), `stream` (v128 loads
 * summed over a per-thread buffer of `--kib` KiB, default 1024, about one stage's activations).
 * Whatever these reach bounds what any schedule of the engine can reach here. Rounds
 * interleaved, medians; the machine may be shared: read the ratios.
 *
 *   node --conditions=@fastdepth/source --import tsx bench/ceiling.ts [--rounds 30] [--kib 1024]
 */
import { loadavg } from 'node:os';
import { Worker } from 'node:worker_threads';
import binaryen from 'binaryen';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}
const ROUNDS = Number(flag('rounds', '30'));
const KIB = Number(flag('kib', '1024'));
/** Work per inference-sized round: about 20 ms on one thread. */
const ITERS = Number(flag('iters', '2000000'));

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** fma(n), dot(n), stream(base, bytes, reps): each returns a value so nothing is optimised away. */
function buildModule(): Uint8Array<ArrayBuffer> {
  const m = new binaryen.Module();
  m.setFeatures(binaryen.Features.MVP | binaryen.Features.SIMD128 | binaryen.Features.Atomics);
  m.setMemory(256, 256, null, [], true, false, '0');
  m.addMemoryImport('0', 'env', 'memory', true);
  const { i32, v128 } = binaryen;
  const get = (i: number, t: number): number => m.local.get(i, t);
  const regLoop = (name: string, op: (a: number, b: number) => number): void => {
    // param n; locals: i, acc0..7, k
    const acc = Array.from({ length: 8 }, (_, j) => 2 + j);
    const k = 10;
    const body = m.block(
      null,
      [
        ...acc.map((a, j) => m.local.set(a, m.i32x4.splat(m.i32.const(j + 1)))),
        m.local.set(k, m.i32x4.splat(m.i32.const(3))),
        m.local.set(1, get(0, i32)),
        m.loop(
          'top',
          m.block(null, [
            ...acc.map((a) => m.local.set(a, op(get(a, v128), get(k, v128)))),
            m.local.set(1, m.i32.sub(get(1, i32), m.i32.const(1))),
            m.br('top', get(1, i32)),
          ]),
        ),
        m.i32x4.extract_lane(
          acc.slice(1).reduce((s, a) => m.i32x4.add(s, get(a, v128)), get(acc[0]!, v128)),
          0,
        ),
      ],
      i32,
    );
    m.addFunction(name, i32, i32, [i32, ...acc.map(() => v128), v128], body);
    m.addFunctionExport(name, name);
  };
  regLoop('fma', (a, k) => m.f32x4.add(m.f32x4.mul(a, k), k));
  regLoop('dot', (a, k) => m.i32x4.add(a, m.i32x4.dot_i16x8_s(a, k)));
  // stream(base, bytes, reps): params 0..2, locals p 3, end 4, acc 5, r 6
  const body = m.block(
    null,
    [
      m.local.set(5, m.i32x4.splat(m.i32.const(0))),
      m.local.set(6, get(2, i32)),
      m.loop(
        'rep',
        m.block(null, [
          m.local.set(3, get(0, i32)),
          m.local.set(4, m.i32.add(get(0, i32), get(1, i32))),
          m.loop(
            'row',
            m.block(null, [
              m.local.set(5, m.i32x4.add(get(5, v128), m.v128.load(0, 16, get(3, i32)))),
              m.local.set(5, m.i32x4.add(get(5, v128), m.v128.load(16, 16, get(3, i32)))),
              m.local.set(5, m.i32x4.add(get(5, v128), m.v128.load(32, 16, get(3, i32)))),
              m.local.set(5, m.i32x4.add(get(5, v128), m.v128.load(48, 16, get(3, i32)))),
              m.local.set(3, m.i32.add(get(3, i32), m.i32.const(64))),
              m.br('row', m.i32.lt_u(get(3, i32), get(4, i32))),
            ]),
          ),
          m.local.set(6, m.i32.sub(get(6, i32), m.i32.const(1))),
          m.br('rep', get(6, i32)),
        ]),
      ),
      m.i32x4.extract_lane(get(5, v128), 0),
    ],
    i32,
  );
  m.addFunction('stream', binaryen.createType([i32, i32, i32]), i32, [i32, i32, v128, i32], body);
  m.addFunctionExport('stream', 'stream');
  if (!m.validate()) throw new Error('ceiling: module does not validate');
  // No binaryen optimisation: the loops are already what is measured.
  const bytes = m.emitBinary() as Uint8Array<ArrayBuffer>;
  m.dispose();
  return bytes;
}

const module = await WebAssembly.compile(buildModule());
const memory = new WebAssembly.Memory({ initial: 256, maximum: 256, shared: true });
const BYTES = KIB * 1024;
if (BYTES * 2 > 256 * 65536) throw new Error('ceiling: --kib too large for the 16 MiB memory');
// stream: reps so that one thread moves about as many bytes as 20 ms of engine work.
const REPS = 2 * Math.max(1, Math.round((ITERS * 64) / BYTES / 4));

async function pool(threads: number): Promise<{ run: (kind: number) => number; stop: () => Promise<void> }> {
  const control = new Int32Array(new SharedArrayBuffer(16));
  const source = `
    const { workerData } = require('node:worker_threads');
    const { module, memory, thread, threads, iters, bytes, reps } = workerData;
    const e = new WebAssembly.Instance(module, { env: { memory } }).exports;
    const control = new Int32Array(workerData.control);
    let sink = 0;
    for (let r = 0; ; r++) {
      while (Atomics.load(control, 0) <= r) Atomics.wait(control, 0, r);
      const kind = Atomics.load(control, 2);
      if (kind < 0) break;
      const share = Math.floor(iters / threads);
      if (kind === 0) sink += e.fma(share);
      else if (kind === 1) sink += e.dot(share);
      else sink += e.stream(thread * bytes, bytes, Math.max(1, Math.floor(reps / threads)));
      if (Atomics.add(control, 1, 1) === threads - 1) Atomics.notify(control, 1);
    }`;
  const workers = Array.from(
    { length: threads },
    (_, thread) =>
      new Worker(source, {
        eval: true,
        workerData: {
          module,
          memory,
          thread,
          threads,
          iters: ITERS,
          bytes: BYTES,
          reps: REPS,
          control: control.buffer,
        },
      }),
  );
  await new Promise((r) => setTimeout(r, 300));
  let round = 0;
  return {
    run: (kind) => {
      Atomics.store(control, 1, 0);
      Atomics.store(control, 2, kind);
      const t = performance.now();
      Atomics.store(control, 0, ++round);
      Atomics.notify(control, 0);
      for (let d = Atomics.load(control, 1); d < threads; d = Atomics.load(control, 1))
        Atomics.wait(control, 1, d);
      return performance.now() - t;
    },
    stop: async () => {
      Atomics.store(control, 2, -1);
      Atomics.store(control, 0, 1 << 30);
      Atomics.notify(control, 0);
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

const kinds = [
  'fma (f32x4, registers)',
  'dot (i32x4.dot_i16x8_s, registers)',
  `stream (${KIB} KiB per thread)`,
];
const pools = [await pool(1), await pool(2)];
const times = kinds.map(() => [[], []] as number[][]);
const load0 = loadavg();
for (let r = 0; r < ROUNDS + 3; r++) {
  const order = [0, 1, 2, 3, 4, 5].sort(() => Math.random() - 0.5);
  for (const o of order) {
    const kind = o % 3;
    const p = o < 3 ? 0 : 1;
    const ms = pools[p]!.run(kind);
    if (r >= 3) times[kind]![p]!.push(ms);
  }
}
const load1 = loadavg();
for (const p of pools) await p.stop();
console.log(
  `\nperfectly parallel wasm loops, halves per thread, ${ROUNDS} interleaved rounds, load average ${load0[0]!.toFixed(2)} -> ${load1[0]!.toFixed(2)}\n`,
);
console.log('| loop | 1 thread median / min ms | 2 threads median / min ms | speed-up median (min) |');
console.log('|---|---|---|---|');
kinds.forEach((k, i) => {
  const [one, two] = times[i]! as [number[], number[]];
  console.log(
    `| ${k} | ${median(one).toFixed(2)} / ${Math.min(...one).toFixed(2)} | ${median(two).toFixed(2)} / ${Math.min(...two).toFixed(2)} | ${(median(one) / median(two)).toFixed(2)}x (${(Math.min(...one) / Math.min(...two)).toFixed(2)}x) |`,
  );
});
