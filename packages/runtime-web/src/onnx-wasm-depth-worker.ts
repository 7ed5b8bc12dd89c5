/**
 * The worker `startOnnxDepthWorker()` from `@fastdepth/runtime-web/onnx-wasm` starts: as
 * onnx-depth-worker.ts with onnxruntime-web's wasm-only build.
 */
import './onnx-wasm.js';
import { serveDepthWorker } from './worker.js';

serveDepthWorker();
