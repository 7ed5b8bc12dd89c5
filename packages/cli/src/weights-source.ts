/**
 * `--arch` + `--weights`: the model a command works on. Without `--weights` the weights are
 * seeded. `.safetensors` holds weights only, so they must fit `--arch` (default
 * fastdepth-pruned); `.onnx` and `.tflite` files carry their own graph, which the importers
 * recover and match against the FastDepth family (or against `--arch` when it is given).
 */
import { importWeights } from '@fastdepth/importers';
import { initWeights, type Model } from '@fastdepth/graph-dsl';
import { basename, extname } from 'node:path';
import { looksLikePath, readInput, resolveArch } from './arch-source.js';

export const DEFAULT_ARCH = 'fastdepth-pruned';

export interface ModelSource {
  /** `--arch` as given (undefined = not given). */
  readonly arch?: string;
  readonly weights?: string;
  readonly seed: number;
  readonly inputSize?: number | readonly [number, number];
}

export interface LoadedModel {
  readonly model: Model;
  /** File stem for outputs: the arch name, or the graph file's name. */
  readonly stem: string;
  /** Where the weights came from, for reports: `seeded (seed 0)` or the file path. */
  readonly weightsSource: string;
}

function stemOf(arch: string): string {
  return looksLikePath(arch) ? basename(arch).replace(/\.json$/, '') : arch;
}

export async function loadModel(source: ModelSource): Promise<LoadedModel> {
  const { weights: weightsPath, seed, inputSize } = source;
  if (weightsPath === undefined) {
    const arch = source.arch ?? DEFAULT_ARCH;
    const graph = await resolveArch(arch, inputSize);
    return {
      model: { graph, weights: initWeights(graph, seed) },
      stem: stemOf(arch),
      weightsSource: `seeded (seed ${seed})`,
    };
  }
  const bytes = await readInput(weightsPath, 'weights file');
  const ext = extname(weightsPath).toLowerCase();
  const carriesGraph = ext === '.onnx' || ext === '.tflite';
  const arch = source.arch ?? (carriesGraph ? undefined : DEFAULT_ARCH);
  const graph = arch === undefined ? undefined : await resolveArch(arch, inputSize);
  const imported = importWeights(bytes, { source: weightsPath, ...(graph ? { graph } : {}) });
  return {
    model: imported.model,
    stem: arch === undefined ? imported.archName : stemOf(arch),
    weightsSource: weightsPath,
  };
}
