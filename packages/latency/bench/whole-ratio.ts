/**
 * How steady a whole-network comparison is: fastdepth-pruned's time as a fraction of
 * fastdepth's (224x224, seeded weights), measured TRIALS times over, read three ways from the
 * same batches of rounds:
 * - `entries, 5 rounds`: the ratio of the two probe-normalised low quantiles (`measureWhole`
 *   at the library's 5 rounds: what NetAdapt read a fraction from before `compareWhole`);
 * - `paired, 5 rounds`: the median of same-round ratios over the first 5 rounds;
 * - `paired, WHOLE_ROUNDS`: the same over every round (`compareWhole`, what NetAdapt and
 *   `prune`'s final speed-up read now).
 * Prints each trial and, per reading, the mean, the range and the standard deviation over the
 * trials (the scatter a decision on one batch would see). A benchmark, not a test.
 *
 * Run: node --conditions=@fastdepth/source --import tsx packages/latency/bench/whole-ratio.ts
 * Env: BACKEND wasm | onnx | wasm-engine (default wasm), TRIALS (8), BUSY (busy-loop processes
 * beside it, default 0; each ends by itself after 30 min and is stopped when this ends).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { buildArch } from '@fastdepth/fastdepth-arch';
import { initWeights, randomizeBatchNorm, type Model } from '@fastdepth/graph-dsl';
import {
  measureInRounds,
  onnxRunner,
  pairedRatios,
  quantile,
  tfjsRunner,
  wasmEngineRunner,
  WHOLE_ROUNDS,
  type LatencyRunner,
} from '../src/index.js';

const backend = process.env.BACKEND ?? 'wasm';
const trials = Number(process.env.TRIALS ?? 8);
const busyCount = Number(process.env.BUSY ?? 0);
const runner: LatencyRunner =
  backend === 'onnx' ? onnxRunner() : backend === 'wasm-engine' ? wasmEngineRunner() : tfjsRunner();

const model = (arch: string): Model => {
  const graph = buildArch(arch, { inputSize: 224 });
  return { graph, weights: randomizeBatchNorm(graph, initWeights(graph, 1), 2) };
};
const models = new Map([
  ['start', model('fastdepth')],
  ['cut', model('fastdepth-pruned')],
]);

const busy: ChildProcess[] = [];
const stopBusy = (): void => {
  for (const child of busy.splice(0)) child.kill('SIGKILL');
};
process.on('exit', stopBusy);
for (let i = 0; i < busyCount; i++)
  busy.push(
    spawn(
      process.execPath,
      ['-e', 'const end = Date.now() + 1800e3; let x = 0; while (Date.now() < end) x = (x + 1) % 1e9;'],
      {
        stdio: 'ignore',
      },
    ),
  );

const readings: Record<string, number[]> = {
  'entries, 5 rounds': [],
  'paired, 5 rounds': [],
  [`paired, ${WHOLE_ROUNDS} rounds`]: [],
};
const fixed = (v: number): string => v.toFixed(3);
console.log(
  `${runner.backend}, fastdepth-pruned / fastdepth at 224x224, ${trials} trials, ${busyCount} busy loop(s)`,
);
for (let trial = 0; trial < trials; trial++) {
  const samples = new Map<string, { round: number; ms: number }[]>([
    ['start', []],
    ['cut', []],
  ]);
  // 5 rounds first (the old default) and the rest after, all in one batch, so every reading
  // comes from the same timings.
  const first5 = await measureInRounds(runner, models, { rounds: 5, extraRounds: 0, allowNoisy: true });
  const rest = await measureInRounds(runner, models, {
    rounds: WHOLE_ROUNDS - 5,
    extraRounds: 0,
    allowNoisy: true,
  });
  for (const [key, list] of first5.samples) samples.get(key)!.push(...list);
  for (const [key, list] of rest.samples)
    samples.get(key)!.push(...list.map((s) => ({ round: s.round + 5, ms: s.ms })));
  const values = [
    first5.entries.get('cut')!.ms / first5.entries.get('start')!.ms,
    pairedRatios(first5.samples, 'start').get('cut')!.ratio,
    pairedRatios(samples, 'start').get('cut')!.ratio,
  ];
  Object.values(readings).forEach((list, i) => list.push(values[i]!));
  console.log(`trial ${trial}: ${values.map(fixed).join(' / ')} (load ${loadavg()[0]!.toFixed(1)})`);
}
stopBusy();
console.log('\n| reading | mean | min-max | std dev |\n|---|---|---|---|');
for (const [name, list] of Object.entries(readings)) {
  const mean = list.reduce((a, b) => a + b, 0) / list.length;
  const sd = Math.sqrt(list.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, list.length - 1));
  console.log(
    `| ${name} | ${fixed(mean)} | ${fixed(Math.min(...list))}-${fixed(Math.max(...list))} | ${fixed(sd)} |`,
  );
}
console.log(`(median of the last reading: ${fixed(quantile(Object.values(readings)[2]!, 0.5))})`);
