/**
 * One Adam step (L1, batch 4) of fastdepth and fastdepth-pruned on tfjs-wasm vs tfjs-cpu.
 * Run: npx tsx --conditions=@fastdepth/source packages/netadapt/bench/train-step.ts
 * Env: RES (comma list, default 64,128), STEPS (timed wasm steps, default 3), CPU (comma list of
 * resolutions also timed on tfjs-cpu, one step each; default 64; empty = none).
 */
import { buildArch } from '@fastdepth/fastdepth-arch';
import { initWeights, randomizeBatchNorm } from '@fastdepth/graph-dsl';
import { median, randomImages, TfGraph, useTfBackend, withInputShape } from '../src/index.js';
import { tf } from '../src/tf-backend.js';

const list = (k: string, d: string): number[] =>
  (process.env[k] ?? d)
    .split(',')
    .filter((s) => s.trim() !== '')
    .map(Number);
const resolutions = list('RES', '64,128');
const cpuRes = new Set(list('CPU', '64'));
const steps = Number(process.env.STEPS ?? 3);
const batch = 4;

async function stepMs(arch: string, res: number, backend: 'cpu' | 'wasm', n: number): Promise<number> {
  await useTfBackend(backend);
  const g = withInputShape(buildArch(arch, { inputSize: res }), [batch, 3, res, res]);
  const net = new TfGraph({ graph: g, weights: randomizeBatchNorm(g, initWeights(g, 1), 2) });
  const images = randomImages(batch, res, 3);
  const x = tf.tidy(() =>
    tf.transpose(
      tf.tensor4d(Float32Array.from(images.flatMap((i) => [...i.data])), [batch, 3, res, res]),
      [0, 2, 3, 1],
    ),
  );
  const y = tf.fill<tf.Rank.R4>([batch, res, res, 1], 1);
  const opt = tf.train.adam(1e-4);
  const step = (): void => {
    const loss = opt.minimize(() => tf.mean(tf.abs(tf.sub(net.forward(x), y))), true, net.variables);
    loss?.dataSync();
    loss?.dispose();
  };
  const times: number[] = [];
  // wasm: one warm-up step (kernel setup, XNNPACK operator creation); cpu: too slow to warm up.
  if (backend === 'wasm') step();
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    step();
    times.push(performance.now() - t0);
  }
  tf.dispose([x, y]);
  opt.dispose();
  net.dispose();
  return median(times);
}

console.log(`one Adam step, L1, batch ${batch}; wasm: median of ${steps} after 1 warm-up; cpu: 1 step`);
console.log('| network | input | tfjs-wasm s/step | tfjs-cpu s/step | cpu / wasm |\n|---|---|---|---|---|');
for (const res of resolutions)
  for (const arch of ['fastdepth', 'fastdepth-pruned']) {
    const wasm = await stepMs(arch, res, 'wasm', steps);
    const cpu = cpuRes.has(res) ? await stepMs(arch, res, 'cpu', 1) : undefined;
    console.log(
      `| ${arch} | ${res}x${res} | ${(wasm / 1000).toFixed(2)} | ${cpu === undefined ? 'not run' : (cpu / 1000).toFixed(1)} | ${cpu === undefined ? '' : (cpu / wasm).toFixed(0) + 'x'} |`,
    );
  }
