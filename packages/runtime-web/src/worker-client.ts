/**
 * The page's side of a worker-backed estimator: the same `DepthEstimator` interface, each call
 * a message to the worker that owns the runtime (worker.ts). Browser images become an
 * `ImageBitmap` or `VideoFrame` that is transferred (no pixel copy through the page); pixel
 * buffers are copied once into a buffer that is transferred.
 */
import { DepthEstimatorError } from './errors.js';
import { checkPixels } from './image.js';
import type { Fit } from './preprocess.js';
import { startDepthStream } from './stream.js';
import type {
  DepthEstimator,
  DepthEstimatorOptions,
  DepthResult,
  EstimateOptions,
  ImageInput,
  Location,
  ModelSource,
  PixelBuffer,
  PreparedRgb,
} from './types.js';
import type { InitMessage, ReplyMessage, RequestMessage, WorkerImage } from './worker-protocol.js';

/** A page-relative URL means the page's URL, not the worker script's: resolved before posting. */
function absolute(location: Location): Location {
  if (location instanceof URL) return location.href;
  if (typeof location === 'string' && typeof document !== 'undefined')
    return new URL(location, document.baseURI).href;
  return location;
}

function absolutePrefix(prefix: string | undefined): string | undefined {
  return prefix === undefined ? undefined : (absolute(prefix) as string);
}

function postable(model: ModelSource): InitMessage['model'] {
  switch (model.engine) {
    case 'tfjs': {
      const { weights } = model;
      return {
        engine: 'tfjs',
        arch: model.module.MODEL_INFO.arch,
        weights:
          'manifest' in weights
            ? weights
            : {
                manifestUrl: absolute(weights.manifestUrl),
                ...(weights.weightsUrl === undefined ? {} : { weightsUrl: absolute(weights.weightsUrl) }),
              },
      };
    }
    case 'onnx': {
      const m = model.model;
      return { engine: 'onnx', model: m instanceof Uint8Array || m instanceof ArrayBuffer ? m : absolute(m) };
    }
    case 'wasm': {
      const files = model.model;
      if ('manifest' in files) return model;
      const moduleUrls =
        files.moduleUrls === undefined
          ? undefined
          : Object.fromEntries(Object.entries(files.moduleUrls).map(([k, v]) => [k, absolute(v)]));
      return {
        engine: 'wasm',
        model: {
          ...files,
          manifestUrl: absolute(files.manifestUrl),
          ...(moduleUrls === undefined ? {} : { moduleUrls }),
          ...(files.weightsUrl === undefined ? {} : { weightsUrl: absolute(files.weightsUrl) }),
        },
      };
    }
  }
}

function isPixelBuffer(image: ImageInput): image is PixelBuffer | ImageData {
  return typeof image === 'object' && image !== null && 'data' in image;
}

const hasVideoFrame = typeof VideoFrame !== 'undefined';

/** The size a browser image source will be read at, with the errors `toPixels` gives. */
function checkDrawable(image: Exclude<ImageInput, PixelBuffer | ImageData>): void {
  let width: number;
  let height: number;
  if (typeof HTMLVideoElement !== 'undefined' && image instanceof HTMLVideoElement)
    [width, height] = [image.videoWidth, image.videoHeight];
  else if (typeof HTMLImageElement !== 'undefined' && image instanceof HTMLImageElement) {
    if (!image.complete)
      throw new DepthEstimatorError('estimate: the image element has not finished loading', 'BAD_IMAGE');
    [width, height] = [image.naturalWidth, image.naturalHeight];
  } else if (hasVideoFrame && image instanceof VideoFrame)
    [width, height] = [image.displayWidth, image.displayHeight];
  else {
    const sized = image as Exclude<typeof image, VideoFrame>;
    [width, height] = [sized.width, sized.height];
  }
  if (!(width > 0 && height > 0))
    throw new DepthEstimatorError(
      `estimate: image source is ${width}x${height} (a video without a frame yet, or an image that failed to load?)`,
      'BAD_IMAGE',
    );
}

/**
 * `image` as something to transfer: a pixel buffer copied into its own buffer, a frame handed
 * over (`transfer`) or cloned, any other source captured as a `VideoFrame` (a `<video>`, no copy
 * of its pixels) or an `ImageBitmap`.
 */
async function toWorkerImage(image: ImageInput, transfer: boolean): Promise<[WorkerImage, Transferable[]]> {
  if (image === null || typeof image !== 'object')
    throw new DepthEstimatorError('estimate: expected an image, got ' + String(image), 'BAD_IMAGE');
  if (isPixelBuffer(image)) {
    const checked = checkPixels(image);
    const data = new Uint8Array(checked.data);
    return [{ ...checked, data }, [data.buffer]];
  }
  checkDrawable(image);
  if (hasVideoFrame && image instanceof VideoFrame) {
    const frame = transfer ? image : image.clone();
    return [frame, [frame]];
  }
  if (typeof ImageBitmap !== 'undefined' && image instanceof ImageBitmap && transfer) return [image, [image]];
  if (hasVideoFrame && typeof HTMLVideoElement !== 'undefined' && image instanceof HTMLVideoElement) {
    const frame = new VideoFrame(image);
    return [frame, [frame]];
  }
  const bitmap = await createImageBitmap(image);
  return [bitmap, [bitmap]];
}

/** Starts `options.worker` on `options` and returns the estimator that talks to it. */
export async function createWorkerEstimator(
  options: DepthEstimatorOptions,
  numThreads: number,
  fit: Fit,
): Promise<DepthEstimator> {
  if (typeof Worker === 'undefined')
    throw new DepthEstimatorError(
      'worker: Web Workers are not available here (in Node the estimator runs on the calling thread: omit worker)',
      'UNSUPPORTED',
    );
  const given = options.worker;
  if (!(given instanceof Worker))
    throw new DepthEstimatorError(
      'worker: expected a module Worker: startDepthWorker() from @fastdepth/runtime-web/default-worker (wasm models), startOnnxDepthWorker() from @fastdepth/runtime-web/onnx (onnx and wasm models), or your own whose script calls serveDepthWorker({ tfjs: [module] }) from @fastdepth/runtime-web/worker',
      'BAD_OPTION',
    );
  const worker: Worker = given;
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let nextId = 1;
  let broken: Error | undefined;
  const fail = (error: Error): void => {
    broken ??= error;
    for (const p of pending.values()) p.reject(broken);
    pending.clear();
  };
  const ready = new Promise<ReplyMessage & { type: 'ready' }>((resolve, reject) => {
    worker.onmessage = (event: MessageEvent<ReplyMessage>) => {
      const message = event.data;
      switch (message.type) {
        case 'ready':
          resolve(message);
          return;
        case 'failed':
          reject(new DepthEstimatorError(message.error.message, message.error.code));
          return;
        case 'result':
          pending.get(message.id)?.resolve(message.result);
          break;
        case 'disposed':
          pending.get(message.id)?.resolve(undefined);
          break;
        case 'error':
          pending.get(message.id)?.reject(new DepthEstimatorError(message.error.message, message.error.code));
          break;
      }
      pending.delete(message.id);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      const error = new DepthEstimatorError(
        `worker failed: ${event.message || 'its script did not load (is it served, and a module worker?)'}`,
        'INFERENCE_FAILED',
      );
      reject(error);
      fail(error);
    };
  });
  const init: InitMessage = {
    type: 'init',
    model: postable(options.model),
    ...(options.backend === undefined ? {} : { backend: options.backend }),
    numThreads,
    ...(options.wasmPaths === undefined
      ? {}
      : {
          wasmPaths: {
            ...(options.wasmPaths.tfjs === undefined
              ? {}
              : { tfjs: absolutePrefix(options.wasmPaths.tfjs)! }),
            ...(options.wasmPaths.onnx === undefined
              ? {}
              : { onnx: absolutePrefix(options.wasmPaths.onnx)! }),
          },
        }),
    fit,
  };
  worker.postMessage(init);
  let info;
  try {
    ({ info } = await ready);
  } catch (error) {
    worker.terminate();
    throw error;
  }
  let disposed = false;
  function request<T>(message: RequestMessage, transfer: Transferable[] = []): Promise<T> {
    if (broken !== undefined) return Promise.reject(broken);
    return new Promise<T>((resolve, reject) => {
      pending.set(message.id, { resolve: resolve as (value: unknown) => void, reject });
      worker.postMessage(message, transfer);
    });
  }
  const estimator: DepthEstimator = {
    ...info,
    inWorker: true,
    fit,
    async estimate(image: ImageInput, estimateOptions?: EstimateOptions): Promise<DepthResult> {
      if (disposed) throw new DepthEstimatorError('estimate: the estimator was disposed', 'DISPOSED');
      const start = performance.now();
      const [posted, transfer] = await toWorkerImage(image, estimateOptions?.transfer === true);
      const result = await request<DepthResult>({ type: 'estimate', id: nextId++, image: posted }, transfer);
      // The page's view: capture, posting and the round trip included.
      return { ...result, latencyMs: performance.now() - start };
    },
    async estimateRgb(rgb: PreparedRgb): Promise<DepthResult> {
      if (disposed) throw new DepthEstimatorError('estimateRgb: the estimator was disposed', 'DISPOSED');
      const data = new Float32Array(rgb.data);
      return request<DepthResult>(
        { type: 'estimateRgb', id: nextId++, rgb: { width: rgb.width, height: rgb.height, data } },
        [data.buffer],
      );
    },
    stream: (source, onDepth, streamOptions) => startDepthStream(estimator, source, onDepth, streamOptions),
    async dispose(): Promise<void> {
      if (disposed) return;
      disposed = true;
      try {
        if (broken === undefined) await request({ type: 'dispose', id: nextId++ });
      } finally {
        worker.terminate();
        fail(new DepthEstimatorError('the estimator was disposed', 'DISPOSED'));
      }
    },
  };
  return estimator;
}
