/**
 * Evaluation-side throughput on one synthetic 480x640 NYU frame: `.h5` decode (h5wasm),
 * the authors' validation transform, and the metrics of a 224x224 map. Medians after warm-up,
 * so `fastdepth eval` over the 654 NYU validation frames can be sized.
 *
 *   npm run bench -w @fastdepth/eval [-- --runs 30]
 */
import { computeMetrics, encodeNyuH5, loadNyuH5, nyuValTransform } from '../src/index.js';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer`);
  return v;
}

const RUNS = flag('runs', 20);
const WARMUP = 3;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function time(fn: () => unknown): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const t0 = performance.now();
    await fn();
    if (i >= WARMUP) samples.push(performance.now() - t0);
  }
  return median(samples);
}

const H = 480;
const W = 640;
const rgb = Uint8Array.from({ length: H * W * 3 }, (_, i) => (i * 7) % 256);
const depth = Float32Array.from({ length: H * W }, (_, i) => 0.5 + (i % W) / 100);
const bytes = await encodeNyuH5({
  rgb: { height: H, width: W, data: rgb },
  depth: { height: H, width: W, data: depth },
});
const sample = await loadNyuH5(bytes, 'bench.h5');
const prepared = nyuValTransform(sample);
const pred = prepared.depth.map((v) => v * 1.1);

const rows: [string, number][] = [
  ['loadNyuH5 (480x640 .h5)', await time(() => loadNyuH5(bytes, 'bench.h5'))],
  ['nyuValTransform (-> 224x224)', await time(() => nyuValTransform(sample))],
  ['computeMetrics (224x224)', await time(() => computeMetrics(pred, prepared.depth))],
];
const total = rows.reduce((a, [, ms]) => a + ms, 0);
console.log(`median of ${RUNS} runs after ${WARMUP} warm-up, one frame:`);
for (const [name, ms] of rows)
  console.log(
    `  ${name.padEnd(32)} ${ms.toFixed(2).padStart(8)} ms  ${((100 * ms) / total).toFixed(0).padStart(3)}%`,
  );
console.log(
  `  ${'total per frame'.padEnd(32)} ${total.toFixed(2).padStart(8)} ms  (654 NYU val frames: ${((654 * total) / 1000).toFixed(1)} s)`,
);
