/**
 * Test/demo/bench helper (not part of the library build): emits a model with codegen-tfjs,
 * codegen-onnx and codegen-wasm into a gitignored folder of this package, so the runtime is exercised on real
 * generated code. Weights are the paper's trained ones when `@fastdepth/importers` can read
 * the TFLite file, else seeded (`initWeights`).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { encodeOnnx } from '@fastdepth/codegen-onnx';
import { emitTfjs } from '@fastdepth/codegen-tfjs';
import { emitWasm } from '@fastdepth/codegen-wasm';
import { buildArch } from '@fastdepth/fastdepth-arch';
import { initWeights, type Graph, type Model } from '@fastdepth/graph-dsl';
import type { TfjsModelModule, WasmManifest, WasmVariant, WeightsManifestLike } from '../types.js';
import { WASM_VARIANTS } from '../wasm-model.js';

export const PACKAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Gitignored scratch folder (the root .gitignore has `tmp/`). */
export const TMP_DIR = join(PACKAGE_DIR, 'tmp');
/** Emitted models go under `tmp/generated/`: eslint ignores every `generated` folder. */
export const GENERATED_DIR = join(TMP_DIR, 'generated');
/** The shared data folder beside the clone (never copied into the repository); `FASTDEPTH_DATA` overrides it, as in the other packages' tests. */
export const SHARED_DATA_DIR =
  process.env['FASTDEPTH_DATA'] ?? join(PACKAGE_DIR, '..', '..', '..', 'shared', 'data');
export const TFLITE_WEIGHTS = join(SHARED_DATA_DIR, 'weights', 'fast_depth_224.tflite');

/** Where the weights of an emitted model came from. */
export type WeightsOrigin = 'trained' | 'seeded';

/** The files of one emitted model. */
export interface EmittedModel {
  readonly name: string;
  readonly dir: string;
  /** The generated tfjs module (`<name>.ts`). */
  readonly tfjsModule: string;
  readonly weightsBin: string;
  readonly weightsJson: string;
  readonly onnx: string;
  /** The compiled wasm model's manifest (`<name>.wasm-manifest.json`; modules and weights beside it), when emitted. */
  readonly wasmManifest: string;
  readonly origin: WeightsOrigin;
}

interface ImportersModule {
  importTflite(bytes: Uint8Array, source: string): { readonly model: Model; readonly archName: string };
}

/** The paper's trained weights through `@fastdepth/importers`, or undefined when it is not there yet. */
export async function trainedModel(): Promise<Model | undefined> {
  if (!existsSync(TFLITE_WEIGHTS)) return undefined;
  const specifier = '@fastdepth/importers';
  try {
    const importers = (await import(/* @vite-ignore */ specifier)) as Partial<ImportersModule>;
    if (typeof importers.importTflite !== 'function') return undefined;
    return importers.importTflite(new Uint8Array(readFileSync(TFLITE_WEIGHTS)), TFLITE_WEIGHTS).model;
  } catch {
    return undefined;
  }
}

/**
 * Writes the tfjs module + weights and the ONNX file of `model` under `dir` as `<name>.*`, and
 * with `wasm` the compiled wasm model (manifest, four builds, weights) too.
 */
export function emitModel(
  model: Model,
  name: string,
  dir: string,
  origin: WeightsOrigin,
  options: { readonly wasm?: boolean } = {},
): EmittedModel {
  mkdirSync(dir, { recursive: true });
  const tfjs = emitTfjs(model, {
    moduleName: name,
    regenerate: 'packages/runtime-web/src/testing/models.ts',
  });
  const files: EmittedModel = {
    name,
    dir,
    tfjsModule: join(dir, `${name}.ts`),
    weightsBin: join(dir, tfjs.manifest.weightsFile),
    weightsJson: join(dir, `${name}.weights.json`),
    onnx: join(dir, `${name}.onnx`),
    // In a folder of its own, as `fastdepth compile` writes it: its weights file has the tfjs one's name.
    wasmManifest: join(dir, 'wasm', `${name}.wasm-manifest.json`),
    origin,
  };
  writeFileSync(files.tfjsModule, tfjs.source);
  writeFileSync(files.weightsBin, tfjs.weights);
  writeFileSync(files.weightsJson, JSON.stringify(tfjs.manifest, null, 1));
  writeFileSync(files.onnx, encodeOnnx(model, { foldBatchNorm: true }));
  if (options.wasm !== true) return files;
  const wasm = emitWasm(model, { arch: name });
  const wasmDir = dirname(files.wasmManifest);
  mkdirSync(wasmDir, { recursive: true });
  writeFileSync(files.wasmManifest, JSON.stringify(wasm.manifest, null, 1));
  for (const variant of WASM_VARIANTS)
    writeFileSync(join(wasmDir, wasm.manifest.modules[variant]), wasm.modules[variant]);
  writeFileSync(join(wasmDir, wasm.manifest.weightsFile), wasm.weights);
  return files;
}

/** The compiled wasm model of `files`, read into memory. */
export function readWasm(files: EmittedModel): {
  manifest: WasmManifest;
  modules: Record<WasmVariant, Uint8Array>;
  weights: Uint8Array;
} {
  const manifest = JSON.parse(readFileSync(files.wasmManifest, 'utf8')) as WasmManifest;
  const dir = dirname(files.wasmManifest);
  const modules = Object.fromEntries(
    WASM_VARIANTS.map((v) => [v, new Uint8Array(readFileSync(join(dir, manifest.modules[v])))]),
  ) as Record<WasmVariant, Uint8Array>;
  return { manifest, modules, weights: new Uint8Array(readFileSync(join(dir, manifest.weightsFile))) };
}

/** A seeded model of `graph`. */
export function seededModel(graph: Graph, seed = 1): Model {
  return { graph, weights: initWeights(graph, seed) };
}

/** Emits `arch` at `size` (seeded weights) into `dir`, with `wasm` the compiled wasm model too. */
export function emitArch(
  arch: string,
  size: number,
  dir: string,
  seed = 1,
  options: { readonly wasm?: boolean } = {},
): EmittedModel {
  const name = `${arch}-${size}`;
  return emitModel(seededModel(buildArch(arch, { inputSize: size }), seed), name, dir, 'seeded', options);
}

/** Imports an emitted tfjs module. */
export async function importModule(files: EmittedModel): Promise<TfjsModelModule> {
  return (await import(/* @vite-ignore */ pathToFileURL(files.tfjsModule).href)) as TfjsModelModule;
}

/** Reads the manifest and weights of an emitted model. */
export function readWeights(files: EmittedModel): { manifest: WeightsManifestLike; buffer: ArrayBuffer } {
  const manifest = JSON.parse(readFileSync(files.weightsJson, 'utf8')) as WeightsManifestLike;
  return { manifest, buffer: new Uint8Array(readFileSync(files.weightsBin)).buffer };
}
