/**
 * Real NetAdapt results on FastDepth (prints markdown tables for the README).
 *  PART=a: fastdepth (seeded init) -> distilled from the trained TFLite model (teacher =
 *          imported fastdepth-pruned) on random crops of the shared photos + NYU rgb, then
 *          NetAdapt to 0.5 of the MACs with the same distillation as accuracy proxy.
 *  PART=b: the trained TFLite weights themselves, NetAdapt on tfjs-wasm latency to 0.7,
 *          distillation from the original on the photos (centre crop + resize); RMSE/delta1 on
 *          the NYU sample at 224 before and after, and the measured speed-up.
 * Run: PART=a npx tsx --conditions=@fastdepth/source packages/netadapt/bench/netadapt.ts
 * Env: RES (fine-tune resolution, default 64), DISTIL (distillation steps for a, default 150),
 * SHORT (default 2), LONG (default 40), DR0 (default 0.06 for a, 0.05 for b), OUT, CROPS (64),
 * CROPS_B (extra random crops for b's fine-tuning, default 0), LR (b's learning rate, 1e-4).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { computeMetrics, loadNpyPair } from '@fastdepth/eval';
import { buildArch, FASTDEPTH_PRUNED_WIDTHS, fastdepth } from '@fastdepth/fastdepth-arch';
import { analyze, initWeights, SeededRandom, type Model, type TensorF32 } from '@fastdepth/graph-dsl';
import { importTflite } from '@fastdepth/importers';
import sharp from 'sharp';
import {
  checkLatencyTable,
  distillationTask,
  LatencyTable,
  nchwToNhwcTensor,
  onnxRunner,
  runNetAdapt,
  TfGraph,
  tfjsRunner,
  useTfBackend,
  withInputShape,
} from '../src/index.js';
import { tf } from '../src/tf-backend.js';

/** The shared data folder beside the clone (never copied into the repository). */
const DATA = fileURLToPath(new URL('../../../../shared/data', import.meta.url));
const part = process.env.PART ?? 'a';
const env = (k: string, d: number): number => (process.env[k] ? Number(process.env[k]) : d);
const res = env('RES', 64);
const outDir = process.env.OUT ?? mkdtempSync(join(tmpdir(), `netadapt-${part}-`));
const t0 = performance.now();
const elapsed = (): string => `${((performance.now() - t0) / 1000).toFixed(0)} s`;

/** A photo as raw RGB (H, W, 3) uint8. */
interface Photo {
  readonly name: string;
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

async function photos(): Promise<Photo[]> {
  const out: Photo[] = [];
  for (const name of ['SUN_color.jpg', 'TUM_color.png', 'esanet_rgb.png']) {
    const { data, info } = await sharp(join(DATA, 'images', name))
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    out.push({ name, data: new Uint8Array(data), width: info.width, height: info.height });
  }
  const nyu = await loadNpyPair(join(DATA, 'nyu-sample/rgb.npy'), join(DATA, 'nyu-sample/depth.npy'));
  out.push({
    name: 'nyu rgb',
    data: Uint8Array.from(nyu.rgb, (v) => Math.round(v * 255)),
    width: nyu.width,
    height: nyu.height,
  });
  return out;
}

/** Crop (left, top, size x size) of a photo resized to `out` (default res): [3, out, out] in [0, 1]. */
async function crop(
  p: Photo,
  left: number,
  top: number,
  size: number,
  flip: boolean,
  out = res,
): Promise<TensorF32> {
  let img = sharp(Buffer.from(p.data), { raw: { width: p.width, height: p.height, channels: 3 } })
    .extract({ left, top, width: size, height: size })
    .resize(out, out, { kernel: 'cubic' });
  if (flip) img = img.flop();
  const hwc = new Uint8Array(await img.raw().toBuffer());
  const data = new Float32Array(3 * out * out);
  for (let i = 0; i < out * out; i++)
    for (let c = 0; c < 3; c++) data[c * out * out + i] = hwc[i * 3 + c]! / 255;
  return { shape: [3, out, out], data };
}

const centre = (p: Photo, out = res): Promise<TensorF32> => {
  const s = Math.min(p.width, p.height);
  return crop(p, (p.width - s) >> 1, (p.height - s) >> 1, s, false, out);
};

async function randomCrops(list: readonly Photo[], n: number, seed: number): Promise<TensorF32[]> {
  const rng = new SeededRandom(seed);
  const out: TensorF32[] = [];
  for (let k = 0; k < n; k++) {
    const p = list[k % list.length]!;
    const side = Math.min(p.width, p.height);
    const s = Math.round(side * (0.4 + 0.6 * rng.uniform()));
    out.push(
      await crop(
        p,
        Math.floor(rng.uniform() * (p.width - s + 1)),
        Math.floor(rng.uniform() * (p.height - s + 1)),
        s,
        rng.uniform() < 0.5,
      ),
    );
  }
  return out;
}

const at = (m: Model, size: number): Model => ({
  graph: withInputShape(m.graph, [1, 3, size, size]),
  weights: m.weights,
});

/** RMSE / delta1 on the NYU sample at 224 (tfjs-wasm forward). */
async function nyuMetrics(m: Model): Promise<{ rmse: number; delta1: number }> {
  await useTfBackend('wasm');
  const s = await loadNpyPair(join(DATA, 'nyu-sample/rgb.npy'), join(DATA, 'nyu-sample/depth.npy'));
  const net = new TfGraph(at(m, s.height));
  const chw = new Float32Array(3 * s.height * s.width);
  for (let i = 0; i < s.height * s.width; i++)
    for (let c = 0; c < 3; c++) chw[c * s.height * s.width + i] = s.rgb[i * 3 + c]!;
  const y = tf.tidy(() => net.forward(nchwToNhwcTensor(chw, [1, 3, s.height, s.width])));
  const out = await y.data();
  y.dispose();
  net.dispose();
  const r = computeMetrics(out, s.depth);
  return { rmse: r.rmse, delta1: r.delta1 };
}

const teacherFile = join(DATA, 'weights/fast_depth_224.tflite');
const trained = importTflite(new Uint8Array(readFileSync(teacherFile)), teacherFile).model;
const wasm = tfjsRunner({ backend: 'wasm', runs: 9 });
const ort = onnxRunner({ runs: 15 });
const list = await photos();
const events = {
  iterationDone: (r: {
    iteration: number;
    unit: string;
    from: number;
    to: number;
    fraction: number;
    accuracy: number;
  }) =>
    console.log(
      `[${elapsed()}] iter ${r.iteration}: ${r.unit} ${r.from}->${r.to}  resource ${(r.fraction * 100).toFixed(1)}%  acc ${r.accuracy.toFixed(4)}`,
    ),
};

if (part === 'a') {
  const distilSteps = env('DISTIL', 150);
  const crops = await randomCrops(list, env('CROPS', 64), 1);
  const evalImages = await randomCrops(list, 8, 2);
  console.log(
    `PART a: res ${res}, ${crops.length} random crops (+8 eval crops) of ${list.map((p) => p.name).join(', ')}; teacher = ${teacherFile} (fastdepth-pruned)`,
  );
  const task = await distillationTask(at(trained, res), crops, {
    backend: 'wasm',
    batchSize: 4,
    learningRate: 1e-3,
    evalImages,
  });
  const g = buildArch('fastdepth', { inputSize: res });
  let student: Model = { graph: g, weights: initWeights(g, 1) };
  const before = await task.evaluator.evaluate(student);
  student = await task.trainer.train(student, distilSteps, 0);
  const after = await task.evaluator.evaluate(student);
  console.log(
    `[${elapsed()}] distillation: ${distilSteps} Adam steps (lr 1e-3, batch 4) at ${res}x${res}: proxy -L1 ${before.toFixed(4)} -> ${after.toFixed(4)}`,
  );
  const ft = await distillationTask(at(trained, res), crops, {
    backend: 'wasm',
    batchSize: 4,
    learningRate: 2e-4,
    evalImages,
  });
  const result = await runNetAdapt(
    {
      model: student,
      metric: 'macs',
      budget: 0.5,
      ...ft,
      shortSteps: env('SHORT', 2),
      longSteps: env('LONG', 40),
      outDir,
      workers: 0,
      initialReduction: env('DR0', 0.06),
      resolution: res,
    },
    events,
  );
  console.log(
    `[${elapsed()}] NetAdapt: ${result.rows.length} iterations, SHORT ${env('SHORT', 2)}, LONG ${env('LONG', 40)}, DR0 ${env('DR0', 0.06)}; proxy ${result.initialAccuracy.toFixed(4)} -> ${result.finalAccuracy.toFixed(4)}; out ${outDir}`,
  );
  const widths = (m: Model): { encoder: number[]; decoder: number[] } =>
    JSON.parse(String(m.graph.meta?.widths)) as { encoder: number[]; decoder: number[] };
  const base = widths(student);
  const ours = widths(result.model);
  console.log('\n| layer | unpruned | paper pruned | NetAdapt (ours) |\n|---|---|---|---|');
  for (let i = 0; i < 14; i++)
    console.log(
      `| conv${i} | ${base.encoder[i]} | ${FASTDEPTH_PRUNED_WIDTHS.encoder[i]} | ${ours.encoder[i]} |`,
    );
  for (let k = 0; k < 5; k++)
    console.log(
      `| decode_conv${k + 1} | ${base.decoder[k]} | ${FASTDEPTH_PRUNED_WIDTHS.decoder[k]} | ${ours.decoder[k]} |`,
    );
  const paper = fastdepth({ widths: FASTDEPTH_PRUNED_WIDTHS });
  const variants: [string, Model][] = [
    ['unpruned', at(student, 224)],
    ['paper pruned', { graph: paper, weights: initWeights(paper, 1) }],
    ['NetAdapt (ours)', at(result.model, 224)],
  ];
  console.log(
    '\n224x224, batch 1, medians | model | GMACs | M params | tfjs-wasm ms | onnxruntime-node ms (1 thread) |\n|---|---|---|---|---|',
  );
  for (const [name, m] of variants) {
    const s = analyze(m.graph);
    console.log(
      `| ${name} | ${(s.macs / 1e9).toFixed(3)} | ${(s.params / 1e6).toFixed(3)} | ${(await wasm.measure(m)).toFixed(1)} | ${(await ort.measure(m)).toFixed(1)} |`,
    );
  }
} else {
  const images = await Promise.all(list.map((p) => centre(p)));
  // Optional augmentation (CROPS_B random crops + flips of the same photos) for fine-tuning;
  // the accuracy proxy is always scored on the centre crops.
  const extra = await randomCrops(list, env('CROPS_B', 0), 3);
  const lr = env('LR', 1e-4);
  const original = at(trained, 224);
  console.log(
    `PART b: ${teacherFile} (fastdepth-pruned), metric latency (tfjs-wasm, 224x224 table), budget 0.7; fine-tune at ${res}x${res} on ${images.length} centre crops + ${extra.length} random crops of ${list.map((p) => p.name).join(', ')}, lr ${lr}; proxy on the centre crops`,
  );
  // EVAL_RES scores proposals on the centre crops at another resolution (e.g. 224, where the
  // network is used) while fine-tuning stays at RES.
  const evalRes = env('EVAL_RES', res);
  const evalImages = evalRes === res ? images : await Promise.all(list.map((p) => centre(p, evalRes)));
  const task = await distillationTask(at(trained, res), [...images, ...extra], {
    backend: 'wasm',
    batchSize: 4,
    learningRate: lr,
    evalImages,
  });
  const table = new LatencyTable(wasm);
  const result = await runNetAdapt(
    {
      model: original,
      metric: 'latency',
      budget: 0.7,
      latencyTable: table,
      ...task,
      shortSteps: env('SHORT', 2),
      longSteps: env('LONG', 40),
      outDir,
      workers: 0,
      initialReduction: env('DR0', 0.05),
      resolution: res,
    },
    events,
  );
  const final = at(result.model, 224);
  console.log(
    `[${elapsed()}] NetAdapt: ${result.rows.length} iterations, SHORT ${env('SHORT', 2)}, LONG ${env('LONG', 40)}, DR0 ${env('DR0', 0.05)}, lr ${lr}; table estimate ${result.initial.toFixed(1)} -> ${result.final.toFixed(1)} ms; proxy ${result.initialAccuracy.toFixed(4)} -> ${result.finalAccuracy.toFixed(4)}; out ${outDir}`,
  );
  const m0 = await nyuMetrics(original);
  const m1 = await nyuMetrics(final);
  const l0 = [await wasm.measure(original), await ort.measure(original)];
  const l1 = [await wasm.measure(final), await ort.measure(final)];
  console.log(
    '\n| model | GMACs | RMSE (m) | delta1 | tfjs-wasm ms | onnxruntime-node ms (1 thread) |\n|---|---|---|---|---|---|',
  );
  console.log(
    `| trained (TFLite) | ${(analyze(original.graph).macs / 1e9).toFixed(3)} | ${m0.rmse.toFixed(3)} | ${m0.delta1.toFixed(3)} | ${l0[0]!.toFixed(1)} | ${l0[1]!.toFixed(1)} |`,
  );
  console.log(
    `| NetAdapt 0.7 latency | ${(analyze(final.graph).macs / 1e9).toFixed(3)} | ${m1.rmse.toFixed(3)} | ${m1.delta1.toFixed(3)} | ${l1[0]!.toFixed(1)} | ${l1[1]!.toFixed(1)} |`,
  );
  console.log(`| speed-up | | | | ${(l0[0]! / l1[0]!).toFixed(2)}x | ${(l0[1]! / l1[1]!).toFixed(2)}x |`);
  for (const [name, m] of [
    ['trained', original],
    ['pruned', final],
  ] as const) {
    const c = await checkLatencyTable(m, table);
    console.log(
      `LUT check ${name} (tfjs-wasm): table ${c.estimated.toFixed(1)} ms, measured ${c.measured.toFixed(1)} ms, ratio ${c.ratio.toFixed(3)}`,
    );
  }
}
console.log(`[${elapsed()}] done`);
