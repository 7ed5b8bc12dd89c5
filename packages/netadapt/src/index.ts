/**
 * @fastdepth/netadapt — NetAdapt on graph-DSL networks: prunable units (tied through skip
 * adds), aligned channel surgery, exact MACs/params and empirical latency tables, fine-tuning
 * with tfjs, and the NetAdapt loop writing every pruned variant. The latency tables and their
 * runners are `@fastdepth/latency` (re-exported here for existing callers).
 */
export { findUnits, prunableUnits, unitById, type PrunableUnit, type UnitSite } from './units.js';
export {
  filterEnergy,
  pruneUnit,
  shrinkUnit,
  chooseChannels,
  resizeUnitGraph,
  sliceAxis,
  cloneWeights,
} from './surgery.js';
export {
  LatencyTable,
  latencyLayers,
  tfjsRunner,
  onnxRunner,
  checkLatencyTable,
  wholeNetworkKey,
  calibrationGraph,
  importGeneratedTfjs,
  generatedDir,
  machineKey,
  median,
  type LatencyLayer,
  type LatencyRunner,
  type LatencyTableOptions,
  type MissingLatencyEntry,
} from '@fastdepth/latency';
export { TfGraph, nchwToNhwcTensor, permute } from './tf-graph.js';
export { useTfBackend, type TfBackendName } from './tf-backend.js';
export { registerWasmGradientKernels } from './wasm-grad-kernels.js';
export {
  l1Trainer,
  l1Evaluator,
  supervisedTask,
  distillationTask,
  randomImages,
  withInputShape,
  fromPortable,
  type Trainer,
  type Evaluator,
  type DepthSample,
  type PortableTask,
  type TaskOptions,
} from './train.js';
export {
  safeFineTune,
  checkSafeTuneOptions,
  scheduledRate,
  SCHEDULES,
  TUNE_LOSSES,
  type Schedule,
  type TuneLoss,
  type SafeTuneOptions,
  type SafeTuneResult,
  type TuneCheck,
} from './safe-tune.js';
export {
  inProcessPool,
  workerPool,
  type ProposalPool,
  type ProposalJob,
  type ProposalOutcome,
} from './pool.js';
export { NormalEquations, cholesky, choleskySolve, solveSubset, spdInverse } from './linalg.js';
export {
  forwardOnnx,
  predictOnnx,
  tappedGraph,
  type ForwardOptions,
  type ForwardTensor,
} from './onnx-forward.js';
export { agreement, agreementScore, type Agreement } from './agreement.js';
export {
  refitLayers,
  refitLayer,
  selectByReconstruction,
  outputScale,
  originOf,
  ReferenceTargets,
  DEFAULT_RIDGE,
  type RefitLayer,
  type RefitResult,
  type ConsumerSystem,
  type ChannelOrigins,
  type CalibrationOptions,
} from './reconstruction.js';
export {
  blockRecover,
  channelOrigin,
  correctionLayers,
  insertCorrection,
  mergeCorrection,
  TeacherFeatures,
  MAX_FULL_CORRECTION,
  type BlockOptions,
  type BlockReport,
  type Correction,
  type CorrectionLayer,
} from './block-recovery.js';
export {
  reconstructionRecovery,
  dataFreeRecovery,
  evaluatorRecovery,
  agreementOn,
  composeOrigins,
  recoveryFromPortable,
  type PortableRecovery,
  type Recovery,
  type RecoveryStep,
  type AcceptReport,
  type Candidate,
  type Score,
  type ChannelSelection,
  type ReconstructionOptions,
} from './recovery.js';
export {
  evaluateProposal,
  makeProposal,
  type FineTune,
  type EvaluatedProposal,
  type DispatchedProposal,
  type DispatchRequest,
  type DispatchStatus,
  type ProposalDispatcher,
  type ProposalResult,
} from './proposal.js';
export {
  runNetAdapt,
  resourceOf,
  type Metric,
  type LatencyBackend,
  type NetAdaptOptions,
  type NetAdaptEvents,
  type NetAdaptResult,
  type IterationRow,
  type ProposalRow,
} from './netadapt.js';
