/**
 * Relay variable names. Tensor names are PyTorch style (`conv0.weight`) but a Relay variable
 * may not contain `.` (the parser reads `%a.b` as a tuple projection), and a name that is a
 * Relay keyword would lex as that keyword after `%`, so both are handled here, once.
 */
import { GraphError, quote } from '@fastdepth/graph-dsl';

/** Words the Relay v0.0.5 tokenizer turns into keywords; `%def` would not parse as a variable. */
export const RELAY_KEYWORDS: ReadonlySet<string> = new Set([
  'let',
  'fn',
  'def',
  'if',
  'else',
  'type',
  'match',
  'extern',
  'free_var',
  'ref',
  'ref_read',
  'ref_write',
]);

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `conv0.weight` -> `conv0_weight`: the Relay parameter name of a weight tensor (no `%`). */
export function relayParamName(tensorName: string): string {
  return tensorName.replaceAll('.', '_');
}

/**
 * Checks that `name` can stand after `%` in Relay text and read back as itself; throws a
 * `GraphError` naming `layer` otherwise.
 */
export function checkRelayName(layer: string, name: string): void {
  if (!IDENT.test(name)) {
    throw new GraphError(
      layer,
      `${quote(name)} is not a valid Relay variable name (letters, digits, _ only)`,
    );
  }
  if (RELAY_KEYWORDS.has(name)) {
    throw new GraphError(
      layer,
      `${quote(name)} is a Relay keyword and cannot name a variable; rename the layer`,
    );
  }
}
