/** Errors a user can cause (bad image, bad options, missing files); the message says what and where. */
export class DepthEstimatorError extends Error {
  override readonly name = 'DepthEstimatorError';
}
