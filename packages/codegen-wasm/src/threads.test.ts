/**
 * The threaded schedule (`schedule.ts`: rows or pixels per stage, barriers only where a thread
 * reads another's output) gives the single-thread output bit for bit: same kernels, same
 * summation order per output, whichever thread computes it. Odd widths and sizes put the
 * column cuts and leftover pixel blocks everywhere; 3 threads split 7-row stages in three; the
 * larger stages take dynamic rows (chunks go to whichever thread asks first).
 */
import { buildArch, fastdepth } from '@fastdepth/fastdepth-arch';
import { foldBatchNorm, type Graph } from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { emitWasm } from './emit.js';
import { floatStageAccess, scheduleStages, type Schedule } from './schedule.js';
import { planGraph } from './plan.js';
import { instantiate, randomInput, seededWeights } from './testing/harness.js';
import { runThreaded } from './testing/threaded.js';

async function expectThreadedEqual(graph: Graph, threads: number): Promise<void> {
  const weights = seededWeights(graph, 5);
  const artifact = emitWasm({ graph, weights }, { optimizeLevel: 1, maxThreads: 4 });
  const inputs = [8, 9].map((seed) => randomInput(artifact.manifest.input.shape, seed));
  const single = await instantiate(artifact, 'simd');
  const expected = inputs.map((x) => single.runSingleThread(x));
  const got = await runThreaded(artifact, inputs, threads);
  // Non-zero and distinct outputs: a stale output from the previous run cannot pass.
  expect(expected[0]!.some((v) => v !== 0)).toBe(true);
  expect(expected[0]).not.toEqual(expected[1]);
  got.forEach((out, r) => expect(out).toEqual(expected[r]));
}

function scheduleOf(graph: Graph, threads: number): Schedule {
  const folded = foldBatchNorm({ graph, weights: seededWeights(graph, 1) });
  const plan = planGraph(folded.graph, folded.weights);
  return scheduleStages(plan.stages.map(floatStageAccess), threads);
}

/** Whether the schedule at `threads` splits some stage by pixels (so the test covers column cuts). */
const splitsPixels = (graph: Graph, threads: number): boolean =>
  scheduleOf(graph, threads).stages.some((s) => s.axis === 'pixels');

/** Whether some stage takes dynamic rows (whichever thread grabs each chunk). */
const hasDynamicRows = (graph: Graph, threads: number): boolean =>
  scheduleOf(graph, threads).stages.some((s) => s.chunkRows > 0);

const oddFastdepth = (inputSize: [number, number]): Graph =>
  fastdepth({
    inputSize,
    widths: {
      encoder: [7, 13, 10, 21, 9, 15, 11, 6, 5, 7, 9, 3, 17, 10],
      decoder: [9, 15, 21, 13, 5],
    },
  });

// 96 = 3 x 32 and 128 = 4 x 32: 3- and 4-row stages, which 2 and 3 threads split by pixels.
describe('threads: the -threads module on N workers equals one thread bit for bit', () => {
  it.each([
    [2, 96, 160],
    [3, 128, 160],
  ] as const)('fastdepth with odd widths on %i threads at %ix%i', async (threads, h, w) => {
    const graph = oddFastdepth([h, w]);
    expect(splitsPixels(graph, threads)).toBe(true);
    expect(hasDynamicRows(graph, threads)).toBe(true);
    await expectThreadedEqual(graph, threads);
  });

  it.each([
    ['fastdepth-pruned', 2],
    ['fastdepth', 3],
    ['mobilenet-nnconv5dw', 2],
    ['mobilenet-nnconv3-skipadd', 3],
    ['mobilenet-nnconv7dw-skipadd', 2],
  ] as const)('%s at 96x96 on %i threads', async (arch, threads) => {
    await expectThreadedEqual(buildArch(arch, { inputSize: 96 }), threads);
  });
});
