/**
 * The host side of the `fastdepth-wasm` ABI (the modules `@fastdepth/codegen-wasm` emits):
 * manifest validation, the memory the module imports, the weights copy, instantiation and the
 * input/output views. Browser-safe (no Node imports). runtime-web carries its own loader rather
 * than importing codegen-wasm's: apps install runtime-web alone, and codegen-wasm brings the
 * binaryen compiler with it.
 */
import { DepthEstimatorError } from './errors.js';
import type { WasmManifest, WasmVariant } from './types.js';
import { decodeWasmWeights } from './wasm-weights.js';

export const WASM_FORMAT = 'fastdepth-wasm';
export const WASM_VERSION = 1;
export const WASM_VARIANTS: readonly WasmVariant[] = ['simd', 'simd-threads', 'relaxed', 'relaxed-threads'];
const PAGE = 65536;
/** wasm32's limit: 4 GiB of 64 KiB pages. */
const MAX_PAGES = 65536;
/** Zeroed when the manifest gives a barrier without a length: a counter and a generation word. */
const DEFAULT_BARRIER_BYTES = 8;

/** The exports of a module of this ABI. */
export interface WasmModelExports {
  /** Runs the whole network: this thread's share of every stage's rows, with a barrier between stages. */
  run(thread: number, threads: number): void;
  /** One stage over output rows [rowStart, rowEnd), as `thread` (its scratch region). */
  run_stage(stage: number, rowStart: number, rowEnd: number, thread: number): void;
}

function fail(where: string, message: string): never {
  throw new DepthEstimatorError(`${where}: ${message}`, 'BAD_MODEL');
}

function field(value: unknown, path: string, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail(where, `"${path}" must be an object, found ${JSON.stringify(value) ?? 'nothing'}`);
  return value as Record<string, unknown>;
}

function integer(
  value: unknown,
  path: string,
  where: string,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    fail(where, `"${path}" must be an integer ${range}, found ${JSON.stringify(value) ?? 'nothing'}`);
  }
  return value;
}

function text(value: unknown, path: string, where: string): string {
  if (typeof value !== 'string' || value === '')
    fail(where, `"${path}" must be a non-empty string, found ${JSON.stringify(value) ?? 'nothing'}`);
  return value;
}

function shape(value: unknown, path: string, where: string, channels: number): [number, number] {
  const dims = Array.isArray(value) ? (value as unknown[]) : [];
  const [n, c, h, w] = dims;
  const ok =
    dims.length === 4 &&
    n === 1 &&
    c === channels &&
    dims.every((d) => typeof d === 'number' && Number.isInteger(d) && d > 0);
  if (!ok)
    fail(where, `"${path}" must be [1, ${channels}, H, W], found ${JSON.stringify(value) ?? 'nothing'}`);
  return [h as number, w as number];
}

/**
 * Checks a parsed manifest (`where` names its file in messages) and returns it typed: every
 * field the host reads, every region inside the memory, and the format and version this
 * runtime understands.
 */
export function validateWasmManifest(value: unknown, where: string): WasmManifest {
  const m = field(value, '(manifest)', where);
  if (m['format'] !== WASM_FORMAT) {
    fail(
      where,
      `"format" is ${JSON.stringify(m['format']) ?? 'missing'}, expected "${WASM_FORMAT}" (the manifest fastdepth compile --target wasm writes, <arch>.wasm-manifest.json)`,
    );
  }
  if (m['version'] !== WASM_VERSION) {
    fail(
      where,
      `"version" is ${JSON.stringify(m['version']) ?? 'missing'}; this runtime reads version ${WASM_VERSION} (recompile with the same fastdepth version, or update @fastdepth/runtime-web)`,
    );
  }
  text(m['arch'], 'arch', where);
  const memory = field(m['memory'], 'memory', where);
  const initial = integer(memory['initialPages'], 'memory.initialPages', where, 1, MAX_PAGES);
  integer(memory['maximumPages'], 'memory.maximumPages', where, initial, MAX_PAGES);
  const bytes = initial * PAGE;
  const region = (path: string, offset: unknown, length: number): void => {
    const start = integer(offset, `${path}.byteOffset`, where);
    if (start % 4 !== 0) fail(where, `"${path}.byteOffset" ${start} is not a multiple of 4`);
    if (start + length > bytes) {
      fail(
        where,
        `"${path}" (${length} bytes at ${start}) ends beyond the initial memory (${initial} pages = ${bytes} bytes)`,
      );
    }
  };
  const input = field(m['input'], 'input', where);
  const output = field(m['output'], 'output', where);
  const [h, w] = shape(input['shape'], 'input.shape', where, 3);
  const [oh, ow] = shape(output['shape'], 'output.shape', where, 1);
  if (oh !== h || ow !== w)
    fail(
      where,
      `"output.shape" is ${oh}x${ow} but "input.shape" is ${h}x${w}: depth comes at the input's size`,
    );
  region('input', input['byteOffset'], 3 * h * w * 4);
  region('output', output['byteOffset'], h * w * 4);
  const weights = field(m['weights'], 'weights', where);
  region('weights', weights['byteOffset'], integer(weights['byteLength'], 'weights.byteLength', where));
  if (m['barrier'] !== undefined) {
    const barrier = field(m['barrier'], 'barrier', where);
    const length =
      barrier['byteLength'] === undefined
        ? DEFAULT_BARRIER_BYTES
        : integer(barrier['byteLength'], 'barrier.byteLength', where, 4);
    region('barrier', barrier['byteOffset'], length);
  }
  integer(m['maxThreads'], 'maxThreads', where, 1, 1024);
  if (!Array.isArray(m['stages'])) fail(where, '"stages" must be an array');
  (m['stages'] as unknown[]).forEach((s, i) => {
    const stage = field(s, `stages[${i}]`, where);
    text(stage['name'], `stages[${i}].name`, where);
    integer(stage['rows'], `stages[${i}].rows`, where, 1);
    integer(stage['macs'], `stages[${i}].macs`, where);
  });
  const modules = field(m['modules'], 'modules', where);
  for (const variant of WASM_VARIANTS) text(modules[variant], `modules.${variant}`, where);
  text(m['weightsFile'], 'weightsFile', where);
  if (
    m['weightsDtype'] !== undefined &&
    !['float32', 'float16', 'int8'].includes(m['weightsDtype'] as string)
  )
    fail(
      where,
      `"weightsDtype" is ${JSON.stringify(m['weightsDtype'])}, expected "float32", "float16" or "int8"`,
    );
  if (m['int8Manifest'] !== undefined) text(m['int8Manifest'], 'int8Manifest', where);
  if (m['quantization'] !== undefined) {
    const q = field(m['quantization'], 'quantization', where);
    if (q['scheme'] !== 'int8')
      fail(where, `"quantization.scheme" is ${JSON.stringify(q['scheme']) ?? 'missing'}, expected "int8"`);
    if (q['arithmetic'] !== undefined && q['arithmetic'] !== 'tflite' && q['arithmetic'] !== 'xnnpack')
      fail(
        where,
        `"quantization.arithmetic" is ${JSON.stringify(q['arithmetic'])}, expected "tflite" or "xnnpack"`,
      );
    for (const side of ['input', 'output']) {
      const p = field(q[side], `quantization.${side}`, where);
      if (typeof p['scale'] !== 'number' || !(p['scale'] > 0))
        fail(
          where,
          `"quantization.${side}.scale" must be a positive number, found ${JSON.stringify(p['scale']) ?? 'nothing'}`,
        );
      integer(p['zeroPoint'], `quantization.${side}.zeroPoint`, where, -128, 127);
    }
    const out8 = field(q['outputInt8'], 'quantization.outputInt8', where);
    region('quantization.outputInt8', out8['byteOffset'], h * w);
  }
  return value as WasmManifest;
}

/** Parses and validates the manifest bytes read from `where`. */
export function parseWasmManifest(bytes: ArrayBuffer | Uint8Array, where: string): WasmManifest {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    fail(where, `not JSON (${(error as Error).message}); expected a ${WASM_FORMAT} manifest`);
  }
  return validateWasmManifest(value, where);
}

/**
 * A module using a relaxed-SIMD instruction (`i8x16.relaxed_swizzle`): validates only where the
 * engine has relaxed SIMD (Chromium 114+, Firefox 120+ behind none; Node 20 only with a flag).
 */
const RELAXED_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 15, 1, 13, 0, 65, 1, 253, 15, 65, 2,
  253, 15, 253, 128, 2, 11,
]);

/** Whether this engine runs relaxed-SIMD code (the FMA builds). */
export function relaxedSimdSupported(): boolean {
  try {
    return WebAssembly.validate(RELAXED_PROBE);
  } catch {
    return false;
  }
}

/**
 * A module computing `i32x4.relaxed_dot_i8x16_i7x16_add_s` on operands (mutable globals, so
 * nothing folds them) whose exact signed x unsigned products differ from every other reading (the
 * second operand read signed, pair sums saturated at 16 bits); `p()` is 1 when all four lanes are
 * exact. The int8 builds' relaxed modules trap at instantiation unless this holds.
 */
const RELAXED_DOT_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 127, 3, 2, 1, 0, 6, 43, 2, 123, 1, 253, 12, 127, 127, 127,
  127, 128, 128, 128, 128, 127, 128, 127, 128, 5, 249, 100, 156, 11, 123, 1, 253, 12, 255, 255, 255, 255, 255,
  255, 255, 255, 255, 255, 255, 255, 200, 130, 1, 255, 11, 7, 5, 1, 1, 112, 0, 0, 10, 51, 1, 49, 0, 35, 0, 35,
  1, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 253, 147, 2, 253, 12, 4, 250, 1, 0, 0, 2, 254,
  255, 2, 254, 255, 255, 34, 157, 255, 255, 253, 55, 253, 99, 11,
]);

/**
 * Whether this engine's relaxed integer dot is exact for signed x unsigned bytes (x86 with
 * AVX-VNNI: `vpdpbusd`), the form the int8 builds' relaxed modules use.
 */
export function relaxedDotExact(): boolean {
  try {
    if (!WebAssembly.validate(RELAXED_DOT_PROBE)) return false;
    const instance = new WebAssembly.Instance(new WebAssembly.Module(RELAXED_DOT_PROBE));
    return (instance.exports as { p: () => number }).p() === 1;
  } catch {
    return false;
  }
}

/** The build to load for a thread count and relaxed-SIMD support. */
export function chooseVariant(options: { threads: boolean; relaxed: boolean }): WasmVariant {
  return `${options.relaxed ? 'relaxed' : 'simd'}${options.threads ? '-threads' : ''}` as WasmVariant;
}

/** The memory a module of `manifest` imports: shared for the `-threads` builds. */
export function createWasmMemory(manifest: WasmManifest, shared: boolean): WebAssembly.Memory {
  return new WebAssembly.Memory({
    initial: manifest.memory.initialPages,
    maximum: manifest.memory.maximumPages,
    shared,
  });
}

/**
 * Copies the weights into their region (once per memory); a float16 or int8 weights file
 * (`--weights-dtype`) is unpacked to float32 first.
 */
export function copyWeights(
  manifest: WasmManifest,
  memory: WebAssembly.Memory,
  stored: Uint8Array,
  where: string,
): void {
  const { byteOffset, byteLength } = manifest.weights;
  const weights = decodeWasmWeights(stored, byteLength, where);
  if (weights.byteLength !== byteLength) {
    fail(
      where,
      `${weights.byteLength} bytes, but the manifest's "weights.byteLength" is ${byteLength} (weights of another model or build?)`,
    );
  }
  new Uint8Array(memory.buffer, byteOffset, byteLength).set(weights);
}

/**
 * Checks that `module` is a build of this ABI (imports `env.memory`, exports `run` and
 * `run_stage`) and, when it carries a `fastdepth` custom section, that it was built for
 * `manifest`'s network.
 */
export function checkModule(module: WebAssembly.Module, manifest: WasmManifest, where: string): void {
  const imports = WebAssembly.Module.imports(module);
  if (!imports.some((i) => i.module === 'env' && i.name === 'memory' && i.kind === 'memory'))
    fail(where, 'does not import env.memory: not a fastdepth-wasm module');
  const other = imports.find((i) => !(i.module === 'env' && i.name === 'memory'));
  if (other !== undefined)
    fail(where, `imports ${other.module}.${other.name} (${other.kind}), which this runtime does not provide`);
  const exports = new Map(WebAssembly.Module.exports(module).map((e) => [e.name, e.kind]));
  for (const name of ['run', 'run_stage']) {
    if (exports.get(name) !== 'function')
      fail(where, `exports no function "${name}": not a fastdepth-wasm module`);
  }
  for (const section of WebAssembly.Module.customSections(module, 'fastdepth')) {
    let info: { arch?: unknown; version?: unknown; weightsByteLength?: unknown } = {};
    try {
      info = JSON.parse(new TextDecoder().decode(section)) as typeof info;
    } catch {
      continue;
    }
    if (info.arch !== undefined && info.arch !== manifest.arch) {
      fail(
        where,
        `was built for ${JSON.stringify(info.arch)}, the manifest describes "${manifest.arch}" (module and manifest of different compiles)`,
      );
    }
    if (info.weightsByteLength !== undefined && info.weightsByteLength !== manifest.weights.byteLength) {
      fail(
        where,
        `expects ${JSON.stringify(info.weightsByteLength)} bytes of weights, the manifest says ${manifest.weights.byteLength} (module and manifest of different compiles)`,
      );
    }
  }
}

/** Instantiates `module` on `memory`; a link error (memory limits, shared vs not) names the file. */
export async function instantiate(
  module: WebAssembly.Module,
  memory: WebAssembly.Memory,
  where: string,
): Promise<WasmModelExports> {
  try {
    const instance = await WebAssembly.instantiate(module, { env: { memory } });
    return instance.exports as unknown as WasmModelExports;
  } catch (error) {
    return fail(
      where,
      `does not fit the manifest's memory (${(error as Error).message}); module and manifest of different compiles, or a -threads build loaded as a single-thread one`,
    );
  }
}

/** Compiles module bytes; a compile error names the file (truncated download, not wasm, a feature this engine lacks). */
export async function compileModule(
  bytes: Uint8Array | ArrayBuffer,
  where: string,
): Promise<WebAssembly.Module> {
  try {
    return await WebAssembly.compile(bytes instanceof Uint8Array ? bytes.slice() : bytes);
  } catch (error) {
    return fail(where, `not a WebAssembly module this engine can compile (${(error as Error).message})`);
  }
}

/** Views on the model's memory (re-made after growth, which the modules never do). */
export class WasmIo {
  private readonly inputLength: number;
  private readonly outputLength: number;

  constructor(
    private readonly manifest: WasmManifest,
    private readonly memory: WebAssembly.Memory,
  ) {
    const [, , h, w] = manifest.input.shape as [number, number, number, number];
    this.inputLength = 3 * h * w;
    this.outputLength = h * w;
  }

  /** Writes NCHW float input. */
  writeInput(input: Float32Array): void {
    if (input.length !== this.inputLength)
      throw new DepthEstimatorError(
        `wasm: input has ${input.length} values, expected ${this.inputLength}`,
        'BAD_INPUT',
      );
    new Float32Array(this.memory.buffer, this.manifest.input.byteOffset, this.inputLength).set(input);
  }

  /** The NCHW float input in the module's memory (for writing it in place). */
  inputView(): Float32Array {
    return new Float32Array(this.memory.buffer, this.manifest.input.byteOffset, this.inputLength);
  }

  /** A copy of the depth output. */
  readOutput(): Float32Array {
    return new Float32Array(this.memory.buffer, this.manifest.output.byteOffset, this.outputLength).slice();
  }

  /** Zeroes the barrier state before a threaded inference. */
  resetBarrier(): void {
    const barrier = this.manifest.barrier;
    if (barrier === undefined) return;
    new Uint8Array(this.memory.buffer, barrier.byteOffset, barrier.byteLength ?? DEFAULT_BARRIER_BYTES).fill(
      0,
    );
  }
}
