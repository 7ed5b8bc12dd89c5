/**
 * `--weights FILE`: where a model's weights come from. `.safetensors` must fit the graph
 * given by `--arch`; `.onnx` and `.tflite` files carry their own graph, which the importers
 * recover and check against the FastDepth family.
 */
import { extname } from 'node:path';
import { checkWeights, decodeSafetensors, initWeights, type Graph, type Model } from '@fastdepth/graph-dsl';
import { readInput } from './arch-source.js';
import { UserError } from './errors.js';

export const WEIGHT_FORMATS = ['.safetensors'] as const;

export interface LoadedModel {
  readonly model: Model;
  /** Where the weights came from, for reports: `seed 0` or the file path. */
  readonly weightsSource: string;
}

export async function loadModel(graph: Graph, weightsPath: string | undefined, seed: number): Promise<LoadedModel> {
  if (weightsPath === undefined) return { model: { graph, weights: initWeights(graph, seed) }, weightsSource: `seeded (seed ${seed})` };
  const ext = extname(weightsPath).toLowerCase();
  const bytes = await readInput(weightsPath, 'weights file');
  switch (ext) {
    case '.safetensors': {
      const { weights } = decodeSafetensors(bytes, weightsPath);
      checkWeights(graph, weights, weightsPath);
      return { model: { graph, weights }, weightsSource: weightsPath };
    }
    default:
      throw new UserError(`weights file "${weightsPath}": unsupported extension "${ext}" (supported: ${WEIGHT_FORMATS.join(', ')})`);
  }
}
