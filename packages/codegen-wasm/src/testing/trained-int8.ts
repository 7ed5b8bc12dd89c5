/**
 * The paper's trained int8 model (`../shared/data/weights/fast_depth_224.tflite`) as a
 * `QuantizedModel`, through graph-dsl/importers' `importTfliteQuantized` when this checkout has
 * it; undefined otherwise (tests that need it say so instead of passing silently).
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { QuantizedModel } from '@fastdepth/graph-dsl';

export const TFLITE_PATH = fileURLToPath(
  new URL('../../../../../shared/data/weights/fast_depth_224.tflite', import.meta.url),
);

export async function loadTrainedInt8(): Promise<QuantizedModel | undefined> {
  if (!existsSync(TFLITE_PATH)) return undefined;
  const mod = (await import('@fastdepth/importers')) as Record<string, unknown>;
  const importer = mod['importTfliteQuantized'] as ((bytes: Uint8Array) => QuantizedModel) | undefined;
  if (typeof importer !== 'function') return undefined;
  return importer(new Uint8Array(readFileSync(TFLITE_PATH)));
}
