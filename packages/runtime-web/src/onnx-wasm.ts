/**
 * `@fastdepth/runtime-web/onnx-wasm`: onnxruntime-web's wasm-only build (`onnxruntime-web/wasm`:
 * 14 MB of wasm against 28 MB, no WebGPU) for the onnx engine. Import it once on a page that uses
 * `engine: 'onnx'` with `backend: 'wasm'` (or the automatic choice, which then finds no webgpu).
 */
import * as ort from 'onnxruntime-web/wasm';
import { registerOnnxRuntime } from './onnx-engine.js';

registerOnnxRuntime(ort, 'onnxruntime-web/wasm');

export { ort };
