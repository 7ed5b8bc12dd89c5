/**
 * A minimal single-thread host (Node or a browser): instantiates a module on a memory, copies the
 * weights, writes the input and reads the output, for any output shape. The tests, the benchmark
 * and compile's parity check of networks whose output is not a depth map use it. Applications
 * load depth artifacts with `@fastdepth/runtime-web` (engine `wasm`), which validates every file
 * it reads and runs the threads in workers.
 */
import {
  WASM_MANIFEST_FORMAT,
  WASM_MANIFEST_VERSION,
  type WasmManifest,
  type WasmModelExports,
} from './manifest.js';

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
