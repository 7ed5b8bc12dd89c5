/**
 * The worker `startDepthWorker()` (default-worker.ts) starts: serves onnx and wasm models (data).
 * A tfjs model's module is code, so a tfjs page starts its own worker (see worker.ts).
 */
import { serveDepthWorker } from './worker.js';

serveDepthWorker();
