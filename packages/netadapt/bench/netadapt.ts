/**
 * NetAdapt on FastDepth: budget 0.5 of the MACs, distillation from the unpruned network on
 * random images as the accuracy proxy, few fine-tune steps. Prints the widths NetAdapt
 * reaches beside the paper's, MACs, and latency before/after on tfjs-wasm and onnxruntime-node
 * (224x224, medians). Run: npx tsx --conditions=@fastdepth/source packages/netadapt/bench/netadapt.ts
 * Env: RES (fine-tune resolution, default 64), SHORT (default 1), LONG (default 10),
 * DR0 (initial reduction, default 0.025), OUT (output dir), WORKERS (default 0).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeOnnx } from '@fastdepth/codegen-onnx';
import { buildArch, FASTDEPTH_PRUNED_WIDTHS, fastdepth } from '@fastdepth/fastdepth-arch';
import { analyze, initWeights, randomizeBatchNorm, type Model } from '@fastdepth/graph-dsl';
import * as ort from 'onnxruntime-node';
import {
  checkLatencyTable,
  distillationTask,
  LatencyTable,
  median,
  randomImages,
  runNetAdapt,
  tfjsRunner,
  withInputShape,
} from '../src/index.js';

const env = (k: string, d: number): number => (process.env[k] ? Number(process.env[k]) : d);
const res = env('RES', 64);
const outDir = process.env.OUT ?? mkdtempSync(join(tmpdir(), 'netadapt-bench-'));

async function ortMs(model: Model, runs = 10): Promise<number> {
  const session = await ort.InferenceSession.create(encodeOnnx(model), { intraOpNumThreads: 1 });
  const input = session.inputNames[0]!;
  const x = new ort.Tensor('float32', new Float32Array(3 * 224 * 224).fill(0.5), [1, 3, 224, 224]);
  await session.run({ [input]: x });
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await session.run({ [input]: x });
    t.push(performance.now() - t0);
  }
  await session.release();
  return median(t);
}

function widthsOf(model: Model): { encoder: number[]; decoder: number[] } {
  return JSON.parse(String(model.graph.meta?.widths)) as { encoder: number[]; decoder: number[] };
}

const small = buildArch('fastdepth', { inputSize: res });
const weights = randomizeBatchNorm(small, initWeights(small, 1), 2);
// A random network's head ReLU clips everything to 0, which would make every student equally
// "accurate"; a positive head bias keeps the teacher's depth map informative.
weights.set('decode_conv6_bn.bias', { shape: [1], data: Float32Array.of(2) });
const original: Model = { graph: small, weights };
const task = await distillationTask(original, randomImages(8, res, 5), { batchSize: 4, learningRate: 1e-4 });
const t0 = performance.now();
const result = await runNetAdapt(
  {
    model: original,
    metric: 'macs',
    budget: 0.5,
    trainer: task.trainer,
    evaluator: task.evaluator,
    shortSteps: env('SHORT', 1),
    longSteps: env('LONG', 10),
    outDir,
    workers: env('WORKERS', 0),
    initialReduction: env('DR0', 0.025),
    resolution: res,
  },
  {
    iterationDone: (r) =>
      console.log(
        `iter ${r.iteration}: ${r.unit} ${r.from}->${r.to}  MACs ${(r.fraction * 100).toFixed(1)}%  acc ${r.accuracy.toFixed(4)}`,
      ),
  },
);
console.log(
  `\nNetAdapt: ${result.rows.length} iterations in ${((performance.now() - t0) / 1000).toFixed(0)} s, out ${outDir}`,
);
console.log(
  `accuracy proxy (-L1 vs teacher): before ${result.initialAccuracy.toFixed(4)}, after long fine-tune ${result.finalAccuracy.toFixed(4)}`,
);

const ours = widthsOf(result.model);
console.log('\n| layer | unpruned | paper pruned | NetAdapt (ours) |\n|---|---|---|---|');
const base = widthsOf(original);
for (let i = 0; i < 14; i++)
  console.log(
    `| conv${i} | ${base.encoder[i]} | ${FASTDEPTH_PRUNED_WIDTHS.encoder[i]} | ${ours.encoder[i]} |`,
  );
for (let k = 0; k < 5; k++)
  console.log(
    `| decode_conv${k + 1} | ${base.decoder[k]} | ${FASTDEPTH_PRUNED_WIDTHS.decoder[k]} | ${ours.decoder[k]} |`,
  );

// Latency at 224x224 on the same weights (the network is fully convolutional).
const at224 = (m: Model): Model => ({ graph: withInputShape(m.graph, [1, 3, 224, 224]), weights: m.weights });
const paperGraph = fastdepth({ widths: FASTDEPTH_PRUNED_WIDTHS });
const variants: [string, Model][] = [
  ['unpruned', at224(original)],
  ['paper pruned', { graph: paperGraph, weights: initWeights(paperGraph, 1) }],
  ['NetAdapt (ours)', at224(result.model)],
];
const runner = tfjsRunner({ backend: 'wasm', runs: 7, warmup: 2 });
console.log(
  '\n| model | GMACs | M params | tfjs-wasm ms | onnxruntime-node ms (1 thread) |\n|---|---|---|---|---|',
);
for (const [name, m] of variants) {
  const s = analyze(m.graph);
  console.log(
    `| ${name} | ${(s.macs / 1e9).toFixed(3)} | ${(s.params / 1e6).toFixed(3)} | ${(await runner.measure(m)).toFixed(1)} | ${(await ortMs(m)).toFixed(1)} |`,
  );
}

if (process.env.LUT_CHECK) {
  const table = new LatencyTable(runner, { step: 8 });
  for (const [name, m] of variants) {
    const c = await checkLatencyTable(m, table);
    console.log(
      `LUT check ${name}: table sum ${c.estimated.toFixed(1)} ms, measured ${c.measured.toFixed(1)} ms, ratio ${c.ratio.toFixed(3)}`,
    );
  }
}
