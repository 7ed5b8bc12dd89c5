/**
 * Quantised models as files and as float models: integer weights to and from safetensors
 * (I8 weights, I32 biases), and the float model a quantised one approximates.
 */
import { FormatError } from '../errors.js';
import type { Graph } from '../ir.js';
import { decodeSafetensorsRaw, encodeSafetensors } from '../safetensors.js';
import type { Model, TensorF32 } from '../weights.js';
import type { GraphQuantization, QuantTensor, QuantWeightMap, QuantizedModel } from './ir.js';
import { validateQuantizedModel } from './validate.js';

/** A quantised model's integer weights as a safetensors file. */
export function encodeQuantizedWeights(
  weights: QuantWeightMap,
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array {
  return encodeSafetensors(weights, metadata);
}

/** Reads integer weights (I8 and I32 tensors) from a safetensors file; `source` names it in errors. */
export function decodeQuantizedWeights(bytes: Uint8Array, source = 'weights'): Map<string, QuantTensor> {
  const { tensors } = decodeSafetensorsRaw(bytes, source);
  const out = new Map<string, QuantTensor>();
  for (const [name, t] of tensors) {
    const copy = t.bytes.slice(); // aligned and detached from the file's buffer
    if (t.dtype === 'I8') out.set(name, { dtype: 'int8', shape: t.shape, data: new Int8Array(copy.buffer) });
    else if (t.dtype === 'I32')
      out.set(name, { dtype: 'int32', shape: t.shape, data: new Int32Array(copy.buffer) });
    else
      throw new FormatError(
        source,
        `tensor "${name}": dtype ${t.dtype} is not an int8 model weight (I8 weights and I32 biases)`,
      );
  }
  return out;
}

/** Puts a graph and its integer weights together, validating them (`validateQuantizedModel`). */
export function quantizedModel(graph: Graph, weights: QuantWeightMap, file?: string): QuantizedModel {
  if (!graph.quantization)
    throw new FormatError(file ?? graph.name, 'the graph has no "quantization" field (not an int8 model)');
  const model: QuantizedModel = {
    graph: graph as Graph & { readonly quantization: GraphQuantization },
    weights,
  };
  validateQuantizedModel(model, file);
  return model;
}

/**
 * The float model a quantised one stands for: weights `s_w[c] * q`, biases
 * `s_in * s_w[c] * b`, the graph without its annotation. Running it through the float executor
 * gives what the int8 model computes up to its rounding, which is how PTQ and engines report
 * agreement.
 */
export function dequantizeModel(model: QuantizedModel): Model {
  const { quantization, ...graph } = model.graph;
  const weights = new Map<string, TensorF32>();
  for (const node of model.graph.nodes) {
    if (node.op !== 'conv2d') continue;
    const scales = quantization.weightScales[node.name]!;
    const inScale = quantization.tensors[node.inputs[0]!]!.scale;
    const scaleOf = (c: number): number => scales[scales.length === 1 ? 0 : c]!;
    const w = model.weights.get(`${node.name}.weight`)!;
    const perChannel = w.data.length / node.attrs.outChannels;
    weights.set(`${node.name}.weight`, {
      shape: w.shape,
      data: Float32Array.from(w.data, (q, i) => scaleOf(Math.floor(i / perChannel)) * q),
    });
    const b = model.weights.get(`${node.name}.bias`);
    if (b)
      weights.set(`${node.name}.bias`, {
        shape: b.shape,
        data: Float32Array.from(b.data, (q, c) => inScale * scaleOf(c) * q),
      });
  }
  return { graph, weights };
}
