/**
 * DSL graph + weights -> ONNX ModelProto. The graph is validated and the weights checked first,
 * so a bad model fails with the layer or tensor named, not deep inside the emitter.
 */
import {
  commentText,
  checkWeights,
  consumers,
  FastDepthError,
  foldBatchNorm,
  FormatError,
  inferShapes,
  validateGraph,
  type Graph,
  type Model,
  type Node,
  type Shape,
} from '@fastdepth/graph-dsl';
import type { onnx } from 'onnx-proto';
import { EMITTERS, type EmitContext } from './emitters.js';
import { floatTensor, floatValueInfo, proto } from './proto.js';
import { PACKAGE_VERSION } from './version.js';

/** Opsets this emitter writes: 13 (Clip/Resize/Pad/Unsqueeze inputs as tensors) up to 17. */
export const SUPPORTED_OPSETS: readonly number[] = [13, 14, 15, 16, 17];
export const DEFAULT_OPSET = 13;
/** Written as the model's `producer_name`. */
export const PRODUCER_NAME = 'fastdepth-toolkit';

export interface OnnxEmitOptions {
  /** ONNX opset of the default domain, 13..17 (default 13). */
  readonly opset?: number;
  /** Fold every BatchNorm that follows a conv into the conv's weight and bias (default false). */
  readonly foldBatchNorm?: boolean;
  /** First line of the model doc string; a generated line (arch, opset, BatchNorm kept or folded) follows. */
  readonly docString?: string;
}

const MIN_OPSET = SUPPORTED_OPSETS[0]!;
const MAX_OPSET = SUPPORTED_OPSETS[SUPPORTED_OPSETS.length - 1]!;

/** Checks an opset and returns it; throws `FastDepthError` naming the value and the range. */
export function checkOpset(opset: number): number {
  if (!SUPPORTED_OPSETS.includes(opset)) {
    throw new FastDepthError(
      `ONNX opset ${String(opset)} is not supported: choose an integer from ${MIN_OPSET} to ${MAX_OPSET}`,
    );
  }
  return opset;
}

/** The IR version that goes with an opset (what onnx.helper.make_model picks): 13-14 -> 7, 15-17 -> 8. */
export function irVersionForOpset(opset: number): number {
  return checkOpset(opset) <= 14 ? 7 : 8;
}

/**
 * Where each layer's output lives. Every layer writes the value named after it, except a layer
 * read only by an output layer: it writes the output's name directly, so no Identity is needed.
 */
function valueNames(graph: Graph): Map<string, string> {
  const names = new Map(graph.nodes.map((n) => [n.name, n.name]));
  const users = consumers(graph);
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  for (const out of graph.nodes) {
    if (out.op !== 'output') continue;
    const producer = byName.get(out.inputs[0]!)!;
    if (producer.op === 'input' || producer.op === 'output') continue;
    if (users.get(producer.name)!.length === 1) names.set(producer.name, out.name);
  }
  return names;
}

function describe(graph: Graph, opset: number, folded: boolean, bnBefore: number, bnAfter: number): string {
  const bn =
    bnBefore === 0
      ? 'no BatchNorm layers'
      : folded
        ? `BatchNorm folded into convolutions (${bnBefore - bnAfter} of ${bnBefore}${bnAfter > 0 ? `, ${bnAfter} kept` : ''})`
        : `BatchNorm kept (${bnBefore} layers)`;
  // Viewers show the doc string as text: the name stays on its line, escaped (it is data).
  return `${commentText(graph.name)}: exported by ${PRODUCER_NAME} ${PACKAGE_VERSION}, ONNX opset ${opset}, ${bn}.`;
}

function countBatchNorm(graph: Graph): number {
  return graph.nodes.filter((n) => n.op === 'batchNorm').length;
}

function emitNode(node: Node, ctx: EmitContext): void {
  // The table is per-op typed; the union call needs the usual widening (as OPS in graph-dsl).
  const emit = EMITTERS[node.op] as (n: Node, c: EmitContext) => void;
  emit(node, ctx);
}

/**
 * Builds the ONNX model of `model`: inputs and outputs named after the DSL input and output
 * layers, float32 with static shapes; initializers named like the weights (`conv0.weight`);
 * nodes named after the layers. Throws `FastDepthError` on an unsupported opset, `GraphError`
 * on a bad graph and `WeightsError` naming a missing or malformed tensor.
 */
export function emitOnnx(model: Model, options: OnnxEmitOptions = {}): onnx.ModelProto {
  const opset = checkOpset(options.opset ?? DEFAULT_OPSET);
  validateGraph(model.graph);
  checkWeights(model.graph, model.weights);
  const bnBefore = countBatchNorm(model.graph);
  const folded = options.foldBatchNorm ?? false;
  const { graph, weights } = folded ? foldBatchNorm(model) : model;

  const shapes = inferShapes(graph);
  const values = valueNames(graph);
  const nodes: onnx.NodeProto[] = [];
  const initializers: onnx.TensorProto[] = [];
  const initializerNames = new Set<string>();
  const addInitializer = (tensor: onnx.TensorProto): string => {
    if (!initializerNames.has(tensor.name)) {
      initializerNames.add(tensor.name);
      initializers.push(tensor);
    }
    return tensor.name;
  };
  const ctx: EmitContext = {
    opset,
    value: (layer) => values.get(layer)!,
    shape: (layer): Shape => shapes.get(layer)!,
    weight: (layer, suffix) => {
      const name = `${layer}.${suffix}`;
      const t = weights.get(name);
      // checkWeights ran on the input model; a miss here is a bug in a pass, not user input.
      if (!t) throw new Error(`codegen-onnx: weight "${name}" disappeared after BatchNorm folding`);
      return addInitializer(floatTensor(name, t.shape, t.data));
    },
    constant: addInitializer,
    node: (opType, name, inputs, outputs, attrs = []) => {
      nodes.push(
        proto.NodeProto.create({
          opType,
          name,
          input: [...inputs],
          output: [...outputs],
          attribute: [...attrs],
        }),
      );
    },
  };
  for (const node of graph.nodes) emitNode(node, ctx);

  const graphInputs: onnx.ValueInfoProto[] = [];
  const graphOutputs: onnx.ValueInfoProto[] = [];
  const valueInfo: onnx.ValueInfoProto[] = [];
  for (const node of graph.nodes) {
    const info = floatValueInfo(values.get(node.name)!, shapes.get(node.name)!);
    if (node.op === 'input') graphInputs.push(info);
    else if (node.op === 'output') graphOutputs.push(info);
    // Intermediate shapes help viewers and runtimes; skip values that are graph outputs.
    else if (values.get(node.name) === node.name) valueInfo.push(info);
  }

  const metadata: Record<string, string> = {
    arch: graph.name,
    batch_norm: folded ? 'folded' : 'kept',
    ...Object.fromEntries(Object.entries(graph.meta ?? {}).map(([k, v]) => [`meta.${k}`, String(v)])),
  };
  return proto.ModelProto.create({
    irVersion: irVersionForOpset(opset),
    opsetImport: [{ domain: '', version: opset }],
    producerName: PRODUCER_NAME,
    producerVersion: PACKAGE_VERSION,
    docString: [options.docString, describe(graph, opset, folded, bnBefore, countBatchNorm(graph))]
      .filter((line) => line !== undefined && line !== '')
      .join('\n'),
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    graph: proto.GraphProto.create({
      name: graph.name,
      node: nodes,
      initializer: initializers,
      input: graphInputs,
      output: graphOutputs,
      valueInfo,
    }),
  });
}

/** `emitOnnx`, serialized: the bytes of a `.onnx` file. */
export function encodeOnnx(model: Model, options: OnnxEmitOptions = {}): Uint8Array {
  return proto.ModelProto.encode(emitOnnx(model, options)).finish();
}

/** Parses `.onnx` bytes; throws `FormatError` naming `file` when they are not a ModelProto. */
export function decodeOnnx(bytes: Uint8Array, file = '<onnx bytes>'): onnx.ModelProto {
  let model: onnx.ModelProto;
  try {
    model = proto.ModelProto.decode(bytes);
  } catch (e) {
    throw new FormatError(file, `not an ONNX model (${(e as Error).message})`);
  }
  if (!model.graph) throw new FormatError(file, 'not an ONNX model (no graph)');
  return model;
}
