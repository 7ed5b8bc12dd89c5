/**
 * Browser half of `bench/litert.ts`: one runtime at one thread count per page (the tfjs-wasm
 * and onnxruntime-web thread counts are fixed when they initialise), set up once, then timed one
 * inference at a time as the Node side asks, so that the runtimes' rounds interleave. Every
 * runtime sees the same 224x224 RGBA frame (`/litert-bench/frame.rgba`) and returns its depth
 * for the agreement check. LiteRT.js runs the paper's int8 TFLite file (its stale SignatureDef
 * marked absent, served from memory at `/litert-bench/model.tflite`) on its wasm (XNNPACK) CPU
 * path; its wasm builds are served from node_modules under `/wasm/litert/`.
 */
import { loadAndCompile, loadLiteRt, Tensor, type CompiledModel } from '@litertjs/core';
import { createDepthEstimator, type DepthEstimator, type ModelSource } from '@fastdepth/runtime-web';
// The onnx engine's runtime is an optional peer: registered on the page that runs it.
import '@fastdepth/runtime-web/onnx';
import { profileStages } from '../src/wasm-engine.js';
import type { LitertPageInfo, LitertPageSetup, LitertStageTime } from './litert-protocol.js';
import { manifestUrl, module, onnxUrl, wasmManifestUrl, wasmPaths } from 'virtual:demo-model';

/** One timed run: milliseconds from RGBA pixels to float depth (preprocessing and read-back included). */
type RunOnce = () => Promise<number>;

const SIZE = 224;
let run: RunOnce | undefined;
let last: Float32Array | undefined;

async function frame(): Promise<Uint8ClampedArray> {
  const response = await fetch('/litert-bench/frame.rgba');
  if (!response.ok) throw new Error(`/litert-bench/frame.rgba: HTTP ${response.status}`);
  return new Uint8ClampedArray(await response.arrayBuffer());
}

async function setupLitert(
  request: Extract<LitertPageSetup, { runtime: 'litert' }>,
  rgba: Uint8ClampedArray,
): Promise<LitertPageInfo> {
  // The threaded build needs SharedArrayBuffer: cross-origin isolation.
  const threaded = globalThis.crossOriginIsolated;
  await loadLiteRt('/wasm/litert/', { threads: threaded });
  const response = await fetch('/litert-bench/model.tflite');
  if (!response.ok) throw new Error(`/litert-bench/model.tflite: HTTP ${response.status}`);
  const model: CompiledModel = await loadAndCompile(new Uint8Array(await response.arrayBuffer()), {
    accelerator: 'wasm',
    cpuOptions: { numThreads: request.threads },
  });
  const [input] = model.getInputDetails();
  const [output] = model.getOutputDetails();
  if (input === undefined || output === undefined)
    throw new Error('LiteRT.js: the model has no input or output');
  const { scale, zeroPoint } = request.output;
  const rgb = new Uint8Array(SIZE * SIZE * 3);
  run = async () => {
    const start = performance.now();
    for (let p = 0; p < SIZE * SIZE; p++) {
      rgb[p * 3] = rgba[p * 4]!;
      rgb[p * 3 + 1] = rgba[p * 4 + 1]!;
      rgb[p * 3 + 2] = rgba[p * 4 + 2]!;
    }
    const tensor = new Tensor(rgb, [1, SIZE, SIZE, 3]);
    const outputs = await model.run(tensor);
    const q = outputs[0]!.toTypedArray();
    const depth = new Float32Array(q.length);
    for (let i = 0; i < q.length; i++) depth[i] = scale * (q[i]! - zeroPoint);
    tensor.delete();
    for (const t of outputs) t.delete();
    last = depth;
    return performance.now() - start;
  };
  return {
    threads: request.threads,
    detail: `${threaded ? 'threaded' : 'unthreaded'} wasm; input ${input.name} ${input.dtype} [${[...input.shape].join(', ')}], output ${output.name} ${output.dtype} [${[...output.shape].join(', ')}]`,
  };
}

async function setupEstimator(
  request: Exclude<LitertPageSetup, { runtime: 'litert' }>,
  rgba: Uint8ClampedArray,
): Promise<LitertPageInfo> {
  const model: ModelSource =
    request.runtime === 'tfjs'
      ? { engine: 'tfjs', module, weights: { manifestUrl } }
      : request.runtime === 'onnx'
        ? { engine: 'onnx', model: onnxUrl }
        : { engine: 'wasm', model: { manifestUrl: request.manifestUrl ?? wasmManifestUrl } };
  const estimator: DepthEstimator = await createDepthEstimator({
    model,
    backend: 'wasm',
    numThreads: request.threads,
    wasmPaths,
  });
  const image = { data: rgba, width: SIZE, height: SIZE };
  if (request.pair === true) {
    // Two independent 1-thread runs at once, in workers (the page's own thread would run them
    // one after the other): what two cores deliver for this work, no barrier or shared data.
    const estimators = await Promise.all(
      [0, 1].map(() =>
        createDepthEstimator({
          model,
          numThreads: 1,
          worker: new Worker(new URL('./depth-worker.ts', import.meta.url), { type: 'module' }),
        }),
      ),
    );
    run = async () => {
      const start = performance.now();
      const [first] = await Promise.all(estimators.map((e) => e.estimate(image)));
      last = first!.depth;
      return performance.now() - start;
    };
    return { threads: 2, detail: `pair: ${estimators[0]!.backendReason}, in two workers` };
  }
  run = async () => {
    const result = await estimator.estimate(image);
    last = result.depth;
    return result.latencyMs;
  };
  return { threads: estimator.threads, detail: estimator.backendReason };
}

async function setup(request: LitertPageSetup): Promise<LitertPageInfo> {
  const rgba = await frame();
  switch (request.runtime) {
    case 'litert':
      return setupLitert(request, rgba);
    case 'tfjs':
    case 'onnx':
    case 'wasm':
      return setupEstimator(request, rgba);
  }
}

async function runOnce(): Promise<number> {
  if (run === undefined) throw new Error('litert page: run before setup');
  return run();
}

/** The depth of the last run (metres, row-major 224x224). */
function lastDepth(): number[] {
  if (last === undefined) throw new Error('litert page: no run yet');
  return Array.from(last);
}

/** Each stage of a wasm build alone (`run_stage` over all its rows, one thread, median of `runs`). */
function stages(request: {
  readonly manifestUrl?: string;
  readonly runs: number;
}): Promise<LitertStageTime[]> {
  return profileStages(
    { engine: 'wasm', model: { manifestUrl: request.manifestUrl ?? wasmManifestUrl } },
    request.runs,
  );
}

Object.assign(globalThis, {
  litertSetup: setup,
  litertRun: runOnce,
  litertDepth: lastDepth,
  litertStages: stages,
});
document.getElementById('state')!.textContent = 'ready';
