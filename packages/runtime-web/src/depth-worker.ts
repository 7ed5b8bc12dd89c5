/**
 * The worker `startDepthWorker()` (default-worker.ts) starts: serves wasm-engine models (data).
 * onnx models need onnxruntime-web registered: onnx-depth-worker.ts. A tfjs model's module is
 * code, so a tfjs page starts its own worker (see worker.ts).
 */
import { serveDepthWorker } from './worker.js';

serveDepthWorker();
