/**
 * The demo's estimation worker: owns the runtime of every engine, so the page only captures,
 * posts and draws. The tfjs model is code, registered here; onnx and wasm models come as URLs.
 */
// The onnx engine's runtime is an optional peer: registered in the worker that runs it.
import '@fastdepth/runtime-web/onnx';
import { serveDepthWorker } from '@fastdepth/runtime-web/worker';
import { module } from 'virtual:demo-model';

serveDepthWorker({ tfjs: [module] });
