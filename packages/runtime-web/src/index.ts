/**
 * @fastdepth/runtime-web — depth from images in the browser and Node. Runs a module generated
 * by `@fastdepth/codegen-tfjs` (tfjs: webgpu, webgl, wasm, cpu), the ONNX model from
 * `@fastdepth/codegen-onnx` (onnxruntime-web / onnxruntime-node) or the WebAssembly module from
 * `@fastdepth/codegen-wasm` (threads in workers) behind one API, with the
 * authors' preprocessing and turbo/viridis colour maps.
 */
export { createDepthEstimator } from './estimator.js';
export { resizeDepth, type ResizeDepthOptions } from './resize.js';
export {
  toColorMap,
  colormapTable,
  depthRange,
  DEFAULT_PERCENTILES,
  type ColorMapOptions,
  type ColormapName,
  type DepthRangeMode,
  type DepthRangeOptions,
} from './colormap.js';
export { encodeNpy } from './npy.js';
export { coverCrop, inputRegion, preprocess, type Fit, type InputLayout } from './preprocess.js';
export { aspectInputSize } from './aspect.js';
export type { DepthStream, StreamFrame, StreamOptions, StreamSource, StreamStats } from './stream.js';
export { toPixels } from './image.js';
export { DepthEstimatorError, DEPTH_ESTIMATOR_ERROR_CODES, type DepthEstimatorErrorCode } from './errors.js';
export {
  timeModel,
  prepareTimingBackend,
  type TimedModel,
  type TimeModelOptions,
  type TimeModelResult,
} from './timing.js';
export { SOFTWARE_RENDERER, TFJS_BACKEND_ORDER, webglRenderer } from './tfjs-engine.js';
export { ONNX_BACKEND_ORDER, registerOnnxRuntime } from './onnx-engine.js';
export { threadsUnavailable } from './wasm-engine.js';
export {
  relaxedSimdSupported,
  validateWasmManifest,
  WASM_FORMAT,
  WASM_VARIANTS,
  WASM_VERSION,
} from './wasm-model.js';
export type {
  BackendName,
  DepthEstimator,
  DepthEstimatorOptions,
  DepthResult,
  EngineName,
  EstimateOptions,
  ImageInput,
  Location,
  ModelSource,
  OnnxModelSource,
  PixelBuffer,
  PreparedRgb,
  Rect,
  TfjsModelModule,
  TfjsModelSource,
  TfjsWeightsSource,
  WasmManifest,
  WasmModelFiles,
  WasmModelSource,
  WasmPaths,
  WasmVariant,
  WeightsManifestLike,
} from './types.js';
