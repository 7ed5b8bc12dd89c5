/**
 * `npm run bench -w @fastdepth/runtime-web`: fastdepth and fastdepth-pruned at 224x224, the
 * generated tfjs code against onnxruntime, side by side in one run. Node: tfjs (wasm, cpu),
 * onnxruntime-node (1, 2 threads), onnxruntime-web wasm (1, 2 threads). Headless Chromium:
 * tfjs-wasm vs onnxruntime-web-wasm at 1 thread, and 2 when the page is cross-origin isolated.
 * Prints medians of `estimate` (preprocess + inference + read-back, 224x224 RGBA input) and the
 * ratios to onnxruntime-web at the same thread count. `--profile` adds the tfjs-wasm kernels
 * that dominate. `--runs=N` (default 20), `--no-browser`.
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { chromium } from 'playwright-core';
import { startDemoServer } from '../demo/server.js';
import {
  createDepthEstimator,
  type BackendName,
  type DepthEstimator,
  type ModelSource,
} from '../src/index.js';
import {
  emitArch,
  importModule,
  readWeights,
  GENERATED_DIR,
  type EmittedModel,
} from '../src/testing/models.js';

const args = process.argv.slice(2);
const RUNS = Number(args.find((a) => a.startsWith('--runs='))?.slice(7) ?? 20);
const WARMUP = 3;
const ARCHS = ['fastdepth', 'fastdepth-pruned'] as const;
const CHROMIUM = '/usr/bin/chromium';

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function time(estimator: DepthEstimator, runs: number): Promise<number> {
  const image = {
    data: new Uint8ClampedArray(estimator.width * estimator.height * 4).map((_, i) => (i * 37) % 251),
    width: estimator.width,
    height: estimator.height,
  };
  for (let i = 0; i < WARMUP; i++) await estimator.estimate(image);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push((await estimator.estimate(image)).latencyMs);
  return median(times);
}

interface Row {
  readonly where: 'node' | 'chromium';
  readonly runtime: string;
  readonly threads: number;
  readonly ms: Partial<Record<(typeof ARCHS)[number], number>>;
  /** The onnxruntime-web row this one is compared with. */
  readonly reference: string;
}

const dir = join(GENERATED_DIR, 'bench');
const models = Object.fromEntries(ARCHS.map((arch) => [arch, emitArch(arch, 224, dir)])) as Record<
  (typeof ARCHS)[number],
  EmittedModel
>;
for (const arch of ARCHS) models[arch] = { ...models[arch], name: `${arch}-224` };
const rows: Row[] = [];

async function nodeRow(
  runtime: string,
  threads: number,
  reference: string,
  source: (m: EmittedModel) => Promise<ModelSource>,
  backend: BackendName,
  runs = RUNS,
): Promise<void> {
  const ms: Row['ms'] = {};
  for (const arch of ARCHS) {
    const estimator = await createDepthEstimator({
      model: await source(models[arch]),
      backend,
      numThreads: threads,
    });
    ms[arch] = await time(estimator, runs);
    await estimator.dispose();
  }
  rows.push({ where: 'node', runtime, threads, ms, reference });
  console.error(`node ${runtime} x${threads}: ${JSON.stringify(ms)}`);
}

const tfjsSource = async (m: EmittedModel): Promise<ModelSource> => ({
  engine: 'tfjs',
  module: await importModule(m),
  weights: readWeights(m),
});
const onnxSource = (m: EmittedModel): Promise<ModelSource> =>
  Promise.resolve({ engine: 'onnx', model: m.onnx });

await nodeRow('onnxruntime-web wasm', 1, 'onnxruntime-web wasm', onnxSource, 'wasm');
await nodeRow('onnxruntime-web wasm', 2, 'onnxruntime-web wasm', onnxSource, 'wasm');
await nodeRow('tfjs wasm (generated)', 1, 'onnxruntime-web wasm', tfjsSource, 'wasm');
await nodeRow('tfjs cpu (generated)', 1, 'onnxruntime-web wasm', tfjsSource, 'cpu');
await nodeRow('onnxruntime-node cpu', 1, 'onnxruntime-web wasm', onnxSource, 'cpu');
await nodeRow('onnxruntime-node cpu', 2, 'onnxruntime-web wasm', onnxSource, 'cpu');

if (args.includes('--profile')) {
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

if (!args.includes('--no-browser')) {
  const server = await startDemoServer({ quiet: true });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  try {
    const probe = await browser.newPage();
    await probe.goto(`${server.url}bench.html`);
    const isolated = await probe.evaluate(() => globalThis.crossOriginIsolated);
    await probe.close();
    for (const threads of isolated ? [1, 2] : [1]) {
      for (const engine of ['onnx', 'tfjs'] as const) {
        const page = await browser.newPage();
        await page.goto(`${server.url}bench.html`);
        await page.waitForFunction(() => document.getElementById('state')?.textContent === 'ready');
        const request = {
          engine,
          threads,
          warmup: WARMUP,
          runs: RUNS,
          models: ARCHS.map((arch) => ({ name: models[arch].name, modulePath: models[arch].tfjsModule })),
        };
        const result = await page.evaluate(
          (r) =>
            (
              globalThis as unknown as { fastdepthBench(x: typeof r): Promise<Record<string, number>> }
            ).fastdepthBench(r),
          request,
        );
        await page.close();
        const ms = Object.fromEntries(ARCHS.map((arch) => [arch, result[models[arch].name]]));
        const runtime = engine === 'tfjs' ? 'tfjs wasm (generated)' : 'onnxruntime-web wasm';
        rows.push({ where: 'chromium', runtime, threads, ms, reference: 'onnxruntime-web wasm' });
        const actual = ARCHS.map((arch) => result[`${models[arch].name}:threads`]).join('/');
        console.error(`chromium ${runtime} x${threads} (threads in use: ${actual}): ${JSON.stringify(ms)}`);
      }
    }
  } finally {
    await browser.close();
    await server.close();
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
