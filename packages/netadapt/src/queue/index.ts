/**
 * @fastdepth/netadapt/queue — NetAdapt proposals over a BullMQ queue on Redis: a coordinator
 * (`openQueueDispatcher`, passed to `runNetAdapt` as `dispatcher`) and any number of workers
 * (`startQueueWorker`) on any machine that reaches Redis. Only data travels.
 */
export { parseQueueUrl, checkReachable, openRedis, type QueueLocation } from './connection.js';
export {
  openQueueDispatcher,
  QueueInterrupted,
  type QueueDispatcher,
  type QueueDispatcherOptions,
  type SubmittedJob,
  type JobOutcome,
} from './coordinator.js';
export {
  startQueueWorker,
  proposalHandler,
  DEFAULT_QUEUE_NAME,
  DEFAULT_LOCK_SECONDS,
  type QueueWorker,
  type QueueWorkerOptions,
  type QueueWorkerEvents,
  type JobLabel,
  type ProposalHandler,
} from './worker.js';
export {
  JOB_FORMAT,
  JOB_VERSION,
  PACKAGE_VERSION,
  formatVersion,
  jobId,
  checkJobData,
  checkResult,
  scoreRange,
  type ProposalJobData,
  type ProposalJobResult,
  type RecoveryRef,
  type FineTuneRef,
} from './jobs.js';
export {
  BlobWriter,
  BlobReader,
  encodeImages,
  redisBlobs,
  memoryBlobs,
  type BlobBackend,
  type ModelRef,
} from './store.js';
export { threadDispatcher, type ThreadDispatcher } from './threads.js';
export { JobBuilder, jobBlobs } from './prepare.js';
