/**
 * `importWeights`: one entry point for the CLI's `--weights FILE`, dispatching on the extension
 * (or, for bytes without a name, on the file's magic): `.safetensors` (our own weight files,
 * checked against the graph the caller supplies), `.onnx`, `.tflite`.
 */
import { extname } from 'node:path';
import {
  checkWeights,
  decodeSafetensors,
  FastDepthError,
  FormatError,
  quote,
  type Graph,
  type Model,
} from '@fastdepth/graph-dsl';
import { readUserFileSync } from '@fastdepth/graph-dsl/read-file';
import { buildArch } from '@fastdepth/fastdepth-arch';
import { importOnnx } from './onnx/import.js';
import { importTflite } from './tflite/import.js';
import { archNameOf } from './match.js';

export type WeightFormat = 'safetensors' | 'onnx' | 'tflite';

export interface ImportWeightsOptions {
  /** The graph the weights are for: required for safetensors (unless `arch` is given); for ONNX and TFLite, the graph to match instead of inferring one. */
  readonly graph?: Graph;
  /** An architecture name (`ARCH_NAMES`): builds the graph when `graph` is absent. */
  readonly arch?: string;
  /** Force a format instead of reading it off the extension / magic. */
  readonly format?: WeightFormat;
  /** Name for errors when `file` is bytes. Default `<weights>`. */
  readonly source?: string;
}

export interface ImportedWeights {
  readonly model: Model;
  readonly archName: string;
}

const EXTENSIONS: Readonly<Record<string, WeightFormat>> = {
  '.safetensors': 'safetensors',
  '.onnx': 'onnx',
  '.tflite': 'tflite',
};

/** The format of a file from its name, else from its first bytes. */
export function detectFormat(bytes: Uint8Array, source: string): WeightFormat {
  const byExt = EXTENSIONS[extname(source).toLowerCase()];
  if (byExt) return byExt;
  if (bytes.length >= 8 && String.fromCharCode(...bytes.subarray(4, 8)) === 'TFL3') return 'tflite';
  if (bytes.length >= 9 && bytes[8] === 0x7b /* '{' */ && bytes[6] === 0 && bytes[7] === 0)
    return 'safetensors';
  if (extname(source) === '') return 'onnx';
  throw new FormatError(
    source,
    `unknown weight file extension ${quote(extname(source))} (.safetensors, .onnx and .tflite are read)`,
  );
}

/**
 * Reads weights from a path or bytes. Throws `FastDepthError` subclasses only: `FormatError`
 * (bad file, naming it), `WeightsError` (safetensors that do not fit the graph).
 */
export function importWeights(
  file: string | Uint8Array,
  options: ImportWeightsOptions = {},
): ImportedWeights {
  const source = typeof file === 'string' ? file : (options.source ?? '<weights>');
  let bytes: Uint8Array;
  if (typeof file === 'string') {
    bytes = readUserFileSync(file, 'weights file', 'weights');
  } else {
    bytes = file;
  }
  const format = options.format ?? detectFormat(bytes, source);
  const graph = options.graph ?? (options.arch !== undefined ? buildArch(options.arch) : undefined);
  switch (format) {
    case 'safetensors': {
      if (!graph)
        throw new FastDepthError(
          `${source}: a safetensors file holds weights only; name the architecture (--arch) or graph it belongs to`,
        );
      const { weights } = decodeSafetensors(bytes, source);
      checkWeights(graph, weights, source);
      return { model: { graph, weights }, archName: archNameOf(graph, source, options.arch) };
    }
    case 'onnx': {
      const r = importOnnx(bytes, source, {
        ...(options.arch !== undefined ? { arch: options.arch } : {}),
        ...(options.graph ? { graph: options.graph } : {}),
      });
      return { model: r.model, archName: r.archName };
    }
    case 'tflite': {
      const r = importTflite(bytes, source, graph ? { graph } : {});
      return { model: r.model, archName: r.archName };
    }
  }
}
