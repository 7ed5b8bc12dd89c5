/**
 * Names are data, never code. Layer and graph names travel into generated TypeScript, Python,
 * Relay text, file names and messages, so they are checked where a graph comes in (declared,
 * loaded, imported) and quoted or made comment-safe where text goes out. The rules live here,
 * once, for every loader and emitter.
 */

/** Layer names are identifiers, so every target can use them as variable names. */
export const LAYER_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Graph (architecture) names also name files (`OUT/<arch>.json`, `<arch>.onnx`, ...): plain file
 * names of letters, digits, `.`, `_` and `-` that start with a letter or digit (no `..`, no
 * hidden files, no option-like `-x`), as the family spells them (`fastdepth-pruned`).
 */
export const GRAPH_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Longest graph or layer name accepted from a file (the family's longest is 32 characters). */
export const MAX_NAME_LENGTH = 128;

/** Whether `name` is a valid layer name (`LAYER_NAME_PATTERN`, at most `MAX_NAME_LENGTH`). */
export function isLayerName(name: unknown): name is string {
  return typeof name === 'string' && name.length <= MAX_NAME_LENGTH && LAYER_NAME_PATTERN.test(name);
}

/** Whether `name` is a valid graph name (`GRAPH_NAME_PATTERN`, at most `MAX_NAME_LENGTH`). */
export function isGraphName(name: unknown): name is string {
  return typeof name === 'string' && name.length <= MAX_NAME_LENGTH && GRAPH_NAME_PATTERN.test(name);
}

/** What a graph name may hold, for error messages (`plain file names (${GRAPH_NAME_RULE})`). */
export const GRAPH_NAME_RULE = `letters, digits, ".", "_" and "-", starting with a letter or digit, at most ${MAX_NAME_LENGTH} characters`;

/** What a layer name may hold, for error messages (`identifiers (${LAYER_NAME_RULE})`). */
export const LAYER_NAME_RULE = `letters, digits and "_", not starting with a digit, no dots, at most ${MAX_NAME_LENGTH} characters`;

// JSON.stringify escapes C0 controls, quotes and backslashes; these it leaves as they are, and
// each of them can end or reorder a line somewhere (JS line separators, C1 controls, bidi marks).
const UNSAFE_IN_JSON = /[\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const hex4 = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * `value` as a double-quoted, escaped string that stays on one line: JSON, with line
 * separators, DEL, C1 controls and bidi controls escaped too. For error messages, and a valid
 * string literal in JavaScript, TypeScript and Python alike. Plain names come out as `"name"`.
 */
export function quote(value: string): string {
  return JSON.stringify(value).replace(UNSAFE_IN_JSON, hex4);
}

/**
 * `text` made safe inside a one-line comment of any emitted language (`//` and `/* *\/` in
 * JS/TS and Relay, `#` in Python, Markdown): printable ASCII kept, anything else escaped as
 * `\uXXXX` (backslashes doubled so the escape is unambiguous), and every `*\/` broken so it
 * cannot end a block comment. Plain names come out unchanged.
 */
export function commentText(text: string): string {
  return text
    .replace(/\\/g, '\\\\')
    .replace(/[^\x20-\x7e]/g, hex4)
    .replace(/\*\//g, '*\\/');
}
