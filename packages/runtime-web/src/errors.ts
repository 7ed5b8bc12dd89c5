/**
 * What kind of failure a `DepthEstimatorError` is, as a stable string a program can switch on
 * (the message says what and where, for a person, and may change between versions):
 *
 * - `BAD_OPTION`: an option of `createDepthEstimator` or a helper is out of range or unknown
 *   (`numThreads`, `backend` for an engine that has no such backend, a colour map's name).
 * - `BAD_IMAGE`: `estimate` was given something that is not a usable image (wrong size, data
 *   length or channels, an image that has not loaded, a video without a frame).
 * - `BAD_INPUT`: `estimateRgb` or a lower-level helper was given data of the wrong shape.
 * - `LOAD_FAILED`: a file could not be read or fetched (HTTP status, network, missing path).
 * - `BAD_MODEL`: a model file was read but is not what the engine needs (not JSON, another
 *   format or version, a field of the wrong shape, module and manifest of different compiles).
 * - `NO_BACKEND`: no backend of the engine initialised (each one's reason is in the message).
 * - `RUNTIME_MISSING`: the engine's runtime was not handed over (the onnx engine in a browser
 *   needs `runtime` from `@fastdepth/runtime-web/onnx`).
 * - `UNSUPPORTED`: this environment lacks what the engine needs (WebAssembly, a canvas).
 * - `INFERENCE_FAILED`: a run failed (a wasm trap, a worker that died); the estimator is done for.
 * - `DISPOSED`: the estimator was used after `dispose()`.
 * - `WRITE_FAILED`: a Node helper (`writeDepthPng`, `writeDepthNpy`) could not write its file.
 */
export type DepthEstimatorErrorCode =
  | 'BAD_OPTION'
  | 'BAD_IMAGE'
  | 'BAD_INPUT'
  | 'LOAD_FAILED'
  | 'BAD_MODEL'
  | 'NO_BACKEND'
  | 'RUNTIME_MISSING'
  | 'UNSUPPORTED'
  | 'INFERENCE_FAILED'
  | 'DISPOSED'
  | 'WRITE_FAILED';

/** Every code, in the order documented above (for tests and for programs listing them). */
export const DEPTH_ESTIMATOR_ERROR_CODES: readonly DepthEstimatorErrorCode[] = [
  'BAD_OPTION',
  'BAD_IMAGE',
  'BAD_INPUT',
  'LOAD_FAILED',
  'BAD_MODEL',
  'NO_BACKEND',
  'RUNTIME_MISSING',
  'UNSUPPORTED',
  'INFERENCE_FAILED',
  'DISPOSED',
  'WRITE_FAILED',
];

/** Errors a user can cause (bad image, bad options, missing files); the message says what and where. */
export class DepthEstimatorError extends Error {
  override readonly name = 'DepthEstimatorError';

  constructor(
    message: string,
    /** What kind of failure (stable across versions, unlike the message). */
    readonly code: DepthEstimatorErrorCode,
  ) {
    super(message);
  }
}
