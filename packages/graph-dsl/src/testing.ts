/** Kept as an alias entry point (`@fastdepth/graph-dsl/testing`) for test code. */
export { maxRelativeError, randomizeBatchNorm, randomTensor } from './numeric.js';
