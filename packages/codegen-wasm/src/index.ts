/**
 * @fastdepth/codegen-wasm — compiles a graph-DSL model (graph + weights) to WebAssembly SIMD
 * modules specialised to the network, emitted with binaryen (Node only). The loader for the
 * emitted artifact is `@fastdepth/codegen-wasm/runtime` (browser-safe).
 */
export {
  emitWasm,
  wasmArtifactFiles,
  type WasmEmitOptions,
  type WasmArtifact,
  type ArtifactFile,
} from './emit.js';
export { planGraph, type Plan, type Stage } from './plan.js';
export * from './runtime.js';
export { PACKAGE_VERSION } from './version.js';
