/**
 * `@fastdepth/runtime-web/onnx`: onnxruntime-web (its default build: WebGPU and wasm) for the
 * onnx engine. Import it once on a page that uses `engine: 'onnx'`:
 *
 * ```ts
 * import '@fastdepth/runtime-web/onnx';
 * ```
 *
 * The main entry never imports onnxruntime-web, so a tfjs or wasm-engine page carries none of
 * its 28 MB of wasm; without this import the onnx engine fails with code `RUNTIME_MISSING`.
 * `@fastdepth/runtime-web/onnx-wasm` is the same with onnxruntime-web's wasm-only build
 * (14 MB of wasm, no WebGPU).
 */
import * as ort from 'onnxruntime-web';
import { registerOnnxRuntime } from './onnx-engine.js';

registerOnnxRuntime(ort, 'onnxruntime-web');

/** The registered module, for apps that use onnxruntime-web directly too. */
export { ort };

/**
 * Starts the package's estimation worker with this onnxruntime-web build registered in it (onnx
 * and wasm models): `createDepthEstimator({ model, worker: startOnnxDepthWorker() })`. The
 * wasm-engine-only worker is `startDepthWorker()` from `@fastdepth/runtime-web/default-worker`.
 */
export function startOnnxDepthWorker(): Worker {
  // This exact form lets bundlers (Vite, webpack 5, Parcel) emit the worker as its own chunk.
  return new Worker(new URL('./onnx-depth-worker.js', import.meta.url), { type: 'module' });
}
