/**
 * Node-only helper: loads a generated module in-process without a bundler (the CLI's `predict`
 * and `eval` use it). Plain Node cannot import TypeScript, so the source is transpiled with the
 * TypeScript bundled in ts-morph, its `@tensorflow/tfjs-core` import is pointed at the copy
 * this package resolves (the same file the caller's `import '@tensorflow/tfjs-core'` loads),
 * and the result is imported from a temporary file.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as tf from '@tensorflow/tfjs-core';
import { ts } from 'ts-morph';
import type { EmitTfjsResult } from './emit.js';
import type { WeightsManifest } from './manifest.js';

/** What every generated module exports (weights kept opaque). */
export interface GeneratedTfjsModule {
  readonly MODEL_INFO: {
    readonly arch: string;
    readonly inputShape: readonly number[];
    readonly outputShape: readonly number[];
    readonly [key: string]: unknown;
  };
  loadWeights(manifest: WeightsManifest, buffer: ArrayBuffer): GeneratedTfjsWeights;
  predict(input: tf.Tensor4D, weights: GeneratedTfjsWeights): tf.Tensor4D;
  dispose(weights: GeneratedTfjsWeights): void;
}

/** A generated module's `Weights`, seen from outside: tensors by manifest name. */
export type GeneratedTfjsWeights = Readonly<Record<string, tf.Tensor>>;

export interface LoadedTfjsModule {
  readonly module: GeneratedTfjsModule;
  readonly manifest: WeightsManifest;
  /** A fresh copy of the weights file bytes. */
  readonly weights: ArrayBuffer;
}

/** Transpiles and imports `result.source`; returns the module with its manifest and weights. */
export async function importGeneratedModule(result: EmitTfjsResult): Promise<LoadedTfjsModule> {
  const js = ts.transpileModule(result.source, {
    compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  const tfjsCore = pathToFileURL(createRequire(import.meta.url).resolve('@tensorflow/tfjs-core')).href;
  // Only the import statement itself (a line of its own), never text inside the header comment.
  const code = js.replace(
    /^(import \* as tf from )'@tensorflow\/tfjs-core';$/m,
    `$1${JSON.stringify(tfjsCore)};`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'fastdepth-tfjs-'));
  try {
    const file = join(dir, 'model.mjs');
    writeFileSync(file, code);
    const module = (await import(/* @vite-ignore */ pathToFileURL(file).href)) as GeneratedTfjsModule;
    return { module, manifest: result.manifest, weights: result.weights.slice().buffer };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
