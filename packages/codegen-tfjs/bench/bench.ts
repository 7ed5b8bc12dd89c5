/**
 * Median predict latency of the generated tfjs code for FastDepth and its pruned variant at
 * 224x224, on the tfjs wasm (SIMD, one thread) and cpu backends, with onnxruntime-node on the
 * codegen-onnx export (1 thread, and its default threads) measured side by side.
 *
 *   npx tsx --conditions=@fastdepth/source packages/codegen-tfjs/bench/bench.ts [runs]
 */
import { performance } from 'node:perf_hooks';
import { encodeOnnx } from '@fastdepth/codegen-onnx';
import { buildArch } from '@fastdepth/fastdepth-arch';
import { initWeights } from '@fastdepth/graph-dsl';
import * as tf from '@tensorflow/tfjs-core';
import ort from 'onnxruntime-node';
import { emitTfjs } from '../src/index.js';
import { importGenerated, useBackend, weightsBuffer } from '../src/testing/harness.js';

const RUNS = Number(process.argv[2] ?? 20);
const WARMUP = 3;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function time(runs: number, f: () => Promise<void>): Promise<number> {
  for (let i = 0; i < WARMUP; i++) await f();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await f();
    samples.push(performance.now() - t0);
  }
  return median(samples);
}

const rows: string[][] = [['arch', 'runtime', 'median ms', 'vs ort-node 1 thread']];
for (const arch of ['fastdepth', 'fastdepth-pruned']) {
  const graph = buildArch(arch, { inputSize: 224 });
  const model = { graph, weights: initWeights(graph, 0) };
  const result = emitTfjs(model);
  const mod = await importGenerated(result.source, `bench-${arch}`);
  const input = Float32Array.from({ length: 224 * 224 * 3 }, (_, i) => (i % 255) / 255);

  const measured: [string, number][] = [];
  const session1 = await ort.InferenceSession.create(encodeOnnx(model, { foldBatchNorm: true }), {
    intraOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const sessionN = await ort.InferenceSession.create(encodeOnnx(model, { foldBatchNorm: true }), {
    graphOptimizationLevel: 'all',
  });
  const feed = { input: new ort.Tensor('float32', Float32Array.from(input), [1, 3, 224, 224]) };
  measured.push([
    'onnxruntime-node, 1 thread',
    await time(RUNS, async () => {
      await session1.run(feed);
    }),
  ]);
  measured.push([
    'onnxruntime-node, default threads',
    await time(RUNS, async () => {
      await sessionN.run(feed);
    }),
  ]);
  await session1.release();
  await sessionN.release();

  for (const backend of ['wasm', 'cpu'] as const) {
    await useBackend(backend);
    const weights = mod.loadWeights(result.manifest, weightsBuffer(result));
    const x = tf.tensor4d(input, [1, 224, 224, 3]);
    // dataSync: the latency a caller sees, including the read-back.
    const ms = await time(backend === 'cpu' ? Math.min(RUNS, 20) : RUNS, () => {
      const y = mod.predict(x, weights);
      y.dataSync();
      y.dispose();
      return Promise.resolve();
    });
    measured.push([`tfjs ${backend} (generated)`, ms]);
    x.dispose();
    mod.dispose(weights);
  }
  const base = measured[0]![1];
  for (const [name, ms] of measured) rows.push([arch, name, ms.toFixed(1), `${(ms / base).toFixed(2)}x`]);
}

const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join('  '));
console.log(
  `\n${RUNS} runs after ${WARMUP} warm-up; ${process.arch}, Node ${process.version}, tfjs-core ${tf.version_core}.`,
);
