/**
 * Timing a model as it is, on one engine and backend: what latency tables need. NetAdapt's
 * one-layer probes have any channel count (the image API `createDepthEstimator` takes 3-channel
 * images only) and must be timed without preprocessing or read-back where the backend computes
 * synchronously, exactly as the Node runner times them. Used by `@fastdepth/latency/browser`'s
 * measurement page; works in Node too (tfjs wasm/cpu, onnxruntime-web wasm).
 */
import * as tf from '@tensorflow/tfjs-core';
import { DepthEstimatorError } from './errors.js';
import { selectTfjsBackend } from './tfjs-engine.js';
import { onnxWebRuntime } from './onnx-engine.js';
import type { BackendName, TfjsModelModule, WasmPaths, WeightsManifestLike } from './types.js';

/** What `timeModel` times: a generated tfjs module with its weights, or ONNX bytes. */
export type TimedModel =
  | {
      readonly engine: 'tfjs';
      readonly module: TfjsModelModule;
      readonly manifest: WeightsManifestLike;
      readonly weights: ArrayBuffer;
    }
  | { readonly engine: 'onnx'; readonly model: Uint8Array };

export interface TimeModelOptions {
  /** tfjs: webgpu, webgl, wasm, cpu; onnx: wasm or webgpu (onnxruntime-web). */
  readonly backend: BackendName;
  /** wasm threads (the page must be cross-origin isolated for more than 1). */
  readonly numThreads?: number;
  readonly wasmPaths?: WasmPaths;
  /** Input shape, NCHW as the graph declares it (tfjs gets the NHWC transpose). */
  readonly inputShape: readonly number[];
  readonly warmup?: number;
  readonly runs?: number;
}

export interface TimeModelResult {
  /** Milliseconds of each timed run, in order. */
  readonly times: number[];
  readonly backend: BackendName;
  /** Threads the backend actually runs on. */
  readonly threads: number;
}

/** Input values: deterministic, in [0, 1). */
function inputData(size: number): Float32Array {
  return Float32Array.from({ length: size }, (_, i) => (i % 97) / 97);
}

/**
 * Times `model`: `warmup` untimed runs, then `runs` timed ones. tfjs wasm and cpu compute
 * synchronously, so a run ends when `predict` returns and the output is not downloaded (a
 * download per one-layer network would be a cost the whole network pays once); webgl and
 * webgpu queue work, so each run waits for its output (`data()`), also for an identity network,
 * which keeps the table's per-layer overhead subtraction consistent. onnxruntime-web always
 * hands back CPU tensors.
 */
export async function timeModel(model: TimedModel, options: TimeModelOptions): Promise<TimeModelResult> {
  const shape = options.inputShape;
  if (shape.length !== 4 || shape.some((d) => !Number.isInteger(d) || d < 1))
    throw new DepthEstimatorError(
      `timeModel: input shape [${shape.join(', ')}], expected NCHW`,
      'BAD_OPTION',
    );
  const warmup = options.warmup ?? 2;
  const runs = options.runs ?? 5;
  const numThreads = options.numThreads ?? 1;
  const times: number[] = [];
  const size = shape.reduce((a, b) => a * b, 1);
  if (model.engine === 'tfjs') {
    const { backend } = await selectTfjsBackend(options.backend, numThreads, options.wasmPaths);
    const threads =
      backend === 'wasm' ? (await import('@tensorflow/tfjs-backend-wasm')).getThreadsCount() : 1;
    const sync = backend === 'wasm' || backend === 'cpu';
    const weights = model.module.loadWeights(model.manifest, model.weights);
    const [n, c, h, w] = shape as [number, number, number, number];
    // NCHW data read as NHWC: the values are arbitrary anyway, only the shape matters.
    const x = tf.tensor4d(inputData(size), [n, h, w, c], 'float32');
    const run = async (): Promise<void> => {
      const y = model.module.predict(x, weights);
      if (!sync) await y.data();
      // An identity network hands back its input.
      if (y !== x) y.dispose();
    };
    try {
      for (let i = 0; i < warmup; i++) await run();
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        await run();
        times.push(performance.now() - t0);
      }
    } finally {
      x.dispose();
      model.module.dispose(weights);
    }
    return { times, backend, threads };
  }
  if (options.backend !== 'wasm' && options.backend !== 'webgpu')
    throw new DepthEstimatorError(
      `timeModel: the onnx engine runs on wasm or webgpu, not ${options.backend}`,
      'BAD_OPTION',
    );
  const ort = await onnxWebRuntime();
  ort.env.wasm.numThreads = numThreads;
  if (options.wasmPaths?.onnx !== undefined) ort.env.wasm.wasmPaths = options.wasmPaths.onnx;
  const session = await ort.InferenceSession.create(model.model, { executionProviders: [options.backend] });
  try {
    const feeds = { [session.inputNames[0]!]: new ort.Tensor('float32', inputData(size), [...shape]) };
    const run = async (): Promise<void> => {
      const out = await session.run(feeds);
      for (const t of Object.values(out)) t.dispose();
    };
    for (let i = 0; i < warmup; i++) await run();
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await run();
      times.push(performance.now() - t0);
    }
  } finally {
    await session.release();
  }
  // onnxruntime-web clamps to 1 thread without cross-origin isolation.
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  return { times, backend: options.backend, threads: isolated ? numThreads : 1 };
}

/**
 * Initialises `backend` for `engine` as `timeModel` will use it and says how many threads it
 * runs on (a page registers that before it times anything). Throws when it does not initialise.
 */
export async function prepareTimingBackend(
  engine: 'tfjs' | 'onnx',
  backend: BackendName,
  numThreads: number,
  wasmPaths?: WasmPaths,
): Promise<{ backend: BackendName; threads: number }> {
  if (engine === 'tfjs') {
    await selectTfjsBackend(backend, numThreads, wasmPaths);
    const threads =
      backend === 'wasm' ? (await import('@tensorflow/tfjs-backend-wasm')).getThreadsCount() : 1;
    return { backend, threads };
  }
  if (backend !== 'wasm' && backend !== 'webgpu')
    throw new DepthEstimatorError(`the onnx engine runs on wasm or webgpu, not ${backend}`, 'BAD_OPTION');
  if (backend === 'webgpu' && (typeof navigator === 'undefined' || !('gpu' in navigator)))
    throw new DepthEstimatorError('WebGPU is not available here', 'UNSUPPORTED');
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  return { backend, threads: backend === 'wasm' && isolated ? numThreads : 1 };
}
