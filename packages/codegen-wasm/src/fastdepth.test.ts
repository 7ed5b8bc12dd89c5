/**
 * Whole networks: fastdepth and fastdepth-pruned at 224x224 with seeded weights (random BN
 * statistics and biases), against the float64 reference executor and against onnxruntime-node
 * running the codegen-onnx emission, within 1e-4 relative (max abs error / max |reference|).
 * The shared-memory module is also run by 2 worker_threads meeting at the in-wasm barrier, and
 * must give the single-thread result bit for bit (rows are split, the arithmetic is not).
 */
import { Worker } from 'node:worker_threads';
import { encodeOnnx } from '@fastdepth/codegen-onnx';
import { buildArch } from '@fastdepth/fastdepth-arch';
import type { Graph, WeightMap } from '@fastdepth/graph-dsl';
import { beforeAll, describe, expect, it } from 'vitest';
import { emitWasm, type WasmArtifact } from './emit.js';
import { createWasmMemory, loadWasmModel } from './runtime.js';
import { instantiate, randomInput, reference, relativeError, seededWeights } from './testing/harness.js';
import { runOnnx } from './testing/ort.js';

describe.each(['fastdepth-pruned', 'fastdepth'])('%s at 224x224', (arch) => {
  let graph: Graph;
  let weights: WeightMap;
  let artifact: WasmArtifact;
  let input: Float32Array;
  let output: Float32Array;
  let ref: Float64Array;

  beforeAll(async () => {
    graph = buildArch(arch, { inputSize: 224 });
    weights = seededWeights(graph, 11);
    artifact = emitWasm({ graph, weights });
    input = randomInput([1, 3, 224, 224], 13);
    output = (await instantiate(artifact, 'simd')).runSingleThread(input);
    ref = reference(graph, weights, input);
  });

  it('fuses every depthwise conv with its pointwise conv and the upsamples and skip adds', () => {
    const kinds = artifact.manifest.stages.map((s) => s.kind);
    expect(kinds).toEqual(['input', 'conv', ...Array<string>(18).fill('dwpw'), 'head']);
    const layers = artifact.manifest.stages.flatMap((s) => s.layers);
    expect(new Set(layers)).toEqual(new Set(graph.nodes.map((n) => n.name)));
    expect(artifact.manifest.output.shape).toEqual([1, 1, 224, 224]);
  });

  it('matches the reference executor within 1e-4 relative', () => {
    const { rel, maxAbs } = relativeError(output, ref);
    expect(maxAbs).toBeGreaterThan(0.1);
    expect(rel).toBeLessThan(1e-4);
  });

  it('matches onnxruntime-node on the codegen-onnx emission within 1e-4 relative', async () => {
    const ort = await runOnnx(encodeOnnx({ graph, weights }, { foldBatchNorm: true }), {
      shape: [1, 3, 224, 224],
      data: input,
    });
    const { rel, maxAbs } = relativeError(output, ort.data);
    expect(maxAbs).toBeGreaterThan(0.1);
    expect(rel).toBeLessThan(1e-4);
  });

  it('the shared-memory module on 2 worker_threads gives the same output, run after run', async () => {
    const memory = createWasmMemory(artifact.manifest, true);
    const host = await loadWasmModel(artifact.manifest, artifact.modules['simd-threads'], artifact.weights, {
      memory,
    });
    const module = await WebAssembly.compile(artifact.modules['simd-threads']);
    const control = new SharedArrayBuffer(8);
    const flags = new Int32Array(control);
    const runs = 3;
    const threads = 2;
    const workers = Array.from(
      { length: threads },
      (_, thread) =>
        new Worker(new URL('./testing/run-worker.mjs', import.meta.url), {
          workerData: { module, memory, thread, threads, runs, control },
        }),
    );
    const finished = workers.map(
      (w) =>
        new Promise<void>((resolve, reject) => {
          w.once('message', () => resolve());
          w.once('error', reject);
        }),
    );
    try {
      for (let r = 0; r < runs; r++) {
        // A different input each run, so a stale output cannot pass.
        const x = r === runs - 1 ? input : randomInput([1, 3, 224, 224], 100 + r);
        host.writeInput(x);
        host.resetBarrier();
        Atomics.store(flags, 1, 0);
        Atomics.store(flags, 0, r + 1);
        Atomics.notify(flags, 0);
        while (Atomics.load(flags, 1) < threads) Atomics.wait(flags, 1, Atomics.load(flags, 1), 1000);
      }
      await Promise.all(finished);
      expect(host.readOutput()).toEqual(output);
    } finally {
      await Promise.all(workers.map((w) => w.terminate()));
    }
  });
});
