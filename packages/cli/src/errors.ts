import { FastDepthError } from '@fastdepth/graph-dsl';

/** A mistake in how the command was called (bad option value, missing file). */
export class UserError extends FastDepthError {
  override readonly name = 'UserError';
}
