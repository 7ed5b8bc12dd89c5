/**
 * `importTflite`: a TFLite file of a FastDepth-family network (int8 or float) to DSL weights.
 * Parse (read.ts) -> recover the float, BN-folded graph (recover.ts) -> read the widths off its
 * convolutions -> build `fastdepth({ widths })` -> match layer by layer (match.ts), turning each
 * folded bias into an identity-plus-bias BatchNorm.
 */
import {
  FastDepthError,
  FormatError,
  foldBatchNorm,
  quantizedModel,
  type Graph,
  type Model,
  type Node,
  type QuantParams,
  type QuantTensor,
  type QuantizedModel,
} from '@fastdepth/graph-dsl';
import { FASTDEPTH_PRUNED_WIDTHS, fastdepth, type FastDepthWidths } from '@fastdepth/fastdepth-arch';
import { matchModel } from '../match.js';
import { readTflite } from './read.js';
import { recoverTflite, type TensorSummary, type TfliteRecovery } from './recover.js';

/** What the importer found in the file. */
export interface TfliteImportReport {
  /** Model description string stored in the file. */
  readonly description: string;
  /** Count of each TFLite op. */
  readonly opCounts: Readonly<Record<string, number>>;
  /** Weights were stored as int8/uint8 and have been dequantised. */
  readonly quantized: boolean;
  readonly input: TensorSummary;
  readonly output: TensorSummary;
  /** Channel widths read off the convolutions. */
  readonly widths: FastDepthWidths;
  /** Convolutions recovered (each with a folded bias). */
  readonly convolutions: number;
  /** BatchNorm layers built as identity-plus-bias (all of them: TFLite always folds BN). */
  readonly identityBatchNorms: number;
}

export interface TfliteImportOptions {
  /** Match against this graph instead of `fastdepth({ widths })` with the widths read off the file. */
  readonly graph?: Graph;
}

export interface TfliteImport {
  readonly model: Model;
  /** `fastdepth-pruned`, `fastdepth`, or `fastdepth` with other widths (see `model.graph.meta.widths`). */
  readonly archName: string;
  readonly report: TfliteImportReport;
}

function equalWidths(a: FastDepthWidths, b: FastDepthWidths): boolean {
  const eq = (x: readonly number[], y: readonly number[]): boolean =>
    x.length === y.length && x.every((v, i) => v === y[i]);
  return eq(a.encoder, b.encoder) && eq(a.decoder, b.decoder);
}

/**
 * FastDepth's widths read off a recovered graph: the outputs of its full (non-depthwise)
 * convolutions, in order, are conv0, conv1..13 pointwise, decode_conv1..5 pointwise, head.
 */
function widthsOf(graph: Model['graph'], source: string): FastDepthWidths {
  const full = graph.nodes.filter((n) => n.op === 'conv2d' && n.attrs.groups === 1);
  const widths = full.map((n) => (n.op === 'conv2d' ? n.attrs.outChannels : 0));
  if (widths.length !== 20) {
    throw new FormatError(
      source,
      `not a FastDepth-family network: it has ${widths.length} full convolutions, FastDepth has 20 (conv0, 13 pointwise, 5 decoder pointwise, head)`,
    );
  }
  return { encoder: widths.slice(0, 14), decoder: widths.slice(14, 19) };
}

function describeOp(file: ReturnType<typeof readTflite>): (n: Node) => string {
  return (n) => {
    const index = /^op(\d+)_/.exec(n.name)?.[1];
    const op = index === undefined ? undefined : file.operators[Number(index)];
    return op ? `operator ${op.index} (${op.opName})` : `"${n.name}"`;
  };
}

/**
 * Imports a TFLite FastDepth. `source` names the file in errors: wrong identifier, truncation,
 * an op or layer that is not FastDepth's (the error says which operator and layer).
 */
export function importTflite(
  bytes: Uint8Array,
  source: string,
  options: TfliteImportOptions = {},
): TfliteImport {
  return importParts(bytes, source, options).imported;
}

/** The float import and what it was made from, for the int8 import to map onto. */
function importParts(
  bytes: Uint8Array,
  source: string,
  options: TfliteImportOptions,
): { imported: TfliteImport; recovered: TfliteRecovery; layerMap: ReadonlyMap<string, string> } {
  const file = readTflite(bytes, source);
  const recovered = recoverTflite(file, source);
  const widths = widthsOf(recovered.model.graph, source);
  let archName = equalWidths(widths, FASTDEPTH_PRUNED_WIDTHS) ? 'fastdepth-pruned' : 'fastdepth';
  const input = recovered.model.graph.nodes[0]!;
  const inputSize =
    input.op === 'input' ? ([input.attrs.shape[2], input.attrs.shape[3]] as const) : undefined;
  let graph: Graph;
  if (options.graph) {
    graph = options.graph;
    archName = String(graph.meta?.arch ?? graph.name);
  } else {
    try {
      graph = fastdepth({ widths, name: archName, ...(inputSize ? { inputSize } : {}) });
    } catch (error) {
      if (error instanceof FastDepthError)
        throw new FormatError(source, `not a FastDepth-family network: ${error.message}`);
      throw error;
    }
  }
  const { weights, identityBatchNorms, layerMap } = matchModel(graph, recovered.model, {
    source,
    archName,
    describe: describeOp(file),
  });
  const imported: TfliteImport = {
    model: { graph, weights },
    archName,
    report: {
      description: file.description,
      opCounts: recovered.opCounts,
      quantized: recovered.quantized,
      input: recovered.input,
      output: recovered.output,
      widths,
      convolutions: recovered.model.graph.nodes.filter((n) => n.op === 'conv2d').length,
      identityBatchNorms: identityBatchNorms.length,
    },
  };
  return { imported, recovered, layerMap };
}

/** An int8 TFLite file as the project's int8 model, and its float reading. */
export interface TfliteQuantizedImport extends TfliteImport {
  /**
   * The file's own int8 model on the architecture's layer names, BatchNorm folded (the
   * architecture's BN layers are gone; convolutions carry the file's int32 biases).
   */
  readonly quantized: QuantizedModel;
}

/** Ops whose int8 output carries their input's parameters (filled in where the file has no tensor). */
const PASS_THROUGH = new Set<Node['op']>(['relu', 'relu6', 'upsample', 'maxPool', 'output']);

/**
 * Imports an int8 TFLite FastDepth keeping its quantisation: every activation's scale and zero
 * point, the int8 weights with their per-channel scales and the int32 biases, exactly as stored,
 * so `executeQuantized` computes the integers TFLite's reference kernels compute. Also returns
 * the float import (`model`), as `importTflite` does. A file that is not int8 in the project's
 * scheme gets a `FormatError` saying which operator and tensor.
 */
export function importTfliteQuantized(
  bytes: Uint8Array,
  source: string,
  options: TfliteImportOptions = {},
): TfliteQuantizedImport {
  const { imported, recovered, layerMap } = importParts(bytes, source, options);
  const rec = recovered.int8;
  if (rec.problem) throw new FormatError(source, `not an int8 model in the project's scheme: ${rec.problem}`);
  const folded = foldBatchNorm(imported.model).graph;
  const tensors: Record<string, QuantParams> = {};
  const weightScales: Record<string, readonly number[]> = {};
  const weights = new Map<string, QuantTensor>();
  for (const node of folded.nodes) {
    const r = layerMap.get(node.name);
    const params =
      (r !== undefined ? rec.tensors.get(r) : undefined) ??
      (PASS_THROUGH.has(node.op) ? tensors[node.inputs[0]!] : undefined);
    if (!params)
      throw new FormatError(source, `layer "${node.name}": the file gives its output no int8 parameters`);
    tensors[node.name] = params;
    if (node.op !== 'conv2d' || r === undefined) continue;
    const w = rec.weights.get(`${r}.weight`);
    const b = rec.weights.get(`${r}.bias`);
    const scales = rec.weightScales.get(r);
    if (!w || !b || !scales)
      throw new FormatError(source, `layer "${node.name}": the file has no int8 weights for it`);
    weights.set(`${node.name}.weight`, w);
    weights.set(`${node.name}.bias`, b);
    weightScales[node.name] = scales;
  }
  const graph: Graph = { ...folded, quantization: { scheme: 'int8', tensors, weightScales } };
  return { ...imported, quantized: quantizedModel(graph, weights, source) };
}
