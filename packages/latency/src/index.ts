/**
 * @fastdepth/latency — latency measured on real runtimes, the way NetAdapt estimates a network:
 * one-layer networks timed on a runner (tfjs-wasm, onnxruntime-node, the wasm engine; Chromium
 * and any browser through `@fastdepth/latency/browser`), kept in a table keyed by layer
 * signature, channels, runtime and machine, and checked against whole networks.
 */
export {
  LatencyTable,
  latencyLayers,
  tfjsRunner,
  onnxRunner,
  checkLatencyTable,
  wholeNetworkKey,
  calibrationGraph,
  checkLatencyTables,
  WHOLE_ROUNDS,
  ENTRY_VERSION,
  PROVENANCE_KEY,
  SAMPLES_KEY,
  PROTOCOL_NAME,
  importGeneratedTfjs,
  generatedDir,
  machineKey,
  median,
  type LatencyLayer,
  type LatencyRunner,
  type LatencyTableOptions,
  type MissingLatencyEntry,
  type MeasuringSession,
  type TableProvenance,
} from './table.js';
export {
  DEFAULT_PROTOCOL,
  describeNoise,
  measureInRounds,
  NoisyMachineError,
  pairedRatios,
  probeGraph,
  quantile,
  spreadOf,
  type EntryStat,
  type NoiseFigure,
  type ProtocolOptions,
  type ProtocolRunner,
  type RatioStat,
  type RoundSample,
  type TimedModel,
} from './protocol.js';
export { costModelMs, costModelRunner, type CostModelOptions } from './cost-model.js';
export { wasmEngineRunner } from './wasm-engine.js';
