/**
 * `@fastdepth/runtime-web/default-worker`: this package's estimation worker, for onnx and wasm
 * models (data; a tfjs model's module is code, so a tfjs page starts a worker of its own that
 * calls `serveDepthWorker`). An entry of its own so that only an app that imports it bundles the
 * worker (the runtimes inside it are megabytes).
 */

/** Starts the package's worker: `createDepthEstimator({ model, worker: startDepthWorker() })`. */
export function startDepthWorker(): Worker {
  // This exact form lets bundlers (Vite, webpack 5, Parcel) emit the worker as its own chunk.
  return new Worker(new URL('./depth-worker.js', import.meta.url), { type: 'module' });
}
