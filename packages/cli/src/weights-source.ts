/**
 * `--arch` + `--weights`: the model a command works on. Without `--weights` the weights are
 * seeded. `.safetensors` holds weights only, so they must fit `--arch` (default
 * fastdepth-pruned); `.onnx` and `.tflite` files carry their own graph, which the importers
 * recover and match against the FastDepth family (or against `--arch` when it is given).
 *
 * Seeded weights are `calibratedInitWeights`: random BatchNorm statistics, the last BatchNorm's
 * measured on compile's check input, so the network's output on it varies from pixel to pixel. `compile` writes these weights and
 * checks every target against their reference output; with the authors' identity-BN init
 * that output is often all zeros, and a check against zeros proves nothing.
 */
import { importTfliteQuantized, importWeights, type TfliteQuantizedImport } from '@fastdepth/importers';
import {
  calibratedInitWeights,
  FormatError,
  graphInputs,
  GRAPH_NAME_RULE,
  isGraphName,
  quote,
  withInputSize,
  type Graph,
  type Model,
  type QuantizedModel,
} from '@fastdepth/graph-dsl';
import { basename, extname } from 'node:path';
import { looksLikePath, readInput, resolveArch } from './arch-source.js';
import { UserError } from './errors.js';
import { CHECK_INPUT_SEED } from './reference.js';

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
  /**
   * The file's own int8 model, when the weights are an int8 TFLite file (the paper's): what
   * `--engine wasm` runs by default (`--precision`), as TFLite computes it.
   */
  readonly quantized?: QuantizedModel;
}

/** The outputs' file stem: the arch name, or the graph file's name without `.json`. */
function stemOf(arch: string): string {
  if (!looksLikePath(arch)) return arch;
  const stem = basename(arch).replace(/\.json$/, '');
  // The stem names every output file and goes into generated code and READMEs.
  if (!isGraphName(stem)) {
    throw new UserError(
      `--arch ${quote(arch)}: the file name ${quote(stem)} names the outputs, so it must be a plain file name (${GRAPH_NAME_RULE}); rename the file`,
    );
  }
  return stem;
}

export async function loadModel(source: ModelSource): Promise<LoadedModel> {
  const { weights: weightsPath, seed, inputSize } = source;
  if (weightsPath === undefined) {
    const arch = source.arch ?? DEFAULT_ARCH;
    const graph = await resolveArch(arch, inputSize);
    return {
      // Calibrated on compile's check input itself, so that check sees a varying output.
      model: { graph, weights: calibratedInitWeights(graph, seed, CHECK_INPUT_SEED) },
      stem: stemOf(arch),
      weightsSource: `seeded (seed ${seed})`,
    };
  }
  const bytes = await readInput(weightsPath, 'weights file', 'weights');
  const ext = extname(weightsPath).toLowerCase();
  const carriesGraph = ext === '.onnx' || ext === '.tflite';
  const arch = source.arch ?? (carriesGraph ? undefined : DEFAULT_ARCH);
  const graph = arch === undefined ? undefined : await resolveArch(arch, inputSize);
  // An int8 TFLite file is read once for both its readings; anything else as before.
  const int8 = ext === '.tflite' ? int8Import(bytes, weightsPath, graph) : undefined;
  const imported = int8 ?? importWeights(bytes, { source: weightsPath, ...(graph ? { graph } : {}) });
  const resize = graph === undefined && inputSize !== undefined;
  const quantized =
    int8 && resize
      ? { ...int8.quantized, graph: resizedInt8(int8.quantized, inputSize, weightsPath) }
      : int8?.quantized;
  return {
    model: resize ? resized(imported.model, inputSize, weightsPath) : imported.model,
    stem: arch === undefined ? imported.archName : stemOf(arch),
    weightsSource: weightsPath,
    ...(quantized ? { quantized } : {}),
  };
}

/**
 * Both readings of an int8 TFLite file (its float model and its own int8 model) from one parse;
 * undefined for a float file or one outside the project's int8 scheme (read as float then).
 */
function int8Import(
  bytes: Uint8Array,
  file: string,
  graph: Graph | undefined,
): TfliteQuantizedImport | undefined {
  try {
    return importTfliteQuantized(bytes, file, graph ? { graph } : {});
  } catch (e) {
    if (e instanceof FormatError && /not an int8 model/.test(e.message)) return undefined;
    throw e;
  }
}

/** The int8 graph at `--input-size`: shapes are inferred, so the annotation (keyed by layer) fits. */
function resizedInt8(
  quantized: QuantizedModel,
  inputSize: number | readonly [number, number],
  file: string,
): QuantizedModel['graph'] {
  const { quantization, ...plain } = quantized.graph;
  return { ...resized({ graph: plain, weights: new Map() }, inputSize, file).graph, quantization };
}

/**
 * A file's own graph at `--input-size`: the family is fully convolutional, so only the input
 * size changes (the file records the size it was exported at, e.g. 224 for the paper's model).
 */
function resized(model: Model, inputSize: number | readonly [number, number], file: string): Model {
  const size: [number, number] =
    typeof inputSize === 'number' ? [inputSize, inputSize] : [inputSize[0], inputSize[1]];
  const [, , h, w] = graphInputs(model.graph)[0]!.attrs.shape;
  if (h === size[0] && w === size[1]) return model;
  try {
    return { graph: withInputSize(model.graph, size), weights: model.weights };
  } catch (e) {
    throw new UserError(
      `--input-size ${size.join('x')}: the network in "${file}" does not fit that size: ${(e as Error).message}`,
    );
  }
}
