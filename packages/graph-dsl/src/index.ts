/**
 * @fastdepth/graph-dsl — the typed layer DSL, its JSON IR, weights (safetensors), analysis,
 * passes and the reference executor. Knows nothing of ONNX, TVM or tfjs.
 */
export * from './ir.js';
export * from './errors.js';
export * from './names.js';
export * from './quant/ir.js';
export * from './quant/fixed-point.js';
export * from './quant/xnnpack.js';
export {
  bilinearAxis,
  bilinearRound,
  bilinearScale10,
  resizeBilinearInt8,
  resizeBilinearInt8In,
  resizeBilinearInt8Xnnpack,
  xnnpackBilinearAxis,
  xnnpackBilinearMix,
  xnnpackBilinearScale,
  type BilinearAxis,
  type XnnpackBilinearAxis,
} from './quant/bilinear.js';
export {
  checkLutOutput,
  fixedOutputParams,
  isLutOp,
  lookupTable,
  LOGISTIC_OUTPUT_PARAMS,
  type LutOp,
} from './quant/lut.js';
export { parseQuantization, validateQuantizedModel } from './quant/validate.js';
export {
  executeQuantized,
  quantizeValues,
  dequantizeValues,
  convMultipliers,
  addRescale,
  mulMultiplier,
  type AddRescale,
  type QuantizedValue,
  type QuantizedInput,
  type ExecuteQuantizedOptions,
} from './quant/execute.js';
export {
  encodeQuantizedWeights,
  decodeQuantizedWeights,
  quantizedModel,
  dequantizeModel,
} from './quant/model.js';
export * from './quant/quantize.js';
export {
  OPS,
  OP_KINDS,
  isOpKind,
  fmt,
  nearestSourceIndex,
  resizeOutSize,
  type OpDef,
  type OpTable,
  type ParamSpec,
  type ParamRole,
  type ParamInit,
} from './ops.js';
export {
  GraphBuilder,
  type Tensor,
  type Conv2dOptions,
  type ConvTranspose2dOptions,
  type MaxPoolOptions,
  type AvgPoolOptions,
  type ResizeOptions,
} from './builder.js';
export {
  inferShapes,
  inputShapes,
  paramSpecs,
  consumers,
  nodeByName,
  graphInputs,
  graphOutputs,
  withInputSize,
  type NamedParam,
} from './graph.js';
export { saveGraph, loadGraph, parseGraph } from './serialize.js';
export { SIZE_CAPS, checkSizeCaps } from './size-caps.js';
export {
  initWeights,
  checkWeights,
  numel,
  SeededRandom,
  type TensorF32,
  type WeightMap,
  type Model,
} from './weights.js';
export { readNpy, encodeNpy, type NpyArray, type NpyData, type NpyDtype } from './npy.js';
export {
  encodeSafetensors,
  decodeSafetensors,
  decodeSafetensorsRaw,
  type DecodedSafetensors,
  type EncodableTensor,
  type RawSafetensor,
} from './safetensors.js';
export { analyze, type GraphStats, type LayerStats } from './analysis.js';
export { execute, EXECUTOR_MAX_ELEMENTS, type Tensor64, type ExecuteOptions } from './executor.js';
export * from './passes/index.js';
export { constantValue, halfToFloat, maxRelativeError, randomizeBatchNorm, randomTensor } from './numeric.js';
export { calibratedInitWeights } from './calibrate.js';
