/**
 * @fastdepth/eval — the evaluation side of FastDepth: depth metrics exactly as the authors
 * compute them, NYU Depth v2 frames (`.h5` via h5wasm, `.npy` pairs) and the authors'
 * validation preprocessing.
 */
export {
  METRIC_NAMES,
  METRIC_INFO,
  computeMetrics,
  MetricsAverager,
  averageMetrics,
  formatMetrics,
  type MetricName,
  type MetricInfo,
  type DepthMetrics,
} from './metrics.js';
export { readNpyFile } from './npy-file.js';
export {
  NYU_RESIZE_SCALE,
  NYU_CROP,
  NYU_OUTPUT_SIZE,
  pillowNearestIndices,
  pythonRound,
  valTransformMaps,
  gatherHWC,
  type OutputSize,
  type ValTransformOptions,
  type IndexMaps,
} from './resize.js';
export {
  loadNyuH5,
  loadNyuH5File,
  encodeNyuH5,
  nyuValTransform,
  listNyuFiles,
  iterateNyuFolder,
  loadNpyPair,
  checkDepthValues,
  checkRgbValues,
  MAX_FRAME_PIXELS,
  toInputTensor,
  type NyuSample,
  type PreparedSample,
  type NyuFolderEntry,
} from './nyu.js';
