/**
 * `@fastdepth/runtime-web/onnx-wasm`: onnxruntime-web's wasm-only build (`onnxruntime-web/wasm`:
 * 14 MB of wasm against 28 MB, no WebGPU) for the onnx engine. Import it once on a page that uses
 * `engine: 'onnx'` with `backend: 'wasm'` (or the automatic choice, which then finds no webgpu).
 */
import * as ort from 'onnxruntime-web/wasm';
import { registerOnnxRuntime } from './onnx-engine.js';

registerOnnxRuntime(ort, 'onnxruntime-web/wasm');

export { ort };

/**
 * Starts the package's estimation worker with this onnxruntime-web build registered in it (onnx
 * and wasm models): `createDepthEstimator({ model, worker: startOnnxDepthWorker() })`. The
 * wasm-engine-only worker is `startDepthWorker()` from `@fastdepth/runtime-web/default-worker`.
 */
export function startOnnxDepthWorker(): Worker {
  // This exact form lets bundlers (Vite, webpack 5, Parcel) emit the worker as its own chunk.
  return new Worker(new URL('./onnx-wasm-depth-worker.js', import.meta.url), { type: 'module' });
}
