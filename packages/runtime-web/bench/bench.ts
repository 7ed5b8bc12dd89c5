/**
 * `npm run bench -w @fastdepth/runtime-web`: fastdepth and fastdepth-pruned at 224x224, the
 * generated tfjs code against onnxruntime, side by side in one run. Node: tfjs (wasm, cpu),
 * onnxruntime-node (1, 2 threads), onnxruntime-web wasm (1, 2 threads). Headless Chromium:
 * tfjs-wasm vs onnxruntime-web-wasm at 1 thread, and 2 when the page is cross-origin isolated.
 * Prints medians of `estimate` (preprocess + inference + read-back, 224x224 RGBA input) and the
 * ratios to onnxruntime-web at the same thread count. `--profile` adds the tfjs-wasm kernels
 * that dominate. `--runs=N` (default 20), `--no-browser`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { importModule, readWeights } from '../src/testing/models.js';
import { benchArgs, benchModels, browserTimes, nodeTimes, startBenchBrowser, WARMUP } from './common.js';

const { runs: RUNS, has } = benchArgs();
const ARCHS = ['fastdepth', 'fastdepth-pruned'] as const;

interface Row {
  readonly where: 'node' | 'chromium';
  readonly runtime: string;
  readonly threads: number;
  readonly ms: Partial<Record<(typeof ARCHS)[number], number>>;
  /** The onnxruntime-web row this one is compared with. */
  readonly reference: string;
}

const models = benchModels(ARCHS);
const rows: Row[] = [];

async function nodeRow(
  runtime: string,
  threads: number,
  engine: 'tfjs' | 'onnx',
  backend: 'wasm' | 'cpu',
): Promise<void> {
  const { ms } = await nodeTimes(models, engine, backend, threads, RUNS);
  rows.push({ where: 'node', runtime, threads, ms, reference: 'onnxruntime-web wasm' });
  console.error(`node ${runtime} x${threads}: ${JSON.stringify(ms)}`);
}

await nodeRow('onnxruntime-web wasm', 1, 'onnx', 'wasm');
await nodeRow('onnxruntime-web wasm', 2, 'onnx', 'wasm');
await nodeRow('tfjs wasm (generated)', 1, 'tfjs', 'wasm');
await nodeRow('tfjs cpu (generated)', 1, 'tfjs', 'cpu');
await nodeRow('onnxruntime-node cpu', 1, 'onnx', 'cpu');
await nodeRow('onnxruntime-node cpu', 2, 'onnx', 'cpu');

if (has('--profile')) {
  for (const arch of ARCHS) {
    const module = await importModule(models[arch]);
    await tf.setBackend('wasm');
    const { manifest, buffer } = readWeights(models[arch]);
    const weights = module.loadWeights(manifest, buffer);
    const x = tf.zeros<tf.Rank.R4>([1, 224, 224, 3]);
    for (let i = 0; i < 3; i++) module.predict(x, weights).dispose();
    const byKernel = new Map<string, number>();
    for (let r = 0; r < 5; r++) {
      const profile = await tf.profile(() => module.predict(x, weights));
      for (const k of profile.kernels) {
        const ms = await Promise.resolve(k.kernelTimeMs);
        // `<op>__op` entries wrap the kernel of the same op: count kernels only.
        if (typeof ms === 'number' && !k.name.endsWith('__op'))
          byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + ms / 5);
      }
    }
    tf.dispose(x);
    module.dispose(weights);
    const total = [...byKernel.values()].reduce((a, b) => a + b, 0);
    console.log(
      `\ntfjs-wasm kernels, ${arch} (Node, mean of 5 profiled runs, ${total.toFixed(1)} ms in kernels):`,
    );
    for (const [name, ms] of [...byKernel].sort((a, b) => b[1] - a[1]))
      console.log(
        `  ${name.padEnd(28)} ${ms.toFixed(2).padStart(8)} ms  ${((100 * ms) / total).toFixed(1)}%`,
      );
  }
}

if (!has('--no-browser')) {
  const b = await startBenchBrowser();
  try {
    for (const threads of b.isolated ? [1, 2] : [1]) {
      for (const engine of ['onnx', 'tfjs'] as const) {
        const { ms, threads: actual } = await browserTimes(b, models, engine, threads, RUNS);
        const runtime = engine === 'tfjs' ? 'tfjs wasm (generated)' : 'onnxruntime-web wasm';
        rows.push({ where: 'chromium', runtime, threads, ms, reference: 'onnxruntime-web wasm' });
        console.error(`chromium ${runtime} x${threads} (threads in use: ${actual}): ${JSON.stringify(ms)}`);
      }
    }
  } finally {
    await b.close();
  }
}

const refOf = (row: Row, arch: (typeof ARCHS)[number]): number | undefined => {
  const ref = rows.find(
    (r) =>
      r.where === row.where &&
      r.runtime === row.reference &&
      r.threads ===
        (row.runtime.startsWith('onnxruntime-node') || row.runtime.startsWith('tfjs cpu') ? 1 : row.threads),
  );
  return ref?.ms[arch];
};
console.log(
  `\nmedian estimate() latency over ${RUNS} runs after ${WARMUP} warm-up, 224x224 input (ratio = this / onnxruntime-web wasm, same place, same threads)`,
);
const header = ['where', 'runtime', 'threads', ...ARCHS.flatMap((a) => [`${a} ms`, 'ratio'])];
const table = rows.map((row) => [
  row.where,
  row.runtime,
  String(row.threads),
  ...ARCHS.flatMap((arch) => {
    const ms = row.ms[arch];
    const ref = refOf(row, arch);
    return [
      ms === undefined ? '-' : ms.toFixed(1),
      ms === undefined || ref === undefined ? '-' : (ms / ref).toFixed(2),
    ];
  }),
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
for (const line of [header, ...table])
  console.log(
    line.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '),
  );
