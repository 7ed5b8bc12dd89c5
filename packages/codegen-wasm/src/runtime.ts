/**
 * The browser-safe loader of an emitted wasm model: no binaryen, no `node:` modules, so it runs
 * in browsers, on Node's main thread and in workers. The host creates the memory (shared for the
 * `*-threads` modules), copies the packed weights in once, writes the NCHW input, calls `run` on
 * every thread and reads the NCHW output.
 */

/**
 * The slice of the WebAssembly JS API this loader uses, typed here because the packages compile
 * without the DOM library; real `WebAssembly.Memory` / `WebAssembly.Module` objects fit.
 */
export interface WasmMemoryLike {
  readonly buffer: ArrayBufferLike;
}
/** A compiled `WebAssembly.Module` (opaque). */
export type WasmModuleLike = object;
interface WasmApi {
  Memory: new (d: { initial: number; maximum?: number; shared?: boolean }) => WasmMemoryLike;
  Module: abstract new (...args: never[]) => WasmModuleLike;
  compile(bytes: Uint8Array | ArrayBuffer): Promise<WasmModuleLike>;
  instantiate(module: WasmModuleLike, imports: object): Promise<{ readonly exports: object }>;
  validate(bytes: Uint8Array): boolean;
}
const wasm = (): WasmApi => (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** The four modules of an artifact. */
export type WasmVariant = 'simd' | 'simd-threads' | 'relaxed' | 'relaxed-threads';
export const WASM_VARIANTS: readonly WasmVariant[] = ['simd', 'simd-threads', 'relaxed', 'relaxed-threads'];

export const WASM_MANIFEST_FORMAT = 'fastdepth-wasm';
export const WASM_MANIFEST_VERSION = 1;

export interface WasmStageInfo {
  readonly name: string;
  /** Graph layers this stage computes (fused). */
  readonly layers: readonly string[];
  /** input | conv | pw | head | dw | dwpw */
  readonly kind: string;
  /** Output rows `run` splits among threads (before any fused upsample). */
  readonly rows: number;
  readonly macs: number;
}

export interface WasmManifest {
  readonly format: typeof WASM_MANIFEST_FORMAT;
  readonly version: typeof WASM_MANIFEST_VERSION;
  readonly arch: string;
  readonly generator: string;
  readonly input: {
    readonly name: string;
    readonly shape: readonly [1, number, number, number];
    readonly byteOffset: number;
  };
  readonly output: {
    readonly name: string;
    readonly shape: readonly [1, number, number, number];
    readonly byteOffset: number;
  };
  readonly memory: { readonly initialPages: number; readonly maximumPages: number };
  readonly weights: { readonly byteOffset: number; readonly byteLength: number };
  /** Counter (+0) and generation (+4) words of the barrier; zero them before each threaded run. */
  readonly barrier: { readonly byteOffset: number };
  readonly maxThreads: number;
  readonly stages: readonly WasmStageInfo[];
  readonly modules: Readonly<Record<WasmVariant, string>>;
  readonly weightsFile: string;
}

/** What every emitted module exports. */
export interface WasmModelExports {
  /** All stages, this thread's share of each stage's rows; a barrier between stages when threads > 1. */
  run(thread: number, threads: number): void;
  /** One stage, rows [rowStart, rowEnd), using `thread`'s scratch tile. */
  run_stage(stage: number, rowStart: number, rowEnd: number, thread: number): void;
}

export interface WasmModelInstance {
  readonly manifest: WasmManifest;
  readonly memory: WasmMemoryLike;
  readonly exports: WasmModelExports;
  /** Writes the input, runs every stage on this thread, returns a copy of the output. */
  runSingleThread(inputNchw: Float32Array): Float32Array;
  writeInput(inputNchw: Float32Array): void;
  /** A copy of the NCHW output. */
  readOutput(): Float32Array;
  /** Zeroes the barrier words (before each threaded inference). */
  resetBarrier(): void;
  runStage(stage: number, rowStart: number, rowEnd: number, thread?: number): void;
}

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Creates the memory a manifest asks for; `shared` for the `*-threads` modules. */
export function createWasmMemory(manifest: WasmManifest, shared: boolean): WasmMemoryLike {
  return new (wasm().Memory)({
    initial: manifest.memory.initialPages,
    maximum: manifest.memory.maximumPages,
    shared,
  });
}

/**
 * Instantiates `module` (bytes or compiled) on `options.memory` (created when absent, unshared)
 * and copies `weights` into it. Pass an existing memory whose weights are already in place with
 * `weightsLoaded: true` (workers sharing one memory do this).
 */
export async function loadWasmModel(
  manifest: WasmManifest,
  module: Uint8Array | ArrayBuffer | WasmModuleLike,
  weights: Uint8Array | undefined,
  options: { memory?: WasmMemoryLike; weightsLoaded?: boolean } = {},
): Promise<WasmModelInstance> {
  checkManifest(manifest);
  const memory = options.memory ?? createWasmMemory(manifest, false);
  if (memory.buffer.byteLength < manifest.memory.initialPages * 65536)
    throw new Error(
      `wasm model "${manifest.arch}": memory has ${memory.buffer.byteLength} bytes, needs ${manifest.memory.initialPages} pages`,
    );
  const api = wasm();
  const compiled =
    module instanceof Uint8Array || module instanceof ArrayBuffer ? await api.compile(module) : module;
  const instance = await api.instantiate(compiled, { env: { memory } });
  const exports = instance.exports as unknown as WasmModelExports;
  if (!options.weightsLoaded) {
    if (!weights) throw new Error(`wasm model "${manifest.arch}": no weights given`);
    if (weights.byteLength !== manifest.weights.byteLength)
      throw new Error(
        `wasm model "${manifest.arch}": weights hold ${weights.byteLength} bytes, the manifest expects ${manifest.weights.byteLength}`,
      );
    new Uint8Array(memory.buffer, manifest.weights.byteOffset, weights.byteLength).set(weights);
  }
  const inputLength = numel(manifest.input.shape);
  const outputLength = numel(manifest.output.shape);
  const writeInput = (x: Float32Array): void => {
    if (x.length !== inputLength)
      throw new Error(
        `wasm model "${manifest.arch}": input has ${x.length} values, expected ${inputLength} (${manifest.input.shape.join('x')})`,
      );
    new Float32Array(memory.buffer, manifest.input.byteOffset, inputLength).set(x);
  };
  const readOutput = (): Float32Array =>
    new Float32Array(memory.buffer, manifest.output.byteOffset, outputLength).slice();
  const resetBarrier = (): void => {
    new Int32Array(memory.buffer, manifest.barrier.byteOffset, 2).fill(0);
  };
  return {
    manifest,
    memory,
    exports,
    writeInput,
    readOutput,
    resetBarrier,
    runStage: (stage, r0, r1, thread = 0) => exports.run_stage(stage, r0, r1, thread),
    runSingleThread: (x) => {
      writeInput(x);
      exports.run(0, 1);
      return readOutput();
    },
  };
}

/** Throws a one-line error when `manifest` is not a version-1 wasm manifest. */
export function checkManifest(manifest: WasmManifest): void {
  const m = manifest as Partial<WasmManifest> | null;
  if (!m || m.format !== WASM_MANIFEST_FORMAT)
    throw new Error(`not a ${WASM_MANIFEST_FORMAT} manifest (format ${JSON.stringify(m?.format)})`);
  if (m.version !== WASM_MANIFEST_VERSION)
    throw new Error(
      `${WASM_MANIFEST_FORMAT} manifest version ${String(m.version)} is not supported (expected ${WASM_MANIFEST_VERSION})`,
    );
}

/** The module to load for what the host supports. */
export function chooseVariant(o: { threads: boolean; relaxed: boolean }): WasmVariant {
  return `${o.relaxed ? 'relaxed' : 'simd'}${o.threads ? '-threads' : ''}` as WasmVariant;
}

// (module (func (result v128) v128.const 0 v128.const 0 v128.const 0 f32x4.relaxed_madd))
const RELAXED_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 61, 1, 59, 0, 253, 12, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 253, 12, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 253, 133, 2, 11,
]);

/** Whether this engine validates relaxed-SIMD (f32x4.relaxed_madd). */
export function relaxedSimdSupported(): boolean {
  try {
    return wasm().validate(RELAXED_PROBE);
  } catch {
    return false;
  }
}

/**
 * Whether wasm threads can be used: SharedArrayBuffer exists and, in a browser, the page is
 * cross-origin isolated (Node: always when SharedArrayBuffer exists).
 */
export function threadsSupported(): boolean {
  if (typeof SharedArrayBuffer === 'undefined') return false;
  const g = globalThis as { crossOriginIsolated?: boolean; process?: { versions?: { node?: string } } };
  if (g.process?.versions?.node) return true;
  return g.crossOriginIsolated === true;
}
