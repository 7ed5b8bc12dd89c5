/**
 * Post-training quantisation of any DSL network to TFLite's int8 scheme (see `ir.ts`):
 *
 * 1. BatchNorm is folded into the convolutions (`foldBatchNorm`), stride-2 transposed convs
 *    become zero insertion + conv and stride-1 ones a conv (`lowerConvTranspose`); what remains
 *    must be ops the int8 semantics define (every op but BatchNorm and convTranspose2d: see
 *    `ir.ts`).
 * 2. Weights: symmetric int8 per output channel, `scale = max|w| / 127`, zero point 0; biases
 *    int32 in units of `inputScale * weightScale[c]`.
 * 3. Activations: per-tensor asymmetric int8, from the ranges the float reference executor
 *    sees on calibration inputs (min/max, or a percentile that ignores rare outliers).
 *
 * Relu, relu6, clip, upsample, max and average pools, global average pool, unpool, pixel shuffle
 * and output carry their input's parameters exactly (`PASS_THROUGH`), so the parameters are
 * chosen once per chain of such ops, at the layer that produces it (input, conv, add, mul,
 * hardSwish), to cover what the chain's readers see: a conv read only through a relu needs
 * [0, max] and not its negative half (the relu clamps it away anyway), a relu6 output is
 * [0, 6], a clip output [min, max]. Sigmoid and hardSigmoid outputs are not calibrated: they
 * carry TFLite LOGISTIC's fixed scale 1/256 and zero point -128, and so does their chain. A
 * concat joins its inputs' chains: one set of parameters covers all of them (the encoder's skip
 * tensor then shares the decoder's range, as TFLite's converter does it). Every range includes
 * 0 so that the zero point represents 0 exactly (padding and relu clamp at it).
 */
import { GraphError } from '../errors.js';
import { execute } from '../executor.js';
import { consumers, graphInputs, graphOutputs, inferShapes } from '../graph.js';
import { assertNever, type Conv2dAttrs, type Graph, type Node } from '../ir.js';
import { foldBatchNorm } from '../passes/fold-batch-norm.js';
import { convTransposeLoweringProblem, lowerConvTranspose } from '../passes/lower-conv-transpose.js';
import { numel, type WeightMap } from '../weights.js';
import { roundHalfAwayFromZero } from './fixed-point.js';
import { fixedOutputParams } from './lut.js';
import {
  INT8_MAX,
  INT8_MIN,
  type GraphQuantization,
  type QuantizedModel,
  type QuantParams,
  type QuantTensor,
} from './ir.js';
import { PASS_THROUGH } from './validate.js';

/** How activation ranges are measured on the calibration inputs. */
export type CalibrationMethod = 'minmax' | 'percentile';
/** Every {@link CalibrationMethod}, for option checks and help texts. */
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['minmax', 'percentile'];

/** The default percentile of `calibration: 'percentile'`: 1 value in 10^4 may saturate at each end. */
export const DEFAULT_PERCENTILE = 99.99;

/**
 * Input parameters for images fed as RGB / 255 (the authors' preprocessing): [0, 1] in 255
 * steps, so an 8-bit pixel p is exactly q = p - 128 (the paper's TFLite model uses the same).
 */
export const IMAGE_INPUT_PARAMS: QuantParams = { scale: Math.fround(1 / 255), zeroPoint: -128 };

/** A tensor fed to the float executor (NCHW data; the shape is informative). */
export interface FloatTensor {
  readonly shape: readonly number[];
  readonly data: ArrayLike<number>;
}

/** One calibration sample: a tensor for the graph's single input, or one tensor per input name. */
export type CalibrationInput = FloatTensor | Readonly<Record<string, FloatTensor>>;

/** Options of `quantizeModel`: how activation ranges are calibrated. */
export interface QuantizeOptions {
  /** `minmax` (default): the full observed range; `percentile`: the `percentile` / `100 - percentile` values. */
  readonly calibration?: CalibrationMethod;
  /** For `calibration: 'percentile'`: a number in (50, 100], default 99.99. */
  readonly percentile?: number;
  /**
   * Parameters of the graph inputs: fixed ones (default `IMAGE_INPUT_PARAMS`, what a u8
   * image input needs), or `'calibrate'` to measure them like any other tensor.
   */
  readonly inputParams?: QuantParams | 'calibrate';
  /**
   * Range of relu6 outputs: `calibrated` (default) = the observed range (within [0, 6] by
   * definition), `fixed` = [0, 6] whatever was observed (6/255 steps: coarse where the
   * network's relu6 outputs stay small, as with seeded weights).
   */
  readonly relu6Range?: 'calibrated' | 'fixed';
  /** Called after each calibration input has run (progress for long calibrations). */
  readonly onInput?: (index: number, count: number) => void;
}

/** The observed range of one tensor. */
export interface TensorRange {
  readonly min: number;
  readonly max: number;
}

/**
 * Readers that clamp (relu and relu6 at 0 and above, clip at its bounds): what their input holds
 * beyond the range they pass never matters, so their own output's range is what it needs.
 */
const CLAMPS = new Set<Node['op']>(['relu', 'relu6', 'clip']);

/**
 * Post-training int8 quantisation of `graph` with float `weights`, calibrated by running the
 * float reference executor on `calibrationInputs`. Deterministic. BatchNorms are folded into
 * their convs first, and stride-2 transposed convs become zero insertion + conv, stride-1 ones a
 * conv (`lowerConvTranspose`: the quantised graph has an `unpool`, at stride 2, and a `conv2d`
 * where the float one had a `convTranspose2d`, the conv under the same name). Throws `GraphError` naming the layer
 * for what the int8 scheme lacks (other transposed convs, BatchNorm that follows no
 * convolution, an add of three inputs, a concat of tensors whose parameters are fixed with
 * others) or for non-finite values during calibration.
 */
export function quantizeModel(
  graph: Graph,
  weights: WeightMap,
  calibrationInputs: readonly CalibrationInput[],
  options: QuantizeOptions = {},
): QuantizedModel {
  const calibration = options.calibration ?? 'minmax';
  const percentile = options.percentile ?? DEFAULT_PERCENTILE;
  if (!CALIBRATION_METHODS.includes(calibration))
    throw new RangeError(
      `quantizeModel: calibration must be minmax or percentile, found "${calibration as string}"`,
    );
  if (!(percentile > 50 && percentile <= 100))
    throw new RangeError(`quantizeModel: percentile must be in (50, 100], found ${percentile}`);
  if (calibrationInputs.length === 0) throw new RangeError('quantizeModel: no calibration inputs');

  // Transposed convs run as zero insertion + conv, two int8 ops (a conv alone at stride 1;
  // exactly TFLite's TRANSPOSE_CONV integers: `lowerConvTranspose`).
  const folded = lowerConvTranspose(foldBatchNorm({ graph, weights }));
  checkInt8Ops(folded.graph);
  const fixedInput = options.inputParams ?? IMAGE_INPUT_PARAMS;
  const groups = shareGroups(folded.graph, fixedInput !== 'calibrate');

  // Only tensors some reader sees raw need a range.
  const fixedRelu6 = options.relu6Range === 'fixed';
  const measured = new Set<string>();
  for (const [root, members] of groups) {
    const rootOp = folded.graph.nodes.find((n) => n.name === root)!.op;
    if ((rootOp === 'input' && fixedInput !== 'calibrate') || fixedOutputParams(rootOp)) continue;
    for (const m of coveredMembers(folded.graph, members))
      if (!(fixedRelu6 && m.op === 'relu6')) measured.add(m.name);
  }
  const ranges = calibrateRanges(folded.graph, folded.weights, calibrationInputs, {
    layers: measured,
    calibration,
    percentile,
    ...(options.onInput ? { onInput: options.onInput } : {}),
  });

  const tensors: Record<string, QuantParams> = {};
  for (const [root, members] of groups) {
    const rootNode = members[0]!;
    let params: QuantParams;
    const fixedOutput = fixedOutputParams(rootNode.op);
    if (rootNode.op === 'input' && fixedInput !== 'calibrate') {
      params = fixedInput;
    } else if (fixedOutput) {
      params = fixedOutput;
    } else {
      let lo = 0;
      let hi = 0;
      for (const m of coveredMembers(folded.graph, members)) {
        const r = m.op === 'relu6' && fixedRelu6 ? { min: 0, max: 6 } : ranges.get(m.name)!;
        lo = Math.min(lo, r.min);
        hi = Math.max(hi, r.max);
      }
      params = paramsForRange(lo, hi, root);
    }
    for (const m of members) tensors[m.name] = params;
  }

  const { nodes, quantWeights, weightScales } = quantizeWeights(folded.graph, folded.weights, tensors);
  const quantization: GraphQuantization = { scheme: 'int8', tensors, weightScales };
  const meta = {
    ...folded.graph.meta,
    ptqCalibration: calibration === 'percentile' ? `percentile ${percentile}` : 'minmax',
    ptqInputs: calibrationInputs.length,
  };
  return { graph: { ...folded.graph, nodes, meta, quantization }, weights: quantWeights };
}

/** Throws for the first op the int8 semantics do not define. */
function checkInt8Ops(graph: Graph): void {
  for (const node of graph.nodes) {
    switch (node.op) {
      case 'input':
      case 'conv2d':
      case 'relu':
      case 'relu6':
      case 'clip':
      case 'maxPool':
      case 'avgPool2d':
      case 'globalAvgPool':
      case 'unpool':
      case 'pixelShuffle':
      case 'concat':
      case 'mul':
      case 'sigmoid':
      case 'hardSigmoid':
      case 'hardSwish':
      case 'output':
        break;
      case 'add':
        if (node.inputs.length !== 2)
          throw new GraphError(node.name, `int8 add takes 2 inputs, found ${node.inputs.length}`);
        break;
      case 'upsample':
      case 'resize':
        // Nearest and bilinear alike: a bilinear value is a convex mix of its input's, so the
        // input's parameters cover it (TFLite's RESIZE_BILINEAR keeps them too).
        break;
      case 'batchNorm':
        throw new GraphError(
          node.name,
          'BatchNorm that does not follow a convolution read by nothing else cannot be folded, and int8 has no BatchNorm',
        );
      case 'convTranspose2d':
        throw new GraphError(
          node.name,
          `int8 quantisation cannot take this transposed conv: ${convTransposeLoweringProblem(node) ?? 'not lowered'}`,
        );
      default:
        assertNever(node);
    }
  }
}

/**
 * Root name -> the nodes that carry one set of parameters, in graph order: a producer and the
 * pass-through ops after it; a concat joins its inputs' groups into one (all its inputs carry
 * its parameters), keyed by the earliest member. A group holding a graph input or a sigmoid
 * keeps their fixed parameters, which only fit other tensors by chance: refused by name.
 */
function shareGroups(graph: Graph, inputFixed: boolean): Map<string, Node[]> {
  const rootOf = new Map<string, string>();
  const groups = new Map<string, Node[]>();
  const order = new Map(graph.nodes.map((n, i) => [n.name, i]));
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  for (const node of graph.nodes) {
    let root = node.name;
    if (PASS_THROUGH.has(node.op)) root = rootOf.get(node.inputs[0]!)!;
    if (node.op === 'concat') {
      const roots = [...new Set(node.inputs.map((i) => rootOf.get(i)!))].sort(
        (a, b) => order.get(a)! - order.get(b)!,
      );
      root = roots[0]!;
      const members = groups.get(root)!;
      for (const other of roots.slice(1)) {
        for (const m of groups.get(other)!) {
          members.push(m);
          rootOf.set(m.name, root);
        }
        groups.delete(other);
      }
      members.sort((a, b) => order.get(a.name)! - order.get(b.name)!);
      if (inputFixed && roots.length > 1 && members.some((m) => m.op === 'input'))
        throw new GraphError(
          node.name,
          "int8 concat joins a graph input, whose parameters are fixed for 8-bit images, with other tensors; quantise with inputParams: 'calibrate' (or concat after a conv)",
        );
      // Sigmoid outputs concatenated with each other share their fixed parameters already.
      const fixed = members.find((m) => fixedOutputParams(m.op));
      const allFixed = roots.every((r) => fixedOutputParams(byName.get(r)!.op));
      if (roots.length > 1 && fixed && !allFixed)
        throw new GraphError(
          node.name,
          `int8 concat joins the ${fixed.op} "${fixed.name}", whose output parameters are fixed (scale 1/256, zero point -128), with other tensors`,
        );
    }
    rootOf.set(node.name, root);
    const members = groups.get(root);
    if (members) members.push(node);
    else groups.set(root, [node]);
  }
  return groups;
}

/**
 * The members whose values some reader sees unclamped: an output, or a tensor with a reader
 * other than relu/relu6. A group read only through clamps (a dead end) falls back to its producer.
 */
function coveredMembers(graph: Graph, members: readonly Node[]): Node[] {
  const readers = consumers(graph);
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const covered = members.filter(
    (m) => m.op === 'output' || readers.get(m.name)!.some((r) => !CLAMPS.has(byName.get(r)!.op)),
  );
  return covered.length > 0 ? covered : [members[0]!];
}

/**
 * Affine int8 parameters covering [lo, hi] widened to include 0, with 0 exactly representable
 * (TFLite's nudged zero point): `scale = (hi - lo) / 255` as float32, `zeroPoint = -128 - round(lo / scale)`.
 * An all-zero tensor gets scale 1 (any scale represents it).
 */
export function paramsForRange(lo: number, hi: number, layer = 'tensor'): QuantParams {
  if (!Number.isFinite(lo) || !Number.isFinite(hi))
    throw new GraphError(layer, `calibration range [${lo}, ${hi}] is not finite`);
  const min = Math.min(lo, 0);
  const max = Math.max(hi, 0);
  if (max - min < 1e-30) return { scale: 1, zeroPoint: INT8_MIN };
  const scale = Math.fround((max - min) / (INT8_MAX - INT8_MIN));
  const zeroPoint = Math.min(INT8_MAX, Math.max(INT8_MIN, INT8_MIN - roundHalfAwayFromZero(min / scale)));
  return { scale, zeroPoint };
}

/** What `calibrateRanges` measures. */
export interface CalibrateRangesOptions {
  /** Layers whose output range is wanted (default: every layer). */
  readonly layers?: ReadonlySet<string>;
  readonly calibration?: CalibrationMethod;
  readonly percentile?: number;
  readonly onInput?: (index: number, count: number) => void;
}

/**
 * Observed output range of layers over all `inputs` through the float reference executor:
 * the min and max (`minmax`), or the `percentile` and `100 - percentile` values of all values
 * of all inputs together (nearest rank, exact: the k extreme values are kept per end).
 */
export function calibrateRanges(
  graph: Graph,
  weights: WeightMap,
  inputs: readonly CalibrationInput[],
  options: CalibrateRangesOptions = {},
): Map<string, TensorRange> {
  const method = options.calibration ?? 'minmax';
  const percentile = options.percentile ?? DEFAULT_PERCENTILE;
  const shapes = inferShapes(graph);
  const inputNodes = graphInputs(graph);
  const wanted = (name: string): boolean => options.layers?.has(name) ?? true;
  const minMax = new Map<string, { min: number; max: number }>();
  // Per layer: how many extreme values to keep per end, and the kept ones (sorted ascending).
  const tails = new Map<string, { k: number; low: Float64Array; high: Float64Array }>();
  if (method === 'percentile') {
    for (const node of graph.nodes) {
      if (!wanted(node.name)) continue;
      const total = numel(shapes.get(node.name)!) * inputs.length;
      const k = total - Math.ceil((percentile / 100) * total) + 1;
      tails.set(node.name, { k, low: new Float64Array(0), high: new Float64Array(0) });
    }
  }
  inputs.forEach((sample, index) => {
    const feeds = feedsOf(sample, inputNodes, index);
    execute(graph, weights, feeds, {
      onValue: (node, value) => {
        if (!wanted(node.name)) return;
        const { data } = value;
        let lo = Infinity;
        let hi = -Infinity;
        for (let i = 0; i < data.length; i++) {
          const v = data[i]!;
          if (!Number.isFinite(v))
            throw new GraphError(node.name, `non-finite value ${v} on calibration input ${index}`);
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
        const seen = minMax.get(node.name);
        minMax.set(
          node.name,
          seen ? { min: Math.min(seen.min, lo), max: Math.max(seen.max, hi) } : { min: lo, max: hi },
        );
        const tail = tails.get(node.name);
        if (tail) {
          const sorted = Float64Array.from(data).sort();
          const k = Math.min(tail.k, sorted.length);
          tail.low = mergeSorted(tail.low, sorted.subarray(0, k)).slice(0, tail.k);
          const high = mergeSorted(tail.high, sorted.subarray(sorted.length - k));
          tail.high = high.slice(Math.max(0, high.length - tail.k));
        }
      },
    });
    options.onInput?.(index, inputs.length);
  });
  const out = new Map<string, TensorRange>();
  for (const [name, range] of minMax) {
    const tail = tails.get(name);
    // The k-th smallest / largest of all values: the (100 - p)th and pth percentiles (nearest rank).
    out.set(name, tail ? { min: tail.low[tail.k - 1]!, max: tail.high[tail.high.length - tail.k]! } : range);
  }
  return out;
}

function mergeSorted(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length + b.length);
  let i = 0;
  let j = 0;
  let o = 0;
  while (i < a.length && j < b.length) out[o++] = a[i]! <= b[j]! ? a[i++]! : b[j++]!;
  while (i < a.length) out[o++] = a[i++]!;
  while (j < b.length) out[o++] = b[j++]!;
  return out;
}

function feedsOf(
  sample: CalibrationInput,
  inputNodes: readonly Extract<Node, { op: 'input' }>[],
  index: number,
): Record<string, FloatTensor> {
  if (isTensor(sample)) {
    if (inputNodes.length !== 1)
      throw new GraphError(
        inputNodes[0]?.name ?? 'input',
        `calibration input ${index} is one tensor, but the graph has ${inputNodes.length} inputs: give one per input name`,
      );
    return { [inputNodes[0]!.name]: sample };
  }
  return { ...sample };
}

function isTensor(sample: CalibrationInput): sample is FloatTensor {
  return 'data' in sample && 'shape' in sample && Array.isArray(sample.shape);
}

/**
 * Int8 weights and int32 biases of every conv (a conv without a bias gets a zero one, as TFLite's
 * quantised convs always have one).
 */
function quantizeWeights(
  graph: Graph,
  weights: WeightMap,
  tensors: Readonly<Record<string, QuantParams>>,
): { nodes: Node[]; quantWeights: Map<string, QuantTensor>; weightScales: Record<string, number[]> } {
  const quantWeights = new Map<string, QuantTensor>();
  const weightScales: Record<string, number[]> = {};
  const nodes = graph.nodes.map((node): Node => {
    if (node.op !== 'conv2d') return node;
    const w = weights.get(`${node.name}.weight`);
    if (!w) throw new GraphError(node.name, `missing weight "${node.name}.weight"`);
    const channels = node.attrs.outChannels;
    const perChannel = w.data.length / channels;
    const scales: number[] = [];
    const q = new Int8Array(w.data.length);
    for (let c = 0; c < channels; c++) {
      let maxAbs = 0;
      for (let i = 0; i < perChannel; i++) maxAbs = Math.max(maxAbs, Math.abs(w.data[c * perChannel + i]!));
      if (!Number.isFinite(maxAbs))
        throw new GraphError(node.name, `weight of output channel ${c} is not finite`);
      // An all-zero channel (pruned) quantises to zeros at any scale; 1/127 keeps its bias's step fine.
      const scale = Math.fround(maxAbs > 0 ? maxAbs / INT8_MAX : 1 / INT8_MAX);
      scales.push(scale);
      for (let i = 0; i < perChannel; i++) {
        const v = roundHalfAwayFromZero(w.data[c * perChannel + i]! / scale);
        q[c * perChannel + i] = Math.max(-INT8_MAX, Math.min(INT8_MAX, v));
      }
    }
    const inputScale = tensors[node.inputs[0]!]!.scale;
    const b = node.attrs.bias ? weights.get(`${node.name}.bias`) : undefined;
    if (node.attrs.bias && !b) throw new GraphError(node.name, `missing weight "${node.name}.bias"`);
    const bias = new Int32Array(channels);
    for (let c = 0; c < channels; c++) {
      const v = roundHalfAwayFromZero((b?.data[c] ?? 0) / (inputScale * scales[c]!));
      if (!Number.isFinite(v)) throw new GraphError(node.name, `bias of output channel ${c} is not finite`);
      bias[c] = Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, v));
    }
    quantWeights.set(`${node.name}.weight`, { dtype: 'int8', shape: w.shape, data: q });
    quantWeights.set(`${node.name}.bias`, { dtype: 'int32', shape: [channels], data: bias });
    weightScales[node.name] = scales;
    const attrs: Conv2dAttrs = { ...node.attrs, bias: true };
    return { ...node, attrs };
  });
  return { nodes, quantWeights, weightScales };
}

/** How the dequantised int8 output agrees with the float network's. */
export interface Agreement {
  /** Values compared. */
  readonly count: number;
  /** sum |q - f| / sum |f|. */
  readonly meanRelativeDifference: number;
  /** Fraction with |q - f| <= one output step (the output scale). */
  readonly withinOneStep: number;
  /** max |q - f|. */
  readonly maxAbsDifference: number;
  /** AbsRel of q against f as ground truth: mean |q - f| / f over f > 0. */
  readonly absRel: number;
  /** delta1 of q against f: fraction of f > 0 with max(q / f, f / q) < 1.25. */
  readonly delta1: number;
}

/**
 * Agreement of `quantised` (the int8 output dequantised) with `reference` (the float output),
 * with `step` the output tensor's scale. Depth metrics (AbsRel, delta1) take the float output
 * as the ground truth and count only its positive values.
 */
export function agreement(
  reference: ArrayLike<number>,
  quantised: ArrayLike<number>,
  step: number,
): Agreement {
  if (reference.length !== quantised.length)
    throw new RangeError(`agreement: ${reference.length} reference values, ${quantised.length} quantised`);
  let sumDiff = 0;
  let sumRef = 0;
  let within = 0;
  let maxDiff = 0;
  let positive = 0;
  let sumRel = 0;
  let delta = 0;
  // A float32 rounding of the step must not turn an exact step apart into two.
  const tolerance = step * (1 + 1e-6);
  for (let i = 0; i < reference.length; i++) {
    const f = reference[i]!;
    const q = quantised[i]!;
    const d = Math.abs(q - f);
    sumDiff += d;
    sumRef += Math.abs(f);
    if (d <= tolerance) within++;
    if (d > maxDiff) maxDiff = d;
    if (f > 0) {
      positive++;
      sumRel += d / f;
      if (q > 0 && Math.max(q / f, f / q) < 1.25) delta++;
    }
  }
  const n = reference.length;
  return {
    count: n,
    meanRelativeDifference: sumRef > 0 ? sumDiff / sumRef : sumDiff > 0 ? Infinity : 0,
    withinOneStep: n > 0 ? within / n : 1,
    maxAbsDifference: maxDiff,
    absRel: positive > 0 ? sumRel / positive : 0,
    delta1: positive > 0 ? delta / positive : 1,
  };
}

/** Output layer names of a graph, with the int8 parameters of each (for dequantising). */
export function outputParams(
  model: QuantizedModel,
): { readonly name: string; readonly params: QuantParams }[] {
  return graphOutputs(model.graph).map((n) => ({
    name: n.name,
    params: model.graph.quantization.tensors[n.name]!,
  }));
}
