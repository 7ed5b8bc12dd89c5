/**
 * Test harness: writes a generated module into the package's `.tmp/`, imports it, runs it on
 * a tfjs backend and converts layouts. Test-only; not part of the build.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { threadId } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import type { EmitTfjsResult, WeightsManifest } from '../index.js';

export const PACKAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Under `.tmp/` (gitignored) and inside a `generated/` folder (which the root eslint ignores). */
export const TMP_DIR = join(PACKAGE_DIR, '.tmp', 'generated');

export type BackendName = 'cpu' | 'wasm';

let wasmReady = false;

/** Switches tfjs to `name`; wasm binaries come from node_modules (SIMD, no threads, no network). */
export async function useBackend(name: BackendName): Promise<void> {
  if (name === 'wasm' && !wasmReady) {
    const require = createRequire(import.meta.url);
    setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    wasmReady = true;
  }
  if (!(await tf.setBackend(name))) throw new Error(`tfjs backend ${name} failed to initialise`);
  await tf.ready();
}

/** The interface every generated module exports (weights kept opaque). */
export interface GeneratedModule {
  readonly MODEL_INFO: {
    readonly inputShape: readonly number[];
    readonly outputShape: readonly number[];
    readonly arch: string;
  };
  loadWeights(manifest: WeightsManifest, buffer: ArrayBuffer): GeneratedWeights;
  predict(input: tf.Tensor4D, weights: GeneratedWeights): tf.Tensor4D;
  dispose(weights: GeneratedWeights): void;
}
export type GeneratedWeights = Readonly<Record<string, tf.Tensor>>;

let counter = 0;
let workDir: string | undefined;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * This worker's scratch folder (per process and thread). Test workers often end without an
 * `exit` event, so folders of processes that are gone are removed on the next run.
 */
export function scratchDir(): string {
  if (workDir === undefined) {
    mkdirSync(TMP_DIR, { recursive: true });
    for (const name of readdirSync(TMP_DIR)) {
      const pid = /^p(\d+)-/.exec(name)?.[1];
      if (pid !== undefined && !alive(Number(pid)))
        rmSync(join(TMP_DIR, name), { recursive: true, force: true });
    }
    const dir = join(TMP_DIR, `p${process.pid}-t${threadId}`);
    mkdirSync(dir, { recursive: true });
    workDir = dir;
  }
  return workDir;
}

/** Writes `source` to a scratch `.ts` file and imports it. */
export async function importGenerated(source: string, tag: string): Promise<GeneratedModule> {
  const file = join(scratchDir(), `${tag}-${counter++}.ts`);
  writeFileSync(file, source);
  return (await import(/* @vite-ignore */ pathToFileURL(file).href)) as GeneratedModule;
}

/** A fresh ArrayBuffer holding exactly the weights bytes. */
export function weightsBuffer(result: EmitTfjsResult): ArrayBuffer {
  return result.weights.slice().buffer;
}

export function nchwToNhwc(data: ArrayLike<number>, [n, c, h, w]: readonly number[]): Float32Array {
  const out = new Float32Array(n! * c! * h! * w!);
  for (let b = 0; b < n!; b++)
    for (let ch = 0; ch < c!; ch++)
      for (let p = 0; p < h! * w!; p++) out[(b * h! * w! + p) * c! + ch] = data[(b * c! + ch) * h! * w! + p]!;
  return out;
}

export function nhwcToNchw(data: ArrayLike<number>, [n, h, w, c]: readonly number[]): Float64Array {
  const out = new Float64Array(n! * c! * h! * w!);
  for (let b = 0; b < n!; b++)
    for (let ch = 0; ch < c!; ch++)
      for (let p = 0; p < h! * w!; p++) out[(b * c! + ch) * h! * w! + p] = data[(b * h! * w! + p) * c! + ch]!;
  return out;
}

/** Runs the module once on the current backend; input and output in NCHW. */
export function runOnce(mod: GeneratedModule, result: EmitTfjsResult, inputNchw: Float32Array): Float64Array {
  const weights = mod.loadWeights(result.manifest, weightsBuffer(result));
  try {
    const [n, h, w, c] = mod.MODEL_INFO.inputShape as [number, number, number, number];
    const x = tf.tensor4d(nchwToNhwc(inputNchw, [n, c, h, w]), [n, h, w, c], 'float32');
    const y = mod.predict(x, weights);
    const out = nhwcToNchw(y.dataSync(), y.shape);
    tf.dispose([x, y]);
    return out;
  } finally {
    mod.dispose(weights);
  }
}

/** max |a - b| / max |b| (absolute when the reference is all zeros). */
export { maxRelativeError as relativeError } from '@fastdepth/graph-dsl';

/** Deterministic input values in [0, 1]. */
export function randomInput(size: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: size }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  });
}
