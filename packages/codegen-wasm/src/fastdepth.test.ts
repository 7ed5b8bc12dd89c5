/**
 * Whole networks: fastdepth and fastdepth-pruned at 224x224 with seeded weights (random BN
 * statistics and biases), against the float64 reference executor and against onnxruntime-node
 * running the codegen-onnx emission, within 1e-4 relative (max abs error / max |reference|).
 * The shared-memory module is also run by 2 worker_threads meeting at the in-wasm barrier, and
 * must give the single-thread result bit for bit (rows are split, the arithmetic is not).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { encodeOnnx } from '@fastdepth/codegen-onnx';
import { buildArch } from '@fastdepth/fastdepth-arch';
import type { Graph, WeightMap } from '@fastdepth/graph-dsl';
import { beforeAll, describe, expect, it } from 'vitest';
import { emitWasm, type WasmArtifact } from './emit.js';
import { createWasmMemory, loadWasmModel } from './testing/load.js';
import { instantiate, randomInput, reference, relativeError, seededWeights } from './testing/harness.js';
import { runOnnx } from '@fastdepth/codegen-onnx/testing';
import { RUN_WORKER_SOURCE } from './testing/run-worker.js';

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
    expect([...layers].sort()).toEqual(graph.nodes.map((n) => n.name).sort());
    // The upsample and skip add are read-fused: listed with the depthwise conv that reads them.
    const stageOf = (layer: string): number =>
      artifact.manifest.stages.findIndex((s) => s.layers.includes(layer));
    expect(stageOf('decode_conv2_up')).toBe(stageOf('decode_conv3_dw'));
    expect(stageOf('skip2_add')).toBe(stageOf('decode_conv3_dw'));
    expect(stageOf('decode_conv2_pw')).toBe(stageOf('decode_conv3_dw') - 1);
    for (const s of artifact.manifest.stages.slice(1)) expect(s.macs, s.name).toBeGreaterThan(0);
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

  // Node 20 validates relaxed SIMD only behind --experimental-wasm-relaxed-simd, so the relaxed
  // modules run in a child Node with that flag (Chromium runs them natively: the wasm-engine's
  // browser tests cover them there).
  it('the relaxed-SIMD modules (FMA) match the reference within 1e-4 relative', () => {
    const dir = mkdtempSync(join(tmpdir(), 'codegen-wasm-relaxed-'));
    try {
      writeFileSync(join(dir, 'manifest.json'), JSON.stringify(artifact.manifest));
      writeFileSync(join(dir, 'relaxed.wasm'), artifact.modules.relaxed);
      writeFileSync(join(dir, 'relaxed-threads.wasm'), artifact.modules['relaxed-threads']);
      writeFileSync(join(dir, 'weights.bin'), artifact.weights);
      writeFileSync(join(dir, 'input.bin'), new Uint8Array(input.buffer, input.byteOffset, input.byteLength));
      const script = fileURLToPath(new URL('./testing/run-relaxed.ts', import.meta.url));
      execFileSync(process.execPath, ['--experimental-wasm-relaxed-simd', '--import', 'tsx', script, dir], {
        stdio: 'pipe',
      });
      for (const variant of ['relaxed', 'relaxed-threads']) {
        const out = new Float32Array(new Uint8Array(readFileSync(join(dir, `${variant}.out`))).buffer);
        const { rel, maxAbs } = relativeError(out, ref);
        expect(maxAbs).toBeGreaterThan(0.1);
        expect(rel, variant).toBeLessThan(1e-4);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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
        new Worker(RUN_WORKER_SOURCE, {
          eval: true,
          workerData: { module, memory, thread, threads, runs, control },
        }),
    );
    let failure: Error | undefined;
    const finished = workers.map(
      (w) =>
        new Promise<void>((resolve, reject) => {
          w.once('message', () => resolve());
          w.once('error', (e: Error) => {
            failure = e;
            reject(e);
          });
        }),
    );
    // Waits without blocking the event loop, so a worker's error is seen instead of a hang.
    const allReported = async (): Promise<void> => {
      const deadline = Date.now() + 60_000;
      while (Atomics.load(flags, 1) < threads) {
        if (failure) throw failure;
        if (Date.now() > deadline) throw new Error('workers did not finish within 60 s');
        await new Promise((r) => setTimeout(r, 1));
      }
    };
    try {
      for (let r = 0; r < runs; r++) {
        // A different input each run, so a stale output cannot pass.
        const x = r === runs - 1 ? input : randomInput([1, 3, 224, 224], 100 + r);
        host.writeInput(x);
        host.resetBarrier();
        Atomics.store(flags, 1, 0);
        Atomics.store(flags, 0, r + 1);
        Atomics.notify(flags, 0);
        await allReported();
      }
      await Promise.all(finished);
      expect(host.readOutput()).toEqual(output);
    } finally {
      await Promise.all(workers.map((w) => w.terminate()));
    }
  });
});
