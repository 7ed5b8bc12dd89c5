/** `createDepthEstimator`: one API over every engine. */
import { DepthEstimatorError } from './errors.js';
import { toPixels } from './image.js';
import { createOnnxRunner } from './onnx-engine.js';
import { inputRegion, preprocess, type Fit, type InputLayout } from './preprocess.js';
import { startDepthStream } from './stream.js';
import { createTfjsRunner } from './tfjs-engine.js';
import { createWasmRunner } from './wasm-engine.js';
import { createWorkerEstimator } from './worker-client.js';
import type {
  BackendName,
  DepthEstimator,
  DepthEstimatorOptions,
  DepthResult,
  EngineName,
  EstimateOptions,
  ImageInput,
  PixelBuffer,
  PreparedRgb,
} from './types.js';

interface Runner {
  readonly backend: BackendName;
  readonly backendReason: string;
  readonly threads: number;
  readonly width: number;
  readonly height: number;
  run(input: Float32Array): Promise<Float32Array>;
  /** Preprocessing and inference in one (the wasm engine: preprocessing in its threads). */
  runPixels?(pixels: PixelBuffer, fit: Fit): Promise<Float32Array>;
  dispose(): void | Promise<void>;
}

function hwcToChw(hwc: Float32Array, plane: number): Float32Array {
  const chw = new Float32Array(hwc.length);
  for (let p = 0; p < plane; p++) {
    chw[p] = hwc[p * 3]!;
    chw[plane + p] = hwc[p * 3 + 1]!;
    chw[2 * plane + p] = hwc[p * 3 + 2]!;
  }
  return chw;
}

const now = (): number => (typeof performance === 'undefined' ? Date.now() : performance.now());

/**
 * Loads `options.model` on a backend (the one named, or the first that initialises) and
 * returns an estimator. See the README for the model sources of each engine.
 */
export async function createDepthEstimator(options: DepthEstimatorOptions): Promise<DepthEstimator> {
  const { model, backend, wasmPaths } = options;
  const numThreads = options.numThreads ?? 1;
  if (!Number.isInteger(numThreads) || numThreads < 1)
    throw new DepthEstimatorError(`numThreads ${numThreads}: expected a positive integer`, 'BAD_OPTION');
  const fit: Fit = options.fit ?? 'cover';
  if (fit !== 'cover' && fit !== 'fill')
    throw new DepthEstimatorError(`fit ${JSON.stringify(fit)}: expected "cover" or "fill"`, 'BAD_OPTION');
  if (options.worker !== undefined) return createWorkerEstimator(options, numThreads, fit);
  let runner: Runner;
  let layout: InputLayout;
  const engine: EngineName = model.engine;
  switch (model.engine) {
    case 'tfjs':
      runner = await createTfjsRunner(model, backend, numThreads, wasmPaths);
      layout = 'nhwc';
      break;
    case 'onnx':
      runner = await createOnnxRunner(model, backend, numThreads, wasmPaths);
      layout = 'nchw';
      break;
    case 'wasm':
      runner = await createWasmRunner(model, backend, numThreads);
      layout = 'nchw';
      break;
    default: {
      const never: never = model;
      throw new DepthEstimatorError(
        `unknown engine ${JSON.stringify((never as { engine: unknown }).engine)} (tfjs, onnx or wasm)`,
        'BAD_OPTION',
      );
    }
  }
  const { width, height } = runner;
  let queue: Promise<unknown> = Promise.resolve();
  let disposed = false;

  async function estimateNow(image: ImageInput, estimateOptions?: EstimateOptions): Promise<DepthResult> {
    if (disposed) throw new DepthEstimatorError('estimate: the estimator was disposed', 'DISPOSED');
    const start = now();
    let pixels: PixelBuffer;
    try {
      pixels = toPixels(image);
    } finally {
      // A frame handed over is done with once read.
      if (estimateOptions?.transfer === true && typeof (image as { close?: unknown }).close === 'function')
        (image as ImageBitmap).close();
    }
    const depth =
      runner.runPixels !== undefined && layout === 'nchw'
        ? await runner.runPixels(pixels, fit)
        : await runner.run(preprocess(pixels, width, height, layout, fit));
    return {
      depth,
      width,
      height,
      backend: runner.backend,
      engine,
      latencyMs: now() - start,
      source: {
        width: pixels.width,
        height: pixels.height,
        crop: inputRegion(pixels.width, pixels.height, width, height, fit),
      },
    };
  }

  async function estimateRgbNow(rgb: PreparedRgb): Promise<DepthResult> {
    if (disposed) throw new DepthEstimatorError('estimateRgb: the estimator was disposed', 'DISPOSED');
    if (rgb.width !== width || rgb.height !== height || rgb.data.length !== width * height * 3) {
      throw new DepthEstimatorError(
        `estimateRgb: input ${rgb.width}x${rgb.height} with ${rgb.data.length} values, the network takes ${width}x${height}x3`,
        'BAD_INPUT',
      );
    }
    const start = now();
    const depth = await runner.run(layout === 'nhwc' ? rgb.data : hwcToChw(rgb.data, width * height));
    return {
      depth,
      width,
      height,
      backend: runner.backend,
      engine,
      latencyMs: now() - start,
      source: { width, height, crop: { x: 0, y: 0, width, height } },
    };
  }

  function serialised<T>(work: () => Promise<T>): Promise<T> {
    const result = queue.then(work);
    queue = result.catch(() => undefined);
    return result;
  }

  const estimator: DepthEstimator = {
    engine,
    backend: runner.backend,
    backendReason: runner.backendReason,
    threads: runner.threads,
    inWorker: false,
    fit,
    width,
    height,
    estimate: (image: ImageInput, estimateOptions?: EstimateOptions) =>
      serialised(() => estimateNow(image, estimateOptions)),
    estimateRgb: (rgb: PreparedRgb) => serialised(() => estimateRgbNow(rgb)),
    stream: (source, onDepth, streamOptions) => startDepthStream(estimator, source, onDepth, streamOptions),
    async dispose(): Promise<void> {
      if (disposed) return;
      disposed = true;
      await queue;
      await runner.dispose();
    },
  };
  return estimator;
}
