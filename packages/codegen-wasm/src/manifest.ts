/**
 * The artifact format `emitWasm` writes: the manifest beside the four modules, and what every
 * module exports. The host side (memory, weights copy, workers, variant choice, validation of
 * what it fetches) is `@fastdepth/runtime-web`'s wasm engine, which apps install on its own.
 */

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
  /**
   * Present on int8 builds (`emitWasmInt8`): the input is still float32 NCHW (quantised in the
   * module, TFLite's QUANTIZE) and the output dequantised float32; the int8 output is also kept.
   */
  readonly quantization?: {
    readonly scheme: 'int8';
    /** The integer arithmetic the build computes (graph-dsl `IntegerArithmetic`; absent: `tflite`). */
    readonly arithmetic?: 'tflite' | 'xnnpack';
    readonly input: { readonly scale: number; readonly zeroPoint: number };
    readonly output: { readonly scale: number; readonly zeroPoint: number };
    /** NCHW int8 output (channels padded to 8 planes). */
    readonly outputInt8: { readonly byteOffset: number };
  };
  /**
   * A float build's pointer to the int8 build of the same model in the same folder (its manifest
   * file name): runtime-web's wasm engine loads that one unless asked for `precision: 'float32'`.
   * Set it with `linkInt8Build`.
   */
  readonly int8Manifest?: string;
}

/** The file name of an int8 build's manifest (`wasmInt8ArtifactFiles` writes it). */
export function int8ManifestFile(arch: string): string {
  return `${arch}.int8.wasm-manifest.json`;
}

/**
 * `floatManifest` naming the int8 build of `int8Arch` as its int8 sibling (write both artifacts
 * into one folder): what `fastdepth compile --target wasm --quantize int8` writes, so apps that
 * load the float manifest run the int8 build.
 */
export function linkInt8Build(
  floatManifest: WasmManifest,
  int8Arch: string = floatManifest.arch,
): WasmManifest {
  return { ...floatManifest, int8Manifest: int8ManifestFile(int8Arch) };
}

/** What every emitted module exports. */
export interface WasmModelExports {
  /** All stages, this thread's share of each stage's rows; a barrier between stages when threads > 1. */
  run(thread: number, threads: number): void;
  /** One stage, rows [rowStart, rowEnd), using `thread`'s scratch tile. */
  run_stage(stage: number, rowStart: number, rowEnd: number, thread: number): void;
}
