/**
 * The int8 reference executor: what a quantised graph computes, integer for integer. It follows
 * TFLite's reference integer kernels (`reference_integer_ops::ConvPerChannel`,
 * `DepthwiseConvPerChannel`, int8 `Add`, `Mul`, `AveragePool`, `ResizeNearestNeighbor`, `MaxPool`,
 * `Concatenation`, `DepthToSpace` in PyTorch's channel order for pixelShuffle, the LOGISTIC
 * lookup table for sigmoid and the hard ones (`lut.ts`); unpool, which TFLite lacks, inserts the
 * zero point; clip is a clamp like relu6; a global average pool is an average pool over the
 * whole plane), so a model
 * imported from a TFLite file gives the integers TFLite's reference kernels give, and every
 * int8 backend of the project (the wasm engine) is tested against it bit for bit. A graph whose
 * `quantization.arithmetic` is `'xnnpack'` is requantised the way XNNPACK (LiteRT.js, TFLite's
 * CPU delegate) does it instead (`xnnpack.ts`): same accumulators, other roundings; its bilinear
 * resizes are XNNPACK's s8 ibilinear (Q11 weights, `bilinear.ts`).
 *
 * Like the float executor it is written for obviousness: NCHW, plain loops. Accumulators are
 * JS numbers holding exact int32 values (|acc| stays far below 2^53).
 */
import { GraphError } from '../errors.js';
import {
  averagePoolInto,
  concatChannelsInto,
  maxPoolInto,
  pixelShuffleInto,
  unpoolInto,
  upsampleNearestInto,
} from '../executor.js';
import { inferShapes } from '../graph.js';
import { assertNever, type Node, type NodeOf, type Shape } from '../ir.js';
import { fmt } from '../ops.js';
import { numel } from '../weights.js';
import {
  activationRange,
  clampInt,
  clampRange,
  multiplyByQuantizedMultiplier,
  quantizeMultiplier,
  roundedDivide,
  roundHalfAwayFromZero,
  type QuantizedMultiplier,
} from './fixed-point.js';
import {
  INT8_MAX,
  INT8_MIN,
  type IntegerArithmetic,
  type QuantParams,
  type QuantizedModel,
  type TensorI8,
  type TensorI32,
} from './ir.js';
import { resizeBilinearInt8In } from './bilinear.js';
import { lookupTable } from './lut.js';
import { validateQuantizedModel } from './validate.js';
import {
  xnnpackActivationRange,
  xnnpackAdd,
  xnnpackAddParams,
  xnnpackClampRange,
  xnnpackConvScales,
  xnnpackMulScale,
  xnnpackRequantize,
} from './xnnpack.js';

/** An int8 activation with the parameters that give it meaning. */
export interface QuantizedValue {
  readonly shape: Shape;
  readonly data: Int8Array;
  readonly params: QuantParams;
}

/** A fed input: int8 as it is (already quantised with the input's parameters), or real values. */
export type QuantizedInput =
  | TensorI8
  | { readonly shape: readonly number[]; readonly data: ArrayLike<number>; readonly dtype?: undefined };

/** Options of `executeQuantized`. */
export interface ExecuteQuantizedOptions {
  /** Also return every intermediate value (by layer name). */
  readonly keepIntermediates?: boolean;
}

/** Quantises real values: `clamp(round(x / scale) + zeroPoint, -128, 127)`, halves away from zero. */
export function quantizeValues(data: ArrayLike<number>, params: QuantParams): Int8Array {
  const out = new Int8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    out[i] = clampInt(roundHalfAwayFromZero(data[i]! / params.scale) + params.zeroPoint, INT8_MIN, INT8_MAX);
  }
  return out;
}

/** Real values of an int8 tensor: `scale * (q - zeroPoint)`. */
export function dequantizeValues(data: Int8Array, params: QuantParams): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = params.scale * (data[i]! - params.zeroPoint);
  return out;
}

/**
 * TFLite's per-channel requantisation multipliers of a convolution:
 * `M_c = double(s_in) * double(s_w[c]) / double(s_out)` as (multiplier, shift).
 */
export function convMultipliers(
  inputScale: number,
  weightScales: readonly number[],
  outputScale: number,
  channels: number,
): QuantizedMultiplier[] {
  return Array.from({ length: channels }, (_, c) =>
    quantizeMultiplier((inputScale * weightScales[weightScales.length === 1 ? 0 : c]!) / outputScale),
  );
}

/** The fixed-point parameters of TFLite's int8 ADD for two inputs and an output. */
export interface AddRescale {
  readonly leftShift: number;
  readonly input1: QuantizedMultiplier;
  readonly input2: QuantizedMultiplier;
  readonly output: QuantizedMultiplier;
}

/** TFLite `PrepareGeneralSubOp`/add.cc int8: inputs rescaled to twice the larger scale, 20 bits up. */
export function addRescale(a: QuantParams, b: QuantParams, out: QuantParams): AddRescale {
  const leftShift = 20;
  const twiceMax = 2 * Math.max(a.scale, b.scale);
  return {
    leftShift,
    input1: quantizeMultiplier(a.scale / twiceMax),
    input2: quantizeMultiplier(b.scale / twiceMax),
    output: quantizeMultiplier(twiceMax / (2 ** leftShift * out.scale)),
  };
}

function conv2d(node: NodeOf<'conv2d'>, x: QuantizedValue, out: Shape, model: QuantizedModel): Int8Array {
  const {
    kernel: [kh, kw],
    stride: [sh, sw],
    pads: [pt, pl],
    dilation: [dh, dw],
    groups,
  } = node.attrs;
  const q = model.graph.quantization;
  const outParams = q.tensors[node.name]!;
  const weight = (model.weights.get(`${node.name}.weight`) as TensorI8).data;
  const bias = (model.weights.get(`${node.name}.bias`) as TensorI32 | undefined)?.data;
  const [n, cin, h, wd] = x.shape;
  const [, cout, oh, ow] = out;
  // One requantisation per channel, in the graph's arithmetic (the accumulators are the same).
  const requant: ((acc: number) => number)[] =
    q.arithmetic === 'xnnpack'
      ? Array.from(
          xnnpackConvScales(x.params.scale, q.weightScales[node.name]!, outParams.scale, cout, node.name),
          (scale) => (acc: number) => xnnpackRequantize(acc, scale, outParams.zeroPoint, INT8_MIN, INT8_MAX),
        )
      : convMultipliers(x.params.scale, q.weightScales[node.name]!, outParams.scale, cout).map(
          (m) => (acc: number) =>
            clampInt(multiplyByQuantizedMultiplier(acc, m) + outParams.zeroPoint, INT8_MIN, INT8_MAX),
        );
  // Inputs minus their zero point: padded taps (which read the zero point) then contribute 0
  // and are simply skipped.
  const centred = Int32Array.from(x.data, (v) => v - x.params.zeroPoint);
  const cinG = cin / groups;
  const coutG = cout / groups;
  const y = new Int8Array(numel(out));
  const acc = new Float64Array(oh * ow); // exact: every partial sum is an integer far below 2^53
  for (let b0 = 0; b0 < n; b0++) {
    for (let o = 0; o < cout; o++) {
      const g = Math.floor(o / coutG);
      acc.fill(bias ? bias[o]! : 0);
      for (let ci = 0; ci < cinG; ci++) {
        const plane = (b0 * cin + g * cinG + ci) * h * wd;
        for (let ky = 0; ky < kh; ky++) {
          for (let kx = 0; kx < kw; kx++) {
            const wv = weight[((o * cinG + ci) * kh + ky) * kw + kx]!;
            if (wv === 0) continue;
            for (let oy = 0; oy < oh; oy++) {
              const iy = oy * sh - pt + ky * dh;
              if (iy < 0 || iy >= h) continue;
              const row = plane + iy * wd;
              for (let ox = 0; ox < ow; ox++) {
                const ix = ox * sw - pl + kx * dw;
                if (ix < 0 || ix >= wd) continue;
                acc[oy * ow + ox]! += centred[row + ix]! * wv;
              }
            }
          }
        }
      }
      const base = (b0 * cout + o) * oh * ow;
      const rq = requant[o]!;
      for (let i = 0; i < oh * ow; i++) y[base + i] = rq(acc[i]!);
    }
  }
  return y;
}

function add(
  a: QuantizedValue,
  b: QuantizedValue,
  outParams: QuantParams,
  arithmetic: IntegerArithmetic,
  layer: string,
): Int8Array {
  if (arithmetic === 'xnnpack') {
    const p = xnnpackAddParams(a.params, b.params, outParams, layer);
    return Int8Array.from(a.data, (qa, i) => xnnpackAdd(qa, b.data[i]!, p));
  }
  const r = addRescale(a.params, b.params, outParams);
  const up = 2 ** r.leftShift;
  const y = new Int8Array(a.data.length);
  for (let i = 0; i < y.length; i++) {
    const sa = multiplyByQuantizedMultiplier((a.data[i]! - a.params.zeroPoint) * up, r.input1);
    const sb = multiplyByQuantizedMultiplier((b.data[i]! - b.params.zeroPoint) * up, r.input2);
    const v = multiplyByQuantizedMultiplier(sa + sb, r.output) + outParams.zeroPoint;
    y[i] = clampInt(v, INT8_MIN, INT8_MAX);
  }
  return y;
}

/** TFLite's int8 MUL multiplier: `double(s_a) * double(s_b) / double(s_out)` as (multiplier, shift). */
export function mulMultiplier(a: QuantParams, b: QuantParams, out: QuantParams): QuantizedMultiplier {
  return quantizeMultiplier((a.scale * b.scale) / out.scale);
}

/**
 * int8 MUL of `x` and `s` (same shape, or (N, C, 1, 1) broadcast over H and W: squeeze-excite):
 * the product of the centred integers `(a - zp_a) * (b - zp_b)` (|p| <= 255^2) requantised to the
 * output: TFLite's `MultiplyByQuantizedMultiplier` (reference_integer_ops::MulElementwise), or
 * XNNPACK's float32 scale rounded half to even (qs8-vmul fp32, `xnnpackMulScale`).
 */
function mul(
  x: QuantizedValue,
  s: QuantizedValue,
  outParams: QuantParams,
  arithmetic: IntegerArithmetic,
  layer: string,
): Int8Array {
  const [, , h, w] = x.shape;
  const perChannel = s.data.length !== x.data.length;
  const { zeroPoint: zx } = x.params;
  const { zeroPoint: zs } = s.params;
  const zo = outParams.zeroPoint;
  let requant: (p: number) => number;
  if (arithmetic === 'xnnpack') {
    const scale = xnnpackMulScale(x.params, s.params, outParams, layer);
    requant = (p) => xnnpackRequantize(p, scale, zo, INT8_MIN, INT8_MAX);
  } else {
    const m = mulMultiplier(x.params, s.params, outParams);
    requant = (p) => clampInt(multiplyByQuantizedMultiplier(p, m) + zo, INT8_MIN, INT8_MAX);
  }
  return Int8Array.from(x.data, (q, i) =>
    requant((q - zx) * (s.data[perChannel ? Math.floor(i / (h * w)) : i]! - zs)),
  );
}

/**
 * TFLite's int8 AVERAGE_POOL_2D (reference_integer_ops::AveragePool): the raw integers of each
 * window summed and divided with `roundedDivide` (the output carries the input's parameters, so
 * no requantisation). Padded taps are the zero point (a PAD before a VALID pool) and counted
 * when `countIncludePad`; otherwise they are left out of the sum and the count (TFLite's SAME
 * padding). The same under both arithmetics: XNNPACK has no int8 average pooling
 * (operators/average-pooling-nhwc.c: f16 and f32 only) and its TFLite delegate takes float
 * AVERAGE_POOL_2D only (`VisitAveragePool2DNode`), so the op stays on TFLite's kernel.
 */
function averagePool(node: NodeOf<'avgPool2d'>, x: QuantizedValue, out: Shape): Int8Array {
  const [kh, kw] = node.attrs.kernel;
  const includePad = node.attrs.countIncludePad;
  return averagePoolInto(node, x, out, new Int8Array(numel(out)), (sum, inside) =>
    includePad
      ? roundedDivide(sum + (kh * kw - inside) * x.params.zeroPoint, kh * kw)
      : roundedDivide(sum, inside),
  );
}

/** Global average pooling: TFLite's AVERAGE_POOL_2D with the whole plane as its window. */
function globalAveragePool(x: QuantizedValue): Int8Array {
  const [n, c, h, w] = x.shape;
  const y = new Int8Array(n * c);
  for (let p = 0; p < n * c; p++) {
    let sum = 0;
    for (let i = 0; i < h * w; i++) sum += x.data[p * h * w + i]!;
    y[p] = roundedDivide(sum, h * w);
  }
  return y;
}

function clampAll(x: Int8Array, [lo, hi]: readonly [number, number]): Int8Array {
  return x.map((v) => clampInt(v, lo, hi));
}

function evalNode(node: Node, ins: readonly QuantizedValue[], out: Shape, model: QuantizedModel): Int8Array {
  const x = ins[0]!;
  const params = model.graph.quantization.tensors[node.name]!;
  const arithmetic = model.graph.quantization.arithmetic ?? 'tflite';
  const range = arithmetic === 'xnnpack' ? xnnpackActivationRange : activationRange;
  const clip = arithmetic === 'xnnpack' ? xnnpackClampRange : clampRange;
  switch (node.op) {
    case 'conv2d':
      return conv2d(node, x, out, model);
    case 'relu':
      return clampAll(x.data, range('relu', params));
    case 'relu6':
      return clampAll(x.data, range('relu6', params));
    case 'clip':
      // A clamp at the quantised bounds, as relu6 is clip(0, 6) (the output carries the input's
      // parameters).
      return clampAll(x.data, clip(node.attrs.min, node.attrs.max, params));
    case 'sigmoid':
    case 'hardSigmoid':
    case 'hardSwish': {
      const table = lookupTable(node.op, x.params, params, arithmetic);
      return x.data.map((q) => table[q - INT8_MIN]!);
    }
    case 'mul':
      return mul(x, ins[1]!, params, arithmetic, node.name);
    case 'avgPool2d':
      return averagePool(node, x, out);
    case 'globalAvgPool':
      return globalAveragePool(x);
    case 'add':
      return add(x, ins[1]!, params, arithmetic, node.name);
    case 'upsample':
    case 'resize':
      // Nearest resizes and max pool act on the integers: they only move or compare values of one
      // scale. Bilinear is TFLite's integer RESIZE_BILINEAR or XNNPACK's s8 ibilinear, per the
      // arithmetic (weights summing to 1, same scale; `bilinear.ts`).
      return node.attrs.mode === 'nearest'
        ? upsampleNearestInto(x, out, new Int8Array(numel(out)))
        : resizeBilinearInt8In(arithmetic, x, out);
    case 'maxPool':
      return maxPoolInto(node, x, out, new Int8Array(numel(out)));
    case 'unpool':
      // Its output carries its input's parameters: the inserted zeros are the zero point.
      return unpoolInto(x, out, new Int8Array(numel(out)).fill(params.zeroPoint));
    case 'pixelShuffle':
      // Depth to space moves integers of one scale (its output carries its input's parameters).
      return pixelShuffleInto(node.attrs.blockSize, x, out, new Int8Array(numel(out)));
    case 'concat':
      // Every input carries the output's parameters (TFLite's restriction, checked at load), so
      // concatenation copies the integers.
      return concatChannelsInto(ins, out, new Int8Array(numel(out)));
    case 'output':
      return x.data;
    case 'input':
    case 'convTranspose2d':
    case 'batchNorm':
      // validateQuantizedModel refuses these before anything runs.
      throw new GraphError(node.name, `op ${node.op} has no int8 definition`);
    default:
      return assertNever(node);
  }
}

/**
 * Runs a quantised model on `inputs` (keyed by input layer name): int8 tensors are taken as they
 * are, real values are quantised with the input's parameters first. Returns every output
 * layer's int8 value with its parameters (`dequantizeValues` gives the real numbers), plus
 * intermediates when asked. Validates the model first (`validateQuantizedModel`).
 */
export function executeQuantized(
  model: QuantizedModel,
  inputs: Readonly<Record<string, QuantizedInput>>,
  options: ExecuteQuantizedOptions = {},
): Record<string, QuantizedValue> {
  validateQuantizedModel(model);
  const { graph } = model;
  const shapes = inferShapes(graph);
  const values = new Map<string, QuantizedValue>();
  const results: Record<string, QuantizedValue> = {};
  const remainingReads = new Map<string, number>();
  for (const node of graph.nodes)
    for (const i of node.inputs) remainingReads.set(i, (remainingReads.get(i) ?? 0) + 1);
  for (const node of graph.nodes) {
    const shape = shapes.get(node.name)!;
    const params = graph.quantization.tensors[node.name]!;
    let data: Int8Array;
    if (node.op === 'input') {
      const fed = inputs[node.name];
      if (!fed) throw new GraphError(node.name, 'no value fed for this input');
      if (fed.data.length !== numel(shape))
        throw new GraphError(
          node.name,
          `fed ${fed.data.length} values (shape ${fmt(fed.shape)}), expected shape ${fmt(shape)}`,
        );
      data = fed.dtype === 'int8' ? Int8Array.from(fed.data) : quantizeValues(fed.data, params);
    } else {
      data = evalNode(
        node,
        node.inputs.map((i) => values.get(i)!),
        shape,
        model,
      );
    }
    const v: QuantizedValue = { shape, data, params };
    values.set(node.name, v);
    for (const i of node.inputs) {
      const left = remainingReads.get(i)! - 1;
      remainingReads.set(i, left);
      if (left === 0 && !options.keepIntermediates) values.delete(i);
    }
    if (node.op === 'output' || options.keepIntermediates) results[node.name] = v;
  }
  return results;
}
