/**
 * Checks of quantised graphs: the JSON annotation as it is loaded (`parseQuantization`), and a
 * whole quantised model before it is executed or compiled (`validateQuantizedModel`). Both
 * throw errors that name the layer and the field, so a hand-edited or foreign file fails at
 * load, not as wrong integers later.
 */
import { FormatError, GraphError, WeightsError } from '../errors.js';
import { inferShapes } from '../graph.js';
import type { Graph, Node } from '../ir.js';
import { quote } from '../names.js';
import { fmt } from '../ops.js';
import { numel } from '../weights.js';
import { checkLutOutput } from './lut.js';
import {
  INT8_MAX,
  INT8_MIN,
  INTEGER_ARITHMETICS,
  type GraphQuantization,
  type IntegerArithmetic,
  type QuantParams,
  type QuantizedModel,
} from './ir.js';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A usable scale: positive, finite, and a float32 value (TFLite stores scales as float32). */
function scaleProblem(v: unknown): string | undefined {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) return 'must be a positive finite number';
  if (Math.fround(v) !== v) return 'must be a float32 value (as TFLite stores it)';
  if (v < 1e-30 || v > 1e30) return 'is outside [1e-30, 1e30]';
  return undefined;
}

function zeroPointProblem(v: unknown): string | undefined {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < INT8_MIN || v > INT8_MAX)
    return `must be an integer in [${INT8_MIN}, ${INT8_MAX}]`;
  return undefined;
}

/**
 * Ops whose int8 output carries exactly the input's scale and zero point (checked here, and
 * chosen once per chain of them by post-training quantisation).
 */
export const PASS_THROUGH: ReadonlySet<Node['op']> = new Set([
  'relu',
  'relu6',
  'clip',
  'avgPool2d',
  'globalAvgPool',
  'upsample',
  'resize',
  'maxPool',
  'unpool',
  'pixelShuffle',
  'output',
]);

/** Ops the int8 scheme defines (see `executeQuantized`). */
const INT8_OPS: ReadonlySet<Node['op']> = new Set([
  'input',
  'conv2d',
  'relu',
  'relu6',
  'add',
  'upsample',
  'resize',
  'maxPool',
  'unpool',
  'pixelShuffle',
  'concat',
  'clip',
  'avgPool2d',
  'globalAvgPool',
  'mul',
  'sigmoid',
  'hardSigmoid',
  'hardSwish',
  'output',
]);

function sameParams(a: QuantParams, b: QuantParams): boolean {
  return a.scale === b.scale && a.zeroPoint === b.zeroPoint;
}

/**
 * Validates the `quantization` field of a graph file against the graph's nodes: known scheme,
 * parameters for every layer and only for layers, weight scales for every convolution (one per
 * output channel, or one), pass-through ops carrying their input's parameters, and sigmoid and
 * hardSigmoid outputs carrying TFLite LOGISTIC's fixed ones.
 */
export function parseQuantization(raw: unknown, graph: Graph, source: string): GraphQuantization {
  const at = (field: string, detail: string): never => {
    throw new FormatError(source, `field "quantization${field}" ${detail}`);
  };
  if (!isRecord(raw)) return at('', 'must be an object');
  const extra = Object.keys(raw).filter(
    (k) => !['scheme', 'tensors', 'weightScales', 'arithmetic'].includes(k),
  );
  if (extra.length > 0) at('', `has an unknown field ${quote(extra[0]!)}`);
  if (raw.scheme !== 'int8')
    at('.scheme', `must be "int8", found ${quote(JSON.stringify(raw.scheme) ?? 'undefined')}`);
  if (raw.arithmetic !== undefined && !(INTEGER_ARITHMETICS as readonly unknown[]).includes(raw.arithmetic))
    at(
      '.arithmetic',
      `must be one of ${INTEGER_ARITHMETICS.map((a) => `"${a}"`).join(', ')}, found ${quote(JSON.stringify(raw.arithmetic) ?? 'undefined')}`,
    );
  const arithmetic = raw.arithmetic as IntegerArithmetic | undefined;
  if (!isRecord(raw.tensors)) return at('.tensors', 'must be an object keyed by layer name');
  if (!isRecord(raw.weightScales)) return at('.weightScales', 'must be an object keyed by layer name');
  const layers = new Set(graph.nodes.map((n) => n.name));
  const tensors: Record<string, QuantParams> = {};
  for (const [layer, p] of Object.entries(raw.tensors)) {
    // Keys come from the file: quoted until they are known to be the graph's (identifier) names.
    if (!layers.has(layer)) at('.tensors', `has a key ${quote(layer)} that names no layer of the graph`);
    const field = `.tensors.${layer}`;
    if (!isRecord(p)) return at(field, 'must be {"scale", "zeroPoint"}');
    const extraP = Object.keys(p).filter((k) => k !== 'scale' && k !== 'zeroPoint');
    if (extraP.length > 0) at(field, `has an unknown field ${quote(extraP[0]!)}`);
    const s = scaleProblem(p.scale);
    if (s) at(`${field}.scale`, s);
    const z = zeroPointProblem(p.zeroPoint);
    if (z) at(`${field}.zeroPoint`, z);
    tensors[layer] = { scale: p.scale as number, zeroPoint: p.zeroPoint as number };
  }
  const weightScales: Record<string, number[]> = {};
  for (const [layer, scales] of Object.entries(raw.weightScales)) {
    if (!layers.has(layer)) at('.weightScales', `has a key ${quote(layer)} that names no layer of the graph`);
    const field = `.weightScales.${layer}`;
    if (!Array.isArray(scales) || scales.length === 0)
      return at(field, 'must be a non-empty array of scales');
    scales.forEach((v, i) => {
      const s = scaleProblem(v);
      if (s) at(`${field}[${i}]`, s);
    });
    weightScales[layer] = scales as number[];
  }
  const quantization: GraphQuantization = {
    scheme: 'int8',
    tensors,
    weightScales,
    ...(arithmetic !== undefined ? { arithmetic } : {}),
  };
  try {
    checkAnnotation(graph, quantization);
  } catch (e) {
    if (e instanceof GraphError) throw new FormatError(source, e.message);
    throw e;
  }
  return quantization;
}

/** The structural rules of the annotation (shared by loading and model validation). */
function checkAnnotation(graph: Graph, q: GraphQuantization): void {
  if (q.arithmetic !== undefined && !INTEGER_ARITHMETICS.includes(q.arithmetic))
    throw new GraphError(
      graph.name,
      `quantization.arithmetic must be one of ${INTEGER_ARITHMETICS.join(', ')}, found ${JSON.stringify(q.arithmetic)}`,
    );
  const shapes = inferShapes(graph);
  for (const node of graph.nodes) {
    if (!INT8_OPS.has(node.op))
      throw new GraphError(
        node.name,
        `op ${node.op} has no int8 definition (int8 graphs use ${[...INT8_OPS].join(', ')}; fold BatchNorm first)`,
      );
    const p = q.tensors[node.name];
    if (!p) throw new GraphError(node.name, 'has no int8 parameters in "quantization.tensors"');
    if (PASS_THROUGH.has(node.op)) {
      const from = q.tensors[node.inputs[0]!];
      if (from && !sameParams(p, from)) {
        throw new GraphError(
          node.name,
          `${node.op} must carry its input's int8 parameters (scale ${from.scale}, zero point ${from.zeroPoint}), found scale ${p.scale}, zero point ${p.zeroPoint}`,
        );
      }
    }
    // The tables of sigmoid and hardSigmoid assume TFLite LOGISTIC's output scale and zero point.
    checkLutOutput(node.op, node.name, p);
    if (node.op === 'concat') {
      // TFLite's int8 CONCATENATION restriction: inputs and output share one scale and zero
      // point, so concatenating copies integers (post-training quantisation chooses them so).
      for (const input of node.inputs) {
        const from = q.tensors[input];
        if (from && !sameParams(p, from))
          throw new GraphError(
            node.name,
            `int8 concat needs every input to carry its parameters (scale ${p.scale}, zero point ${p.zeroPoint}); input "${input}" has scale ${from.scale}, zero point ${from.zeroPoint}`,
          );
      }
    }
    if (node.op === 'add' && node.inputs.length !== 2)
      throw new GraphError(node.name, `int8 add takes exactly 2 inputs, found ${node.inputs.length}`);
    const scales = q.weightScales[node.name];
    if (node.op === 'conv2d') {
      const cout = shapes.get(node.name)![1];
      if (!scales) throw new GraphError(node.name, 'has no weight scales in "quantization.weightScales"');
      if (scales.length !== 1 && scales.length !== cout)
        throw new GraphError(
          node.name,
          `has ${scales.length} weight scales; expected 1 or one per output channel (${cout})`,
        );
    } else if (scales) {
      throw new GraphError(node.name, `is a ${node.op}, not a convolution, but has weight scales`);
    }
  }
}

/**
 * Validates a quantised model completely: the annotation's rules (above), and integer weights
 * that fit the graph — every convolution's `weight` int8 in the float layout (OIHW), its
 * `bias` int32 of one value per output channel, nothing unexpected.
 */
export function validateQuantizedModel(model: QuantizedModel, file?: string): void {
  const { graph, weights } = model;
  checkAnnotation(graph, graph.quantization);
  const shapes = inferShapes(graph);
  const expected = new Set<string>();
  for (const node of graph.nodes) {
    if (node.op !== 'conv2d') continue;
    const [, cin] = shapes.get(node.inputs[0]!)!;
    const { outChannels: cout, kernel, groups } = node.attrs;
    const wShape = [cout, cin / groups, kernel[0], kernel[1]];
    const w = weights.get(`${node.name}.weight`);
    expected.add(`${node.name}.weight`);
    if (!w) throw new WeightsError(`${node.name}.weight`, `missing (expected int8 ${fmt(wShape)})`, file);
    if (w.dtype !== 'int8' || fmt(w.shape) !== fmt(wShape) || w.data.length !== numel(wShape))
      throw new WeightsError(
        `${node.name}.weight`,
        `must be int8 of shape ${fmt(wShape)}, found ${w.dtype} ${fmt(w.shape)}`,
        file,
      );
    const b = weights.get(`${node.name}.bias`);
    if (b) {
      expected.add(`${node.name}.bias`);
      if (b.dtype !== 'int32' || fmt(b.shape) !== fmt([cout]) || b.data.length !== cout)
        throw new WeightsError(
          `${node.name}.bias`,
          `must be int32 of shape [${cout}], found ${b.dtype} ${fmt(b.shape)}`,
          file,
        );
    } else if (node.attrs.bias) {
      throw new WeightsError(`${node.name}.bias`, `missing (expected int32 [${cout}])`, file);
    }
  }
  for (const name of weights.keys()) {
    if (!expected.has(name))
      throw new WeightsError(name, `is not an int8 parameter of graph "${graph.name}"`, file);
  }
}
