/**
 * Dynamic rows (`schedule.ts`) rest on one property of every stage they take: its rows may be
 * computed in any row ranges, in any order, on any thread's scratch tile. Checked here
 * directly and deterministically on one thread: every stage that the 2- and 3-thread schedules
 * take dynamically is computed chunk by chunk in reverse order, the chunks alternating between
 * two scratch tiles, after a run on another input (so a row computed from stale neighbours would
 * show), and the network output must equal a plain run bit for bit, float and int8 builds alike.
 */
import { buildArch, fastdepth } from '@fastdepth/fastdepth-arch';
import { foldBatchNorm, type Graph } from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { emitWasm } from './emit.js';
import { emitWasmInt8 } from './int8/emit.js';
import { int8StageAccess, planInt8 } from './int8/plan.js';
import { planGraph } from './plan.js';
import { floatStageAccess, scheduleStages, type StageAccess } from './schedule.js';
import { randomInput, seededWeights } from './testing/harness.js';
import { randomQuantizedModel } from './testing/int8-reference.js';
import { loadWasmModel, type WasmModelInstance } from './testing/load.js';
import type { WasmManifest } from './manifest.js';

interface Build {
  readonly manifest: WasmManifest;
  readonly module: Uint8Array;
  readonly weights: Uint8Array;
  readonly access: StageAccess[];
}

const oddFastdepth = (inputSize: [number, number]): Graph =>
  fastdepth({
    inputSize,
    widths: { encoder: [7, 13, 10, 21, 9, 15, 11, 6, 5, 7, 9, 3, 17, 10], decoder: [9, 15, 21, 13, 5] },
  });

function floatBuild(graph: Graph): Build {
  const weights = seededWeights(graph, 5);
  const a = emitWasm({ graph, weights }, { optimizeLevel: 1, maxThreads: 4 });
  const folded = foldBatchNorm({ graph, weights });
  const access = planGraph(folded.graph, folded.weights).stages.map(floatStageAccess);
  return { manifest: a.manifest, module: a.modules.simd, weights: a.weights, access };
}

function int8Build(graph: Graph): Build {
  const folded = foldBatchNorm({ graph, weights: seededWeights(graph, 3) }).graph;
  const input = folded.nodes.find((n) => n.op === 'input')!;
  const shape = input.op === 'input' ? input.attrs.shape : [0];
  const model = randomQuantizedModel(folded, 4, randomInput(shape, 2));
  const a = emitWasmInt8(model, { optimizeLevel: 1, maxThreads: 4 });
  const access = planInt8(model).plan.stages.map(int8StageAccess);
  return { manifest: a.manifest, module: a.modules.simd, weights: a.weights, access };
}

/** Runs every stage in order on one thread; `threads`'s dynamic stages chunk by chunk, last first. */
function runChunked(inst: WasmModelInstance, b: Build, threads: number, x: Float32Array): number {
  const sch = scheduleStages(b.access, threads);
  inst.writeInput(x);
  let chunked = 0;
  sch.stages.forEach((st, i) => {
    if (st.chunkRows === 0) {
      inst.runStage(i, 0, st.rows, 0);
      return;
    }
    chunked++;
    const chunks = Math.ceil(st.rows / st.chunkRows);
    for (let k = chunks - 1; k >= 0; k--)
      inst.runStage(i, k * st.chunkRows, Math.min(st.rows, (k + 1) * st.chunkRows), k % 2);
  });
  return chunked;
}

describe('dynamic rows: a chunkable stage gives the same rows in any chunks, order and scratch', () => {
  const cases: [string, () => Build][] = [
    [
      'float fastdepth-pruned 96x96 (ring-buffered decoder stages stay static)',
      () => floatBuild(buildArch('fastdepth-pruned', { inputSize: 96 })),
    ],
    ['float fastdepth, odd widths, 96x160', () => floatBuild(oddFastdepth([96, 160]))],
    ['int8 fastdepth, odd widths, 96x160', () => int8Build(oddFastdepth([96, 160]))],
    ['int8 fastdepth-pruned 128x128', () => int8Build(buildArch('fastdepth-pruned', { inputSize: 128 }))],
  ];
  it.each(cases)('%s', async (_, make) => {
    const b = make();
    const inst = await loadWasmModel(b.manifest, b.module, b.weights);
    const [x1, x2] = [randomInput(b.manifest.input.shape, 8), randomInput(b.manifest.input.shape, 9)];
    const want = inst.runSingleThread(x2);
    expect(inst.runSingleThread(x1)).not.toEqual(want);
    for (const threads of [2, 3]) {
      inst.runSingleThread(x1); // every buffer holds the other input's values
      expect(runChunked(inst, b, threads, x2)).toBeGreaterThan(0);
      expect(inst.readOutput()).toEqual(want);
    }
  });
});
