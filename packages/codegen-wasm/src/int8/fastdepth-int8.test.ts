/**
 * Whole networks in int8: fastdepth-pruned at 224x224 with random int8 weights (calibrated so
 * every layer uses its range) bit-exact against graph-dsl's `executeQuantized`, on one thread and on two
 * worker_threads sharing the memory (the trained model: `trained.test.ts`); BLConv decoders
 * (bilinear x2 stages) and a MobileNetV3-style network (fastdepth-arch's inverted residuals with
 * squeeze-excite and hard-swish; the family has no such member yet) after post-training
 * quantisation of seeded weights, the same ways.
 */
import { Worker } from 'node:worker_threads';
import { buildArch, convBn, invertedResidual } from '@fastdepth/fastdepth-arch';
import { foldBatchNorm, GraphBuilder, quantizeModel, type Graph } from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { randomInput, seededWeights } from '../testing/harness.js';
import { randomQuantizedModel } from '../testing/int8-reference.js';
import { executeInt8 } from '../testing/trained-int8.js';
import { createWasmMemory, loadWasmModel } from '../testing/load.js';
import { RUN_WORKER_SOURCE } from '../testing/run-worker.js';
import { runThreaded } from '../testing/threaded.js';
import { emitWasmInt8 } from './emit.js';

describe('fastdepth-pruned 224x224 in int8', () => {
  const graph = buildArch('fastdepth-pruned', { inputSize: 224 });
  const folded = foldBatchNorm({ graph, weights: seededWeights(graph, 1) }).graph;
  const x = randomInput([1, 3, 224, 224], 3);
  const model = randomQuantizedModel(folded, 4, randomInput([1, 3, 224, 224], 2));
  const want = executeInt8(model, x);
  const artifact = emitWasmInt8(model, { maxThreads: 2 });
  const n = 224 * 224;
  const outInt8 = (memory: WebAssembly.Memory): Int8Array =>
    new Int8Array(memory.buffer, artifact.manifest.quantization!.outputInt8.byteOffset, n).slice();

  it('one thread: the int8 output equals the reference bit for bit; the weights are int8', async () => {
    expect(new Set(want).size).toBeGreaterThan(30);
    const memory = createWasmMemory(artifact.manifest, false) as WebAssembly.Memory;
    const m = await loadWasmModel(artifact.manifest, artifact.modules.simd, artifact.weights, { memory });
    m.runSingleThread(x);
    expect(outInt8(memory)).toEqual(want);
    // ~1 byte per parameter: under 1.6 MB for fastdepth-pruned's 1.3 M weights.
    expect(artifact.weights.byteLength).toBeLessThan(1.6e6);
  });

  it('two worker_threads on shared memory: the same integers, three runs', async () => {
    const memory = createWasmMemory(artifact.manifest, true) as WebAssembly.Memory;
    const host = await loadWasmModel(artifact.manifest, artifact.modules['simd-threads'], artifact.weights, {
      memory,
    });
    host.writeInput(x);
    const module = await WebAssembly.compile(artifact.modules['simd-threads']);
    const control = new SharedArrayBuffer(8);
    const flags = new Int32Array(control);
    const runs = 3;
    const workers = [0, 1].map(
      (thread) =>
        new Worker(RUN_WORKER_SOURCE, {
          eval: true,
          workerData: { module, memory, thread, threads: 2, runs, control },
        }),
    );
    const done = workers.map((w) => new Promise((resolve) => w.once('message', resolve)));
    for (let r = 0; r < runs; r++) {
      host.resetBarrier();
      new Int8Array(memory.buffer, artifact.manifest.quantization!.outputInt8.byteOffset, n).fill(0);
      Atomics.store(flags, 0, r + 1);
      Atomics.notify(flags, 0);
      while (Atomics.load(flags, 1) < 2 * (r + 1)) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(outInt8(memory)).toEqual(want);
    }
    await Promise.all(done);
    await Promise.all(workers.map((w) => w.terminate()));
  });
});

describe('BLConv decoders in int8 (bilinear x2 stages): post-training quantisation, 64x64', () => {
  it.each([
    ['mobilenet-blconv5dw-skipadd', 'tflite'],
    ['mobilenet-blconv5dw-skipadd', 'xnnpack'],
  ] as const)(
    '%s, %s arithmetic: one thread and two worker_threads equal executeQuantized, 0 outputs differ',
    async (arch, arithmetic) => {
      const graph = buildArch(arch, { inputSize: 64 });
      const calibration = [5, 6].map((seed) => ({
        shape: [1, 3, 64, 64],
        data: randomInput([1, 3, 64, 64], seed),
      }));
      const ptq = quantizeModel(graph, seededWeights(graph, 2), calibration);
      const model = {
        ...ptq,
        graph: { ...ptq.graph, quantization: { ...ptq.graph.quantization, arithmetic } },
      };
      const artifact = emitWasmInt8(model, { maxThreads: 2 });
      expect(artifact.manifest.stages.filter((s) => s.name.endsWith('_up')).length).toBe(5);
      const x = randomInput([1, 3, 64, 64], 7);
      const want = executeInt8(model, x);
      expect(new Set(want).size).toBeGreaterThan(30);
      const memory = createWasmMemory(artifact.manifest, false) as WebAssembly.Memory;
      const m = await loadWasmModel(artifact.manifest, artifact.modules.simd, artifact.weights, { memory });
      const floats = m.runSingleThread(x);
      const got = new Int8Array(
        memory.buffer,
        artifact.manifest.quantization!.outputInt8.byteOffset,
        64 * 64,
      );
      expect(want.filter((q, i) => q !== got[i]).length).toBe(0);
      const [threaded] = await runThreaded(artifact, [x], 2);
      expect(threaded).toEqual(floats);
    },
  );
});

/**
 * A MobileNetV3-style depth network from fastdepth-arch's blocks: hard-swish stem, inverted
 * residuals with squeeze-excite (global pool, 1x1 + relu, 1x1 + hard-sigmoid, per-channel mul)
 * and hard-swish, an average pool and a clip, two nearest x2 decoder blocks and a 1x1 head.
 */
function mobilenetV3Depth(size: number): Graph {
  const g = new GraphBuilder('mobilenetv3-depth');
  const x = g.input('input', [1, 3, size, size]);
  let y = convBn(g, 'stem', x, { outChannels: 16, kernel: 3, stride: 2, act: 'hardSwish' });
  y = invertedResidual(g, 'b1', y, {
    outChannels: 16,
    expandRatio: 1,
    stride: 2,
    act: 'relu',
    squeezeExcite: true,
  });
  y = invertedResidual(g, 'b2', y, { outChannels: 24, expandRatio: 4, stride: 2, act: 'relu' });
  y = invertedResidual(g, 'b3', y, {
    outChannels: 24,
    expandRatio: 3,
    kernel: 5,
    act: 'hardSwish',
    squeezeExcite: true,
  });
  y = g.clip(
    'pool_clip',
    g.avgPool2d('pool', y, { kernel: 3, stride: 1, pads: 1, countIncludePad: false }),
    -3,
    3,
  );
  y = g.upsample('up', convBn(g, 'dec', y, { outChannels: 12, kernel: 3, act: 'relu6' }), 'nearest');
  y = g.upsample('up2', convBn(g, 'dec2', y, { outChannels: 8, kernel: 3, act: 'relu' }), 'nearest');
  g.output('depth', g.conv2d('head', y, { outChannels: 1, kernel: 1, bias: true }));
  return g.build();
}

describe('a MobileNetV3-style network in int8: post-training quantisation, 64x64', () => {
  it.each(['tflite', 'xnnpack'] as const)(
    '%s: one thread and two worker_threads equal executeQuantized, 0 outputs differ',
    async (arithmetic) => {
      const graph = mobilenetV3Depth(64);
      const calibration = [5, 6].map((seed) => ({
        shape: [1, 3, 64, 64],
        data: randomInput([1, 3, 64, 64], seed),
      }));
      const ptq = quantizeModel(graph, seededWeights(graph, 2), calibration);
      const model = {
        ...ptq,
        graph: { ...ptq.graph, quantization: { ...ptq.graph.quantization, arithmetic } },
      };
      const artifact = emitWasmInt8(model, { maxThreads: 2 });
      const kinds = new Set(artifact.manifest.stages.map((s) => s.kind));
      for (const kind of ['gap', 'map', 'pool']) expect(kinds.has(kind), kind).toBe(true);
      const x = randomInput([1, 3, 64, 64], 7);
      const want = executeInt8(model, x);
      expect(new Set(want).size).toBeGreaterThan(30);
      const memory = createWasmMemory(artifact.manifest, false) as WebAssembly.Memory;
      const m = await loadWasmModel(artifact.manifest, artifact.modules.simd, artifact.weights, { memory });
      const floats = m.runSingleThread(x);
      const [, , oh, ow] = artifact.manifest.output.shape;
      const got = new Int8Array(
        memory.buffer,
        artifact.manifest.quantization!.outputInt8.byteOffset,
        oh * ow,
      );
      expect(want.filter((q, i) => q !== got[i]).length).toBe(0);
      const [threaded] = await runThreaded(artifact, [x], 2);
      expect(threaded).toEqual(floats);
    },
  );
});
