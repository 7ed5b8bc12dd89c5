/**
 * @fastdepth/codegen-wasm — compiles a graph-DSL model (graph + weights) to WebAssembly SIMD
 * modules specialised to the network, emitted with binaryen (Node only). Applications run the
 * artifact with `@fastdepth/runtime-web` (engine `wasm`).
 */
export {
  emitWasm,
  wasmArtifactFiles,
  type WasmEmitOptions,
  type WasmArtifact,
  type ArtifactFile,
} from './emit.js';
export {
  emitWasmInt8,
  wasmInt8ArtifactFiles,
  type WasmInt8EmitOptions,
  type WasmInt8Artifact,
} from './int8/emit.js';
export { planGraph, type Plan, type Stage } from './plan.js';
export * from './manifest.js';
export { PACKAGE_VERSION } from './version.js';
export { createWasmMemory, loadWasmModel, type WasmModelInstance } from './host.js';
export {
  encodeWasmWeights,
  toFloat16Bits,
  WASM_WEIGHTS_DTYPES,
  WASM_WEIGHTS_MAGIC,
  type WasmWeightsDtype,
} from './weights-encoding.js';
export type { WeightSegment } from './pack.js';
