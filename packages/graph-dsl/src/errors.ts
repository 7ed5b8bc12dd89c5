import { quote } from './names.js';

/**
 * Errors a user can cause (bad declarations, bad files). They carry the place: the layer, the
 * file or the field. CLIs print `message` alone for these; anything else is a bug.
 */
export class FastDepthError extends Error {
  override readonly name: string = 'FastDepthError';
}

/** A layer declaration or graph that does not make sense (shape, attribute, wiring). */
export class GraphError extends FastDepthError {
  override readonly name = 'GraphError';
  constructor(
    readonly layer: string,
    detail: string,
  ) {
    super(`layer ${quote(layer)}: ${detail}`);
  }
}

/** A file that cannot be read as what it claims to be. */
export class FormatError extends FastDepthError {
  override readonly name = 'FormatError';
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: ${detail}`);
  }
}

/** A weight set that does not fit its graph. */
export class WeightsError extends FastDepthError {
  override readonly name = 'WeightsError';
  constructor(
    readonly tensor: string,
    detail: string,
    readonly file?: string,
  ) {
    super(`${file ? `${file}: ` : ''}tensor ${quote(tensor)}: ${detail}`);
  }
}

export function isUserError(error: unknown): error is FastDepthError {
  return error instanceof FastDepthError;
}
