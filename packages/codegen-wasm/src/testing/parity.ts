/** The parity check of the float engine's op tests (not part of the library build). */
import { encodeOnnx } from '@fastdepth/codegen-onnx';
import { runOnnx } from '@fastdepth/codegen-onnx/testing';
import type { Graph } from '@fastdepth/graph-dsl';
import { expect } from 'vitest';
import { emitWasm } from '../emit.js';
import { instantiate, randomInput, reference, relativeError, seededWeights } from './harness.js';
import { runThreaded } from './threaded.js';

/**
 * `graph` through the float wasm engine against the reference executor and onnxruntime-node
 * (relative error below `tol`), stage by stage with rows split among three thread scratch
 * tiles, and on 2 workers (bit for bit the single-thread output); `kinds`: stage kinds the plan
 * must contain (so a test cannot pass through another path than the one it is about).
 */
export async function checkParity(graph: Graph, kinds: readonly string[] = [], tol = 1e-5): Promise<void> {
  const weights = seededWeights(graph, 3);
  const artifact = emitWasm({ graph, weights }, { maxThreads: 3, optimizeLevel: 1 });
  for (const k of kinds) expect(artifact.manifest.stages.map((s) => s.kind)).toContain(k);
  const shape = artifact.manifest.input.shape;
  const inputs = [11, 12].map((seed) => randomInput(shape, seed, 'normal'));
  const m = await instantiate(artifact, 'simd');
  const outs = inputs.map((x) => m.runSingleThread(x));
  const ref = reference(graph, weights, inputs[0]!);
  const { rel, maxAbs } = relativeError(outs[0]!, ref);
  expect(maxAbs, 'reference is degenerate').toBeGreaterThan(1e-3);
  expect(rel, `reference: max abs error / max |ref| (max |ref| ${maxAbs})`).toBeLessThan(tol);

  const ort = await runOnnx(encodeOnnx({ graph, weights }, { foldBatchNorm: true }), {
    shape: [...shape],
    data: inputs[0]!,
  });
  expect(relativeError(outs[0]!, ort.data).rel, 'onnxruntime').toBeLessThan(tol);

  // Each stage's rows split among threads 0..2, run out of order, on fresh memory.
  const split = await instantiate(artifact, 'simd');
  split.writeInput(inputs[0]!);
  artifact.manifest.stages.forEach((s, i) => {
    const cuts = [0, Math.floor(s.rows / 3), Math.floor((2 * s.rows) / 3), s.rows];
    for (const t of [2, 0, 1]) split.runStage(i, cuts[t]!, cuts[t + 1]!, t);
  });
  expect(split.readOutput()).toEqual(outs[0]);

  // 2 workers: the threaded schedule (rows or pixels, barriers) gives the same bits.
  expect(outs[0]).not.toEqual(outs[1]);
  const threaded = await runThreaded(artifact, inputs, 2);
  threaded.forEach((o, r) => expect(o).toEqual(outs[r]));
}
