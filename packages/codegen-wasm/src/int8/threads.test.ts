/**
 * The int8 build on the thread schedule (`schedule.ts` through `int8StageAccess`): the
 * `-threads` module on N worker_threads gives the one-thread integers bit for bit, and both equal
 * graph-dsl's int8 reference. Few-row stages (3, 4, 7 rows) make 2 and 3 threads split by pixels
 * (column cuts inside rows, the leftover pixel block on the thread that ends the row), and
 * stages that read only their own rows (1x1 convs, skip adds) run without a barrier; stages of
 * 4+ rows per thread take dynamic rows.
 */
import { buildArch, fastdepth } from '@fastdepth/fastdepth-arch';
import {
  foldBatchNorm,
  GraphBuilder,
  quantizeModel,
  type Graph,
  type IntegerArithmetic,
  type Tensor,
} from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { randomInput, seededWeights } from '../testing/harness.js';
import { randomQuantizedModel } from '../testing/int8-reference.js';
import { createWasmMemory, loadWasmModel } from '../testing/load.js';
import { runThreaded } from '../testing/threaded.js';
import { executeInt8 } from '../testing/trained-int8.js';
import { scheduleStages } from '../schedule.js';
import { emitWasmInt8 } from './emit.js';
import { int8StageAccess, planInt8 } from './plan.js';

async function expectThreadedEqual(
  graph: Graph,
  threads: number,
  skipsBarrier = true,
  arithmetic: IntegerArithmetic = 'tflite',
): Promise<void> {
  const folded = foldBatchNorm({ graph, weights: seededWeights(graph, 3) }).graph;
  const shape = folded.nodes.find((n) => n.op === 'input')!;
  const inShape = shape.op === 'input' ? shape.attrs.shape : [0];
  // A concat needs its inputs to share its parameters: post-training quantisation gives that.
  const random = folded.nodes.some((n) => n.op === 'concat')
    ? quantizeModel(graph, seededWeights(graph, 3), [{ shape: inShape, data: randomInput(inShape, 2) }])
    : randomQuantizedModel(folded, 4, randomInput(inShape, 2));
  const model = {
    ...random,
    graph: { ...random.graph, quantization: { ...random.graph.quantization, arithmetic } },
  };
  // The schedule really splits some stage by pixels and (a stage reading only its own rows
  // after another) skips a barrier.
  const sch = scheduleStages(planInt8(model).plan.stages.map(int8StageAccess), threads);
  expect(sch.stages.some((s) => s.axis === 'pixels')).toBe(true);
  if (skipsBarrier) expect(sch.stages.slice(1, -1).some((s) => !s.barrierBefore)).toBe(true);
  // Stages of 4+ rows per thread after a barrier take dynamic rows.
  expect(sch.stages.some((s) => s.chunkRows > 0)).toBe(
    sch.stages.some((s, i) => s.barrierBefore && sch.stages[i]!.rows >= 4 * threads),
  );

  // relaxed-threads: the relaxed builds' data flow on the exact plain-SIMD dot (Node 20).
  const artifact = emitWasmInt8(model, { maxThreads: 4, optimizeLevel: 1, relaxedDot: 'usdot-emulated' });
  const inputs = [8, 9].map((seed) => randomInput(inShape, seed));
  const memory = createWasmMemory(artifact.manifest, false);
  const single = await loadWasmModel(artifact.manifest, artifact.modules.simd, artifact.weights, { memory });
  const expected = inputs.map((x) => single.runSingleThread(x));
  const got = await runThreaded(artifact, inputs, threads);
  const relaxed = await runThreaded(artifact, inputs, threads, 'relaxed-threads');
  // Distinct, non-constant outputs: a stale output from the previous run cannot pass.
  expect(new Set(expected[0]).size).toBeGreaterThan(8);
  expect(expected[0]).not.toEqual(expected[1]);
  const p = artifact.manifest.quantization!.output;
  inputs.forEach((x, r) => {
    expect(got[r]).toEqual(expected[r]);
    expect(relaxed[r], 'relaxed-threads').toEqual(expected[r]);
    // The dequantised output of the reference integers (scale * (q - zp) is one-to-one in q).
    expect(got[r]).toEqual(Float32Array.from(executeInt8(model, x), (q) => p.scale * (q - p.zeroPoint)));
  });
}

const oddFastdepth = (inputSize: [number, number]): Graph =>
  fastdepth({
    inputSize,
    widths: {
      encoder: [7, 13, 10, 21, 9, 15, 11, 6, 5, 7, 9, 3, 17, 10],
      decoder: [9, 15, 21, 13, 5],
    },
  });

/** A 7-row dw+pw stack with a skip add on an odd width: the 7- and 14-row stages of the decoder. */
function fewRows(): Graph {
  const g = new GraphBuilder('few_rows');
  const x = g.input('input', [1, 3, 14, 22]);
  const stem = g.relu6('stem_relu', g.conv2d('stem', x, { outChannels: 12, kernel: 3, stride: 2, pads: 1 }));
  const dw = g.relu('dw_relu', g.conv2d('dw', stem, { outChannels: 12, kernel: 5, pads: 2, groups: 12 }));
  const pw = g.relu('pw_relu', g.conv2d('pw', dw, { outChannels: 10, kernel: 1 }));
  const skip = g.relu('skip_relu', g.conv2d('skip', stem, { outChannels: 10, kernel: 1 }));
  const sum = g.add('sum', pw, skip);
  const up = g.upsample(
    'up',
    g.relu('pw2_relu', g.conv2d('pw2', sum, { outChannels: 6, kernel: 1 })),
    'nearest',
  );
  g.output('depth', g.conv2d('head', up, { outChannels: 1, kernel: 1 }));
  return g.build();
}

/**
 * A standalone add (both operands read elsewhere too) on 7 rows of odd width 11: its own stage,
 * split by pixels, reading only its own rows.
 */
function standaloneAdd(): Graph {
  const g = new GraphBuilder('standalone_add');
  const x = g.input('input', [1, 3, 14, 22]);
  const stem = g.relu6('stem_relu', g.conv2d('stem', x, { outChannels: 12, kernel: 3, stride: 2, pads: 1 }));
  const p = g.relu('p_relu', g.conv2d('p', stem, { outChannels: 10, kernel: 1 }));
  const q = g.conv2d('q', stem, { outChannels: 10, kernel: 3, pads: 1 });
  const sum = g.relu('sum_relu', g.add('sum', p, q));
  const r = g.conv2d('r', p, { outChannels: 10, kernel: 1 });
  const mixed = g.add('mix', g.conv2d('s', sum, { outChannels: 10, kernel: 1 }), g.add('rq', r, q));
  g.output('depth', g.conv2d('head', mixed, { outChannels: 1, kernel: 1 }));
  return g.build();
}

/** A pixel shuffle to 10 rows (5 input rows) of width 22: on 3 threads, split by pixels. */
function shuffleRows(): Graph {
  const g = new GraphBuilder('shuffle_rows');
  const x = g.input('input', [1, 3, 10, 22]);
  const stem = g.relu6('stem_relu', g.conv2d('stem', x, { outChannels: 12, kernel: 3, stride: 2, pads: 1 }));
  const s = g.relu(
    'shuffle_relu',
    g.pixelShuffle('shuffle', g.conv2d('pre', stem, { outChannels: 20, kernel: 1 })),
  );
  g.output(
    'depth',
    g.conv2d('head', g.conv2d('d', s, { outChannels: 6, kernel: 3, pads: 1 }), { outChannels: 1, kernel: 1 }),
  );
  return g.build();
}

/**
 * A resize of a 13-channel 5x7 map, ReLU fused, between a stride-2 stem and a 3x3 + 1x1 head:
 * on 3 threads, split by pixels. `resize` builds it from the 1x1 conv before it.
 */
function resizeRows(name: string, resize: (g: GraphBuilder, pre: Tensor) => Tensor): Graph {
  const g = new GraphBuilder(name);
  const x = g.input('input', [1, 3, 10, 14]);
  const stem = g.relu6('stem_relu', g.conv2d('stem', x, { outChannels: 12, kernel: 3, stride: 2, pads: 1 }));
  const up = g.relu('up_relu', resize(g, g.conv2d('pre', stem, { outChannels: 13, kernel: 1 })));
  g.output(
    'depth',
    g.conv2d('head', g.conv2d('d', up, { outChannels: 6, kernel: 3, pads: 1 }), {
      outChannels: 1,
      kernel: 1,
    }),
  );
  return g.build();
}

/** A bilinear x2 to 10 rows of width 14. */
const bilinearRows = (): Graph => resizeRows('bilinear_rows', (g, pre) => g.upsample('up', pre, 'bilinear'));

/** A nearest resize to a size that is no integer factor (5x7 -> 7x11). */
const nearestRows = (): Graph =>
  resizeRows('nearest_rows', (g, pre) => g.resize('up', pre, 'nearest', { size: [7, 11] }));

/**
 * The graph output after an average pool (7 rows of odd width 11, 5 channels): the pool writes
 * a buffer, the output copy stage dequantises it, both split by pixels.
 */
function poolOutput(): Graph {
  const g = new GraphBuilder('pool_output');
  const x = g.input('input', [1, 3, 14, 22]);
  const stem = g.relu6('stem_relu', g.conv2d('stem', x, { outChannels: 12, kernel: 3, stride: 2, pads: 1 }));
  const pw = g.conv2d('pw', stem, { outChannels: 5, kernel: 1 });
  g.output('depth', g.avgPool2d('avg', pw, { kernel: 3, stride: 1, pads: 1, countIncludePad: false }));
  return g.build();
}

/**
 * MobileNetV3's ops on 7 rows of odd width 11, 5 channels (8 bytes a pixel: the table lookup's
 * last 8-byte step on column cuts): hardSwish and hardSigmoid tables, squeeze-excite (global
 * pool, per-channel mul), an average pool with padding and a clip.
 */
function mobileRows(): Graph {
  const g = new GraphBuilder('mobile_rows');
  const x = g.input('input', [1, 3, 14, 22]);
  const stem = g.hardSwish('stem_hs', g.conv2d('stem', x, { outChannels: 5, kernel: 3, stride: 2, pads: 1 }));
  const pooled = g.globalAvgPool('pool', stem);
  const r = g.relu('reduce_relu', g.conv2d('reduce', pooled, { outChannels: 4, kernel: 1 }));
  const gate = g.hardSigmoid('gate', g.conv2d('expand', r, { outChannels: 5, kernel: 1 }));
  const scaled = g.clip('scale_clip', g.mul('scale', stem, gate), -0.2, 0.6);
  // A lookup after a pool: a stage of its own.
  const avg = g.hardSwish(
    'avg_hs',
    g.avgPool2d('avg', scaled, { kernel: 3, stride: 1, pads: 1, countIncludePad: false }),
  );
  g.output(
    'depth',
    g.conv2d('head', g.conv2d('pw', avg, { outChannels: 6, kernel: 1 }), { outChannels: 1, kernel: 1 }),
  );
  return g.build();
}

describe('int8 threads: the -threads module on N workers equals one thread and the reference', () => {
  it.each([
    ['tflite', 2],
    ['tflite', 3],
    ['xnnpack', 2],
  ] as const)(
    '%s arithmetic: table lookups, squeeze-excite mul and an average pool split by pixels on %i threads',
    async (arithmetic, threads) => {
      const graph = mobileRows();
      const stages = planInt8(randomQuantizedModel(graph, 4, randomInput([1, 3, 14, 22], 2))).plan.stages;
      const sch = scheduleStages(stages.map(int8StageAccess), threads);
      for (const name of ['scale', 'avg', 'avg_hs']) {
        const at = stages.findIndex((s) => s.name === name);
        expect(sch.stages[at]?.axis, name).toBe('pixels');
      }
      await expectThreadedEqual(graph, threads, true, arithmetic);
    },
  );

  it.each([2, 3])('7-row stages, odd width 11, skip add, on %i threads', async (threads) => {
    await expectThreadedEqual(fewRows(), threads);
  });

  it.each([
    [2, 96, 160],
    [3, 128, 160],
  ] as const)('fastdepth with odd widths on %i threads at %ix%i', async (threads, h, w) => {
    // dw+pw stages throughout: only the head (a 1x1 on its own rows) runs without a barrier.
    await expectThreadedEqual(oddFastdepth([h, w]), threads, false);
  });

  it.each(['tflite', 'xnnpack'] as const)(
    '%s arithmetic: a standalone add stage split by pixels on 2 threads',
    async (arithmetic) => {
      const graph = standaloneAdd();
      const stages = planInt8(randomQuantizedModel(graph, 4, randomInput([1, 3, 14, 22], 2))).plan.stages;
      expect(stages.filter((s) => s.kind === 'map').map((s) => s.name)).toEqual(['sum']);
      await expectThreadedEqual(graph, 2, true, arithmetic);
    },
  );

  it('a pixel shuffle stage split by pixels on 3 threads', async () => {
    const graph = shuffleRows();
    const stages = planInt8(randomQuantizedModel(graph, 4, randomInput([1, 3, 10, 22], 2))).plan.stages;
    const sch = scheduleStages(stages.map(int8StageAccess), 3);
    expect(sch.stages[stages.findIndex((s) => s.name === 'shuffle')]?.axis).toBe('pixels');
    // It reads rows of the stage before: a barrier before it, and before the 3x3 conv after it.
    await expectThreadedEqual(graph, 3, false);
  });

  it.each(['tflite', 'xnnpack'] as const)(
    '%s arithmetic: a bilinear resize stage split by pixels on 3 threads',
    async (arithmetic) => {
      const graph = bilinearRows();
      const stages = planInt8(randomQuantizedModel(graph, 4, randomInput([1, 3, 10, 14], 2))).plan.stages;
      const sch = scheduleStages(stages.map(int8StageAccess), 3);
      const at = stages.findIndex((s) => s.name === 'up');
      expect(stages[at]?.kind).toBe('resize');
      expect(sch.stages[at]?.axis).toBe('pixels');
      // It reads neighbour rows of the stage before: a barrier before it.
      expect(sch.stages[at]?.barrierBefore).toBe(true);
      await expectThreadedEqual(graph, 3, false, arithmetic);
    },
  );

  it.each(['tflite', 'xnnpack'] as const)(
    '%s arithmetic: a nearest resize stage to 7x11 split by pixels on 3 threads',
    async (arithmetic) => {
      const graph = nearestRows();
      const stages = planInt8(randomQuantizedModel(graph, 4, randomInput([1, 3, 10, 14], 2))).plan.stages;
      const sch = scheduleStages(stages.map(int8StageAccess), 3);
      const at = stages.findIndex((s) => s.name === 'up');
      expect(stages[at]?.kind === 'resize' ? stages[at].mode : undefined).toBe('nearest');
      expect(sch.stages[at]?.axis).toBe('pixels');
      // It reads other rows of the stage before: a barrier before it.
      expect(sch.stages[at]?.barrierBefore).toBe(true);
      await expectThreadedEqual(graph, 3, false, arithmetic);
    },
  );

  it.each([
    ['tflite', 2],
    ['xnnpack', 3],
  ] as const)(
    '%s arithmetic: the output copy after an average pool on %i threads',
    async (arithmetic, threads) => {
      const graph = poolOutput();
      const stages = planInt8(randomQuantizedModel(graph, 4, randomInput([1, 3, 14, 22], 2))).plan.stages;
      const last = stages[stages.length - 1]!;
      expect([last.kind, last.name]).toEqual(['map', 'depth']);
      const sch = scheduleStages(stages.map(int8StageAccess), threads);
      expect(sch.stages[stages.length - 1]?.axis).toBe('pixels');
      await expectThreadedEqual(graph, threads, false, arithmetic);
    },
  );

  it.each([2, 3])('xnnpack arithmetic: 7-row stages, skip add, on %i threads', async (threads) => {
    await expectThreadedEqual(fewRows(), threads, true, 'xnnpack');
  });

  it('xnnpack arithmetic: fastdepth with odd widths on 2 threads at 96x160', async () => {
    await expectThreadedEqual(oddFastdepth([96, 160]), 2, false, 'xnnpack');
  });

  it.each(['mobilenet-nnconv5-skipconcat', 'mobilenet-nnconv5dw-skipconcat'])(
    '%s at 32x160 on 2 threads (concat copies on their own rows, no barrier before them)',
    async (arch) => {
      await expectThreadedEqual(buildArch(arch, { inputSize: [32, 160] }), 2);
    },
  );

  // Every stage of fastdepth-pruned but the head is a fused dw+pw reading neighbour rows: a
  // barrier before each.
  it('fastdepth-pruned at 224x224 on 2 threads (the 7- and 14-row decoder stages)', async () => {
    await expectThreadedEqual(buildArch('fastdepth-pruned', { inputSize: 224 }), 2, false);
  });
});
