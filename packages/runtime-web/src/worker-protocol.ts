/**
 * The messages between a page's worker-backed estimator (worker-client.ts) and the worker that
 * owns the runtime (worker.ts). Everything is structured-cloneable; frames and depth buffers
 * are transferred.
 */
import type { DepthEstimatorErrorCode } from './errors.js';
import type { Fit } from './preprocess.js';
import type {
  BackendName,
  DepthResult,
  EngineName,
  OnnxModelSource,
  PixelBuffer,
  PreparedRgb,
  TfjsWeightsSource,
  WasmModelSource,
  WasmPaths,
} from './types.js';

/** A tfjs model without its module (code cannot be posted): the worker has it registered by `arch`. */
export interface TfjsWorkerSource {
  readonly engine: 'tfjs';
  readonly arch: string;
  readonly weights: TfjsWeightsSource;
}

export interface InitMessage {
  readonly type: 'init';
  readonly model: TfjsWorkerSource | OnnxModelSource | WasmModelSource;
  readonly backend?: BackendName;
  readonly numThreads: number;
  readonly wasmPaths?: WasmPaths;
  readonly fit: Fit;
}

export type WorkerImage = ImageBitmap | VideoFrame | PixelBuffer;

export type RequestMessage =
  | { readonly type: 'estimate'; readonly id: number; readonly image: WorkerImage }
  | { readonly type: 'estimateRgb'; readonly id: number; readonly rgb: PreparedRgb }
  | { readonly type: 'dispose'; readonly id: number };

export interface EstimatorInfo {
  readonly engine: EngineName;
  readonly backend: BackendName;
  readonly backendReason: string;
  readonly threads: number;
  readonly width: number;
  readonly height: number;
}

export interface ErrorInfo {
  readonly message: string;
  readonly code: DepthEstimatorErrorCode;
}

export type ReplyMessage =
  | { readonly type: 'ready'; readonly info: EstimatorInfo }
  | { readonly type: 'failed'; readonly error: ErrorInfo }
  | { readonly type: 'result'; readonly id: number; readonly result: DepthResult }
  | { readonly type: 'error'; readonly id: number; readonly error: ErrorInfo }
  | { readonly type: 'disposed'; readonly id: number };
