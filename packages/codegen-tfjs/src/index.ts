/**
 * @fastdepth/codegen-tfjs — compiles a graph-dsl model to a generated TypeScript module that
 * runs the forward pass as straight-line `@tensorflow/tfjs-core` calls (NHWC), plus a weights
 * file (float32, float16 or per-channel int8) and its JSON manifest.
 */
export {
  emitTfjs,
  toJavaScript,
  type EmitTfjsOptions,
  type EmitTfjsResult,
  type TfjsJavaScript,
} from './emit.js';
export {
  GENERATOR_NAME,
  GENERATOR_VERSION,
  WEIGHTS_FORMAT,
  WEIGHTS_FORMAT_VERSION,
  WEIGHTS_DTYPES,
  type WeightsDtype,
  type WeightsScales,
  type WeightsManifest,
  type WeightsManifestEntry,
} from './manifest.js';
export {
  EMITTERS,
  type EmitContext,
  type EmitterTable,
  type NodeEmitter,
  type WeightLayout,
} from './emitters.js';
export { planGraph, type FusedActivation, type Plan } from './plan.js';
