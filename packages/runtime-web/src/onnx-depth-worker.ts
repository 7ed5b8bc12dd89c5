/**
 * The worker `startOnnxDepthWorker()` (from `@fastdepth/runtime-web/onnx`) starts: the package's
 * estimation worker with onnxruntime-web (its default build) registered, so onnx models run in
 * it as well as wasm models. A file of its own so that `startDepthWorker()`'s worker, for the wasm
 * engine, carries none of onnxruntime-web.
 */
import './onnx.js';
import { serveDepthWorker } from './worker.js';

serveDepthWorker();
