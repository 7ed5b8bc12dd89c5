import { quote } from './names.js';

/**
 * Errors a user can cause (bad declarations, bad files). They carry the place: the layer, the
 * file or the field. CLIs print `message` alone for these; anything else is a bug.
 */
export class FastDepthError extends Error {
  /** The class name, for `error.name` checks across module copies. */
  override readonly name: string = 'FastDepthError';
}

/** A layer declaration or graph that does not make sense (shape, attribute, wiring). */
export class GraphError extends FastDepthError {
  /** Always `'GraphError'`. */
  override readonly name = 'GraphError';
  /**
   * @param layer the layer (or graph) at fault; the message starts with `layer "NAME": `.
   * @param detail what was expected and what was found.
   */
  constructor(
    readonly layer: string,
    detail: string,
  ) {
    super(`layer ${quote(layer)}: ${detail}`);
  }
}

/** A file that cannot be read as what it claims to be. */
export class FormatError extends FastDepthError {
  /** Always `'FormatError'`. */
  override readonly name = 'FormatError';
  /**
   * @param file the file (or stream) at fault; the message starts with it.
   * @param detail what is wrong with its contents.
   */
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: ${detail}`);
  }
}

/** A weight set that does not fit its graph. */
export class WeightsError extends FastDepthError {
  /** Always `'WeightsError'`. */
  override readonly name = 'WeightsError';
  /**
   * @param tensor the weight tensor at fault (`layer.suffix`).
   * @param detail what is wrong (missing, shape, values).
   * @param file the weights file, when the weights came from one.
   */
  constructor(
    readonly tensor: string,
    detail: string,
    readonly file?: string,
  ) {
    super(`${file ? `${file}: ` : ''}tensor ${quote(tensor)}: ${detail}`);
  }
}

/** Whether `error` is a user mistake to print as one line (a {@link FastDepthError}), not a bug. */
export function isUserError(error: unknown): error is FastDepthError {
  return error instanceof FastDepthError;
}
