/** `createDepthEstimator`: one API over both engines. */
import { DepthEstimatorError } from './errors.js';
import { toPixels } from './image.js';
import { createOnnxRunner } from './onnx-engine.js';
import { coverCrop, preprocess, type InputLayout } from './preprocess.js';
import { createTfjsRunner } from './tfjs-engine.js';
import type {
  BackendName,
  DepthEstimator,
  DepthEstimatorOptions,
  DepthResult,
  EngineName,
  ImageInput,
} from './types.js';

interface Runner {
  readonly backend: BackendName;
  readonly width: number;
  readonly height: number;
  run(input: Float32Array): Promise<Float32Array>;
  dispose(): void | Promise<void>;
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
    throw new DepthEstimatorError(`numThreads ${numThreads}: expected a positive integer`);
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
    default: {
      const never: never = model;
      throw new DepthEstimatorError(
        `unknown engine ${JSON.stringify((never as { engine: unknown }).engine)} (tfjs or onnx)`,
      );
    }
  }
  const { width, height } = runner;
  let queue: Promise<unknown> = Promise.resolve();
  let disposed = false;

  async function estimateNow(image: ImageInput): Promise<DepthResult> {
    if (disposed) throw new DepthEstimatorError('estimate: the estimator was disposed');
    const start = now();
    const pixels = toPixels(image);
    const input = preprocess(pixels, width, height, layout);
    const depth = await runner.run(input);
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
        crop: coverCrop(pixels.width, pixels.height, width, height),
      },
    };
  }

  return {
    engine,
    backend: runner.backend,
    width,
    height,
    estimate(image: ImageInput): Promise<DepthResult> {
      const result = queue.then(() => estimateNow(image));
      queue = result.catch(() => undefined);
      return result;
    },
    async dispose(): Promise<void> {
      if (disposed) return;
      disposed = true;
      await queue;
      await runner.dispose();
    },
  };
}
