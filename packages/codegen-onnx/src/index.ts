/**
 * @fastdepth/codegen-onnx — compiles a graph-DSL model (graph + weights) to an ONNX ModelProto
 * (opset 13..17), with BatchNorm kept or folded. onnxruntime is used by the tests and the
 * benchmark only; the library depends on `onnx-proto` alone.
 */
// onnx-proto's typings (re-exported below as `onnx`) write int64 fields as the global `Long` of
// @types/long without referencing it, so a consumer compiling with `skipLibCheck: false` got
// "Cannot find name 'Long'". Referencing it here puts it in every program that imports us;
// `preserve` keeps the directive in the emitted index.d.ts.
/// <reference types="long" preserve="true" />
export {
  emitOnnx,
  encodeOnnx,
  decodeOnnx,
  checkOpset,
  irVersionForOpset,
  SUPPORTED_OPSETS,
  DEFAULT_OPSET,
  PRODUCER_NAME,
  type OnnxEmitOptions,
} from './emit.js';
export { EMITTERS, type EmitContext, type EmitterTable } from './emitters.js';
export { proto, toNumber } from './proto.js';
export { PACKAGE_VERSION } from './version.js';
export type { onnx } from 'onnx-proto';
