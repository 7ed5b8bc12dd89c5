/**
 * @fastdepth/importers — weights from files other tools wrote: the published int8 TFLite
 * FastDepth (dequantised, BN-folded into identity BatchNorms), ONNX files of any family network
 * (PyTorch's exporter or ours), and our own safetensors; plus a small `.npy` reader/writer.
 */
export {
  importTflite,
  importTfliteQuantized,
  type TfliteImport,
  type TfliteQuantizedImport,
  type TfliteImportOptions,
  type TfliteImportReport,
} from './tflite/import.js';
export { readTflite, type TfliteFile, type TfliteTensor, type TfliteOperator } from './tflite/read.js';
export { recoverTflite, type TfliteRecovery, type TensorSummary } from './tflite/recover.js';
export { importOnnx, type OnnxImport, type OnnxImportOptions } from './onnx/import.js';
export { matchModel, type MatchOptions, type MatchResult } from './match.js';
export {
  importWeights,
  detectFormat,
  type ImportWeightsOptions,
  type ImportedWeights,
  type WeightFormat,
} from './dispatch.js';
