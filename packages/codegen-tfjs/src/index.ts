/**
 * @fastdepth/codegen-tfjs — compiles a graph-dsl model to a generated TypeScript module that
 * runs the forward pass as straight-line `@tensorflow/tfjs-core` calls (NHWC), plus a float32
 * weights file and its JSON manifest.
 */
export { emitTfjs, type EmitTfjsOptions, type EmitTfjsResult } from './emit.js';
export {
  GENERATOR_NAME,
  GENERATOR_VERSION,
  WEIGHTS_FORMAT,
  WEIGHTS_FORMAT_VERSION,
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
