/**
 * `@fastdepth/runtime-web/default-worker`: this package's estimation worker for wasm-engine
 * models (data). onnx models run in `startOnnxDepthWorker()` from `@fastdepth/runtime-web/onnx`,
 * which registers onnxruntime-web (an optional peer) inside its worker; a tfjs model's module is
 * code, so a tfjs page starts a worker of its own that calls `serveDepthWorker`. An entry of its
 * own so that only an app that imports it bundles the worker.
 */

/** Starts the package's wasm-engine worker: `createDepthEstimator({ model, worker: startDepthWorker() })`. */
export function startDepthWorker(): Worker {
  // This exact form lets bundlers (Vite, webpack 5, Parcel) emit the worker as its own chunk.
  return new Worker(new URL('./depth-worker.js', import.meta.url), { type: 'module' });
}
