/**
 * `@fastdepth/runtime-web/worker`: the worker side of `createDepthEstimator({ worker })`. The
 * worker owns the runtime (tfjs, onnxruntime-web or the wasm engine, whose own threads it starts
 * as nested workers), so the page's thread only posts frames and receives depth maps.
 *
 * ```js
 * // depth-worker.js, started by the page as new Worker(new URL('./depth-worker.js', import.meta.url), { type: 'module' })
 * import { serveDepthWorker } from '@fastdepth/runtime-web/worker';
 * import * as model from './model/tfjs/fastdepth-pruned.js';
 * serveDepthWorker({ tfjs: [model] });
 * ```
 */
import { createDepthEstimator } from './estimator.js';
import { DepthEstimatorError } from './errors.js';
import { toPixels } from './image.js';
import type { DepthEstimator, ModelSource, TfjsModelModule } from './types.js';
import type { ErrorInfo, InitMessage, ReplyMessage, RequestMessage, WorkerImage } from './worker-protocol.js';

/** What a worker can run besides onnx and wasm models (which are data): generated tfjs modules. */
export interface DepthWorkerOptions {
  /** The tfjs modules this worker may run, found by their `MODEL_INFO.arch`. */
  readonly tfjs?: readonly TfjsModelModule[];
}

interface WorkerScope {
  onmessage: ((event: MessageEvent) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
}

function errorInfo(error: unknown): ErrorInfo {
  return error instanceof DepthEstimatorError
    ? { message: error.message, code: error.code }
    : { message: (error as Error).message ?? String(error), code: 'INFERENCE_FAILED' };
}

/** A depth map in a buffer of its own, which can be transferred (not a view into a wasm memory). */
function owned<T extends { depth: Float32Array }>(result: T): T {
  const { depth } = result;
  const alone =
    depth.byteOffset === 0 &&
    depth.buffer.byteLength === depth.byteLength &&
    !(typeof SharedArrayBuffer !== 'undefined' && depth.buffer instanceof SharedArrayBuffer);
  return alone ? result : { ...result, depth: depth.slice() };
}

function isClosable(image: WorkerImage): image is ImageBitmap | VideoFrame {
  return typeof (image as { close?: unknown }).close === 'function';
}

/** Serves the estimator protocol on this worker's global scope (call once, at the top level). */
export function serveDepthWorker(options: DepthWorkerOptions = {}): void {
  const scope = globalThis as unknown as WorkerScope;
  if (
    typeof scope.postMessage !== 'function' ||
    typeof (globalThis as { document?: unknown }).document !== 'undefined'
  )
    throw new DepthEstimatorError('serveDepthWorker: call it in a Web Worker script', 'UNSUPPORTED');
  let estimator: DepthEstimator | undefined;
  const reply = (message: ReplyMessage, transfer: Transferable[] = []): void =>
    scope.postMessage(message, transfer);

  async function init(message: InitMessage): Promise<void> {
    let model: ModelSource;
    if (message.model.engine === 'tfjs') {
      const { arch, weights } = message.model;
      const module = options.tfjs?.find((m) => m.MODEL_INFO.arch === arch);
      if (module === undefined) {
        const known = (options.tfjs ?? []).map((m) => m.MODEL_INFO.arch);
        throw new DepthEstimatorError(
          `worker: no tfjs module for arch "${arch}" here (${known.length === 0 ? 'this worker has none: start your own worker that calls serveDepthWorker({ tfjs: [module] })' : `it has ${known.join(', ')}`})`,
          'BAD_OPTION',
        );
      }
      model = { engine: 'tfjs', module, weights };
    } else model = message.model;
    estimator = await createDepthEstimator({
      model,
      ...(message.backend === undefined ? {} : { backend: message.backend }),
      numThreads: message.numThreads,
      ...(message.wasmPaths === undefined ? {} : { wasmPaths: message.wasmPaths }),
      fit: message.fit,
    });
    const { engine, backend, backendReason, threads, width, height } = estimator;
    reply({ type: 'ready', info: { engine, backend, backendReason, threads, width, height } });
  }

  async function handle(message: RequestMessage): Promise<void> {
    try {
      if (estimator === undefined)
        throw new DepthEstimatorError('worker: not initialised', 'INFERENCE_FAILED');
      switch (message.type) {
        case 'estimate': {
          const { image } = message;
          let pixels;
          try {
            pixels = toPixels(image);
          } finally {
            if (isClosable(image)) image.close();
          }
          const result = owned(await estimator.estimate(pixels));
          reply({ type: 'result', id: message.id, result }, [result.depth.buffer]);
          return;
        }
        case 'estimateRgb': {
          const result = owned(await estimator.estimateRgb(message.rgb));
          reply({ type: 'result', id: message.id, result }, [result.depth.buffer]);
          return;
        }
        case 'dispose':
          await estimator.dispose();
          reply({ type: 'disposed', id: message.id });
          return;
      }
    } catch (error) {
      reply({ type: 'error', id: message.id, error: errorInfo(error) });
    }
  }

  scope.onmessage = (event) => {
    const message = event.data as InitMessage | RequestMessage;
    if (message.type === 'init') {
      init(message).catch((error: unknown) => reply({ type: 'failed', error: errorInfo(error) }));
    } else void handle(message);
  };
}
