/**
 * The op table: every op kind declared once, side by side — arity, shape rule, MACs,
 * parameter tensors and attribute checks. `OPS` is a `Record<OpKind, ...>`, so adding an op
 * to `OpAttrMap` without an entry here is a type error, and so is every emitter that keys
 * its own table by `OpKind`.
 */
import { GraphError } from './errors.js';
import type {
  AvgPoolAttrs,
  Conv2dAttrs,
  ConvTranspose2dAttrs,
  MaxPoolAttrs,
  OpAttrMap,
  OpKind,
  Pads,
  Pair,
  ResizeAttrs,
  Shape,
} from './ir.js';

/** The role of a parameter tensor; emitters and passes dispatch on it. */
export type ParamRole = 'weight' | 'bias' | 'gamma' | 'beta' | 'mean' | 'var';

/** How a parameter is initialised (He-normal like the authors' `weights_init`). */
export type ParamInit =
  | { readonly kind: 'heNormal'; readonly fanOut: number }
  | { readonly kind: 'constant'; readonly value: number };

/** One parameter tensor a node owns: its name suffix, role, shape and initialisation. */
export interface ParamSpec {
  /** Tensor name suffix after the layer name, PyTorch style: `conv0.weight`, `bn.running_var`. */
  readonly suffix: string;
  readonly role: ParamRole;
  readonly shape: readonly number[];
  /** Trainable parameters are counted in `params`; BN running statistics are not. */
  readonly trainable: boolean;
  readonly init: ParamInit;
}

/** What the op table knows of one op: arity, shape rule, MACs, parameters and attribute checks. */
export interface OpDef<K extends OpKind> {
  /** Number of inputs; `'variadic'` = two or more. */
  readonly arity: 0 | 1 | 2 | 'variadic';
  /** Output shape from input shapes; throws `GraphError` naming `layer` on a mismatch. */
  readonly inferShape: (layer: string, attrs: OpAttrMap[K], inputs: readonly Shape[]) => Shape;
  /** Multiply-accumulates (convolutions only, as the paper counts them). */
  readonly macs: (attrs: OpAttrMap[K], inputs: readonly Shape[], output: Shape) => number;
  /** Parameter tensors this node owns. */
  readonly params: (attrs: OpAttrMap[K], inputs: readonly Shape[]) => readonly ParamSpec[];
  /** Checks attribute values (used when loading JSON); throws `GraphError`. */
  readonly checkAttrs: (layer: string, attrs: OpAttrMap[K]) => void;
}

/** One {@link OpDef} per op. */
export type OpTable = { readonly [K in OpKind]: OpDef<K> };

const noParams = (): readonly ParamSpec[] => [];
const noMacs = (): number => 0;
const noAttrs = (): void => undefined;

function fail(layer: string, detail: string): never {
  throw new GraphError(layer, detail);
}

function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}
function isNonNegativeInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}

function checkTuple(layer: string, field: string, value: unknown, length: number, min: 0 | 1): void {
  const ok =
    Array.isArray(value) &&
    value.length === length &&
    value.every((v) => (min === 1 ? isPositiveInt(v) : isNonNegativeInt(v)));
  if (!ok) {
    fail(
      layer,
      `attribute "${field}" must be ${length} ${min === 1 ? 'positive' : 'non-negative'} integers, found ${JSON.stringify(value)}`,
    );
  }
}

function single(layer: string, inputs: readonly Shape[]): Shape {
  const [x] = inputs;
  if (inputs.length !== 1 || !x) fail(layer, `expected 1 input, found ${inputs.length}`);
  return x;
}

/** Checks the "odd sizes before a stride" rule: spatial sizes must divide by the stride. */
function checkStrideDivides(layer: string, x: Shape, stride: Pair): void {
  const [, , h, w] = x;
  if (h % stride[0] !== 0 || w % stride[1] !== 0) {
    fail(layer, `input ${h}x${w} is not divisible by stride ${stride[0]}x${stride[1]}`);
  }
}

/** Output size of a strided window: floor((in + pads - dilated kernel) / stride) + 1. */
function windowOut(
  layer: string,
  size: number,
  padBefore: number,
  padAfter: number,
  kernel: number,
  dilation: number,
  stride: number,
): number {
  const span = dilation * (kernel - 1) + 1;
  const padded = size + padBefore + padAfter;
  if (padded < span)
    fail(
      layer,
      `kernel ${kernel} (dilation ${dilation}) does not fit input size ${size} with pads ${padBefore}+${padAfter}`,
    );
  return Math.floor((padded - span) / stride) + 1;
}

function checkPadsSmallerThanKernel(layer: string, pads: Pads, kernel: Pair): void {
  if (pads[0] >= kernel[0] || pads[2] >= kernel[0] || pads[1] >= kernel[1] || pads[3] >= kernel[1]) {
    fail(layer, `pads ${JSON.stringify(pads)} must be smaller than kernel ${kernel[0]}x${kernel[1]}`);
  }
}

/** The attributes conv2d and convTranspose2d share. */
function checkConvAttrs(layer: string, a: Conv2dAttrs | ConvTranspose2dAttrs): void {
  if (!isPositiveInt(a.outChannels))
    fail(layer, `attribute "outChannels" must be a positive integer, found ${JSON.stringify(a.outChannels)}`);
  checkTuple(layer, 'kernel', a.kernel, 2, 1);
  checkTuple(layer, 'stride', a.stride, 2, 1);
  checkTuple(layer, 'pads', a.pads, 4, 0);
  if (!isPositiveInt(a.groups))
    fail(layer, `attribute "groups" must be a positive integer, found ${JSON.stringify(a.groups)}`);
  if (typeof a.bias !== 'boolean')
    fail(layer, `attribute "bias" must be a boolean, found ${JSON.stringify(a.bias)}`);
}

/** Output shape of a pooling window (max or average); padded positions never count as values. */
function poolShape(layer: string, a: MaxPoolAttrs | AvgPoolAttrs, inputs: readonly Shape[]): Shape {
  const x = single(layer, inputs);
  const [n, c, h, w] = x;
  checkPadsSmallerThanKernel(layer, a.pads, a.kernel);
  if (a.stride[0] > 1 || a.stride[1] > 1) checkStrideDivides(layer, x, a.stride);
  const oh = windowOut(layer, h, a.pads[0], a.pads[2], a.kernel[0], 1, a.stride[0]);
  const ow = windowOut(layer, w, a.pads[1], a.pads[3], a.kernel[1], 1, a.stride[1]);
  return [n, c, oh, ow];
}

function checkPoolAttrs(layer: string, a: MaxPoolAttrs | AvgPoolAttrs): void {
  checkTuple(layer, 'kernel', a.kernel, 2, 1);
  checkTuple(layer, 'stride', a.stride, 2, 1);
  checkTuple(layer, 'pads', a.pads, 4, 0);
}

/** An op that maps each value on its own: same shape, no parameters, no attributes. */
const elementwise = {
  arity: 1,
  inferShape: (layer: string, _a: unknown, inputs: readonly Shape[]): Shape => single(layer, inputs),
  macs: noMacs,
  params: noParams,
  checkAttrs: noAttrs,
} as const;

/**
 * The source row (or column) PyTorch's nearest interpolation reads for output `dst`:
 * floor(dst * scale) with scale = in / out, both in float32 as ATen computes them (so a few
 * large non-integer ratios read one row earlier than exact arithmetic would), and the exact
 * shortcuts ATen takes for out = in and out = 2 * in. Integer upscales read floor(dst / s).
 */
export function nearestSourceIndex(dst: number, inSize: number, outSize: number): number {
  if (outSize === inSize) return dst;
  if (outSize === 2 * inSize) return dst >> 1;
  const scale = Math.fround(inSize / outSize);
  return Math.min(Math.floor(Math.fround(dst * scale)), inSize - 1);
}

/** Output [height, width] of a resize of an `h` x `w` input. */
export function resizeOutSize(a: ResizeAttrs, h: number, w: number): Pair {
  return 'scale' in a ? [h * a.scale[0], w * a.scale[1]] : [a.size[0], a.size[1]];
}

function checkResizeAttrs(layer: string, a: ResizeAttrs): void {
  if (a.mode !== 'nearest' && a.mode !== 'bilinear')
    fail(layer, `attribute "mode" must be "nearest" or "bilinear", found ${JSON.stringify(a.mode)}`);
  const hasScale = Object.hasOwn(a, 'scale');
  const hasSize = Object.hasOwn(a, 'size');
  if (hasScale === hasSize)
    fail(
      layer,
      `resize needs exactly one of the attributes "scale" (integer factors) and "size" (output height and width), found ${hasScale ? 'both' : 'neither'}`,
    );
  const extra = Object.keys(a).filter((k) => !['mode', 'scale', 'size'].includes(k));
  if (extra.length > 0)
    fail(
      layer,
      `unknown attribute${extra.length > 1 ? 's' : ''} ${extra.map((k) => JSON.stringify(k)).join(', ')}`,
    );
  if ('scale' in a) checkTuple(layer, 'scale', a.scale, 2, 1);
  else checkTuple(layer, 'size', a.size, 2, 1);
}

function heFanOut(kernel: Pair, channels: number): ParamInit {
  return { kind: 'heNormal', fanOut: kernel[0] * kernel[1] * channels };
}

function convParams(
  weightShape: readonly number[],
  outChannels: number,
  bias: boolean,
  init: ParamInit,
): readonly ParamSpec[] {
  const specs: ParamSpec[] = [
    { suffix: 'weight', role: 'weight', shape: weightShape, trainable: true, init },
  ];
  if (bias)
    specs.push({
      suffix: 'bias',
      role: 'bias',
      shape: [outChannels],
      trainable: true,
      init: { kind: 'constant', value: 0 },
    });
  return specs;
}

/**
 * The op table: every op's shape rule, MACs, parameters and attribute checks. The builder,
 * `loadGraph`, `analyze` and the passes all go through it; adding an op starts in `ir.ts`.
 */
export const OPS: OpTable = {
  input: {
    arity: 0,
    inferShape: (_layer, attrs) => attrs.shape,
    macs: noMacs,
    params: noParams,
    checkAttrs: (layer, attrs) => checkTuple(layer, 'shape', attrs.shape, 4, 1),
  },

  conv2d: {
    arity: 1,
    inferShape: (layer, a, inputs) => {
      const x = single(layer, inputs);
      const [n, c, h, w] = x;
      if (c % a.groups !== 0) fail(layer, `groups ${a.groups} does not divide input channels ${c}`);
      if (a.outChannels % a.groups !== 0)
        fail(layer, `groups ${a.groups} does not divide output channels ${a.outChannels}`);
      if (a.stride[0] > 1 || a.stride[1] > 1) checkStrideDivides(layer, x, a.stride);
      const oh = windowOut(layer, h, a.pads[0], a.pads[2], a.kernel[0], a.dilation[0], a.stride[0]);
      const ow = windowOut(layer, w, a.pads[1], a.pads[3], a.kernel[1], a.dilation[1], a.stride[1]);
      return [n, a.outChannels, oh, ow];
    },
    macs: (a, inputs, out) => {
      const cin = inputs[0]![1];
      return out[0] * out[1] * out[2] * out[3] * (cin / a.groups) * a.kernel[0] * a.kernel[1];
    },
    params: (a, inputs) =>
      convParams(
        [a.outChannels, inputs[0]![1] / a.groups, a.kernel[0], a.kernel[1]],
        a.outChannels,
        a.bias,
        heFanOut(a.kernel, a.outChannels),
      ),
    checkAttrs: (layer, a) => {
      checkConvAttrs(layer, a);
      checkTuple(layer, 'dilation', a.dilation, 2, 1);
    },
  },

  convTranspose2d: {
    arity: 1,
    inferShape: (layer, a, inputs) => {
      const [n, c, h, w] = single(layer, inputs);
      if (c % a.groups !== 0) fail(layer, `groups ${a.groups} does not divide input channels ${c}`);
      if (a.outChannels % a.groups !== 0)
        fail(layer, `groups ${a.groups} does not divide output channels ${a.outChannels}`);
      if (a.outputPadding[0] >= a.stride[0] || a.outputPadding[1] >= a.stride[1]) {
        fail(
          layer,
          `outputPadding ${JSON.stringify(a.outputPadding)} must be smaller than stride ${JSON.stringify(a.stride)}`,
        );
      }
      const oh = (h - 1) * a.stride[0] - a.pads[0] - a.pads[2] + a.kernel[0] + a.outputPadding[0];
      const ow = (w - 1) * a.stride[1] - a.pads[1] - a.pads[3] + a.kernel[1] + a.outputPadding[1];
      if (oh <= 0 || ow <= 0) fail(layer, `output size ${oh}x${ow} is empty`);
      return [n, a.outChannels, oh, ow];
    },
    // Every input pixel scatters into kernel x (out/groups) outputs.
    macs: (a, inputs) => {
      const [n, c, h, w] = inputs[0]!;
      return n * c * h * w * (a.outChannels / a.groups) * a.kernel[0] * a.kernel[1];
    },
    // PyTorch layout (in, out/groups, kh, kw); the authors' init uses fan = k*k*in for these.
    params: (a, inputs) => {
      const cin = inputs[0]![1];
      return convParams(
        [cin, a.outChannels / a.groups, a.kernel[0], a.kernel[1]],
        a.outChannels,
        a.bias,
        heFanOut(a.kernel, cin),
      );
    },
    checkAttrs: (layer, a) => {
      checkConvAttrs(layer, a);
      checkTuple(layer, 'outputPadding', a.outputPadding, 2, 0);
    },
  },

  batchNorm: {
    arity: 1,
    inferShape: (layer, _a, inputs) => single(layer, inputs),
    macs: noMacs,
    params: (_a, inputs) => {
      const c = inputs[0]![1];
      const one: ParamInit = { kind: 'constant', value: 1 };
      const zero: ParamInit = { kind: 'constant', value: 0 };
      return [
        { suffix: 'weight', role: 'gamma', shape: [c], trainable: true, init: one },
        { suffix: 'bias', role: 'beta', shape: [c], trainable: true, init: zero },
        { suffix: 'running_mean', role: 'mean', shape: [c], trainable: false, init: zero },
        { suffix: 'running_var', role: 'var', shape: [c], trainable: false, init: one },
      ];
    },
    checkAttrs: (layer, a) => {
      if (typeof a.epsilon !== 'number' || !(a.epsilon > 0))
        fail(layer, `attribute "epsilon" must be a positive number, found ${JSON.stringify(a.epsilon)}`);
    },
  },

  relu: {
    arity: 1,
    inferShape: (layer, _a, inputs) => single(layer, inputs),
    macs: noMacs,
    params: noParams,
    checkAttrs: noAttrs,
  },
  relu6: {
    arity: 1,
    inferShape: (layer, _a, inputs) => single(layer, inputs),
    macs: noMacs,
    params: noParams,
    checkAttrs: noAttrs,
  },

  add: {
    arity: 'variadic',
    inferShape: (layer, _a, inputs) => {
      const [first] = inputs;
      if (!first || inputs.length < 2) fail(layer, `expected at least 2 inputs, found ${inputs.length}`);
      inputs.forEach((s, i) => {
        if (s.some((d, k) => d !== first[k])) {
          fail(layer, `add needs equal shapes: input 0 is ${fmt(first)}, input ${i} is ${fmt(s)}`);
        }
      });
      return first;
    },
    macs: noMacs,
    params: noParams,
    checkAttrs: noAttrs,
  },

  concat: {
    arity: 'variadic',
    inferShape: (layer, _a, inputs) => {
      const [first] = inputs;
      if (!first || inputs.length < 2) fail(layer, `expected at least 2 inputs, found ${inputs.length}`);
      let channels = 0;
      inputs.forEach((s, i) => {
        if (s[0] !== first[0] || s[2] !== first[2] || s[3] !== first[3]) {
          fail(
            layer,
            `concat needs equal batch and spatial sizes: input 0 is ${fmt(first)}, input ${i} is ${fmt(s)}`,
          );
        }
        channels += s[1];
      });
      return [first[0], channels, first[2], first[3]];
    },
    macs: noMacs,
    params: noParams,
    checkAttrs: noAttrs,
  },

  upsample: {
    arity: 1,
    inferShape: (layer, a, inputs) => {
      const [n, c, h, w] = single(layer, inputs);
      return [n, c, h * a.scale, w * a.scale];
    },
    macs: noMacs,
    params: noParams,
    checkAttrs: (layer, a) => {
      if (a.mode !== 'nearest' && a.mode !== 'bilinear')
        fail(layer, `attribute "mode" must be "nearest" or "bilinear", found ${JSON.stringify(a.mode)}`);
      if (a.scale !== 2) fail(layer, `attribute "scale" must be 2, found ${JSON.stringify(a.scale)}`);
    },
  },

  resize: {
    arity: 1,
    inferShape: (layer, a, inputs) => {
      const [n, c, h, w] = single(layer, inputs);
      const [oh, ow] = resizeOutSize(a, h, w);
      return [n, c, oh, ow];
    },
    macs: noMacs,
    params: noParams,
    checkAttrs: checkResizeAttrs,
  },

  unpool: {
    arity: 1,
    inferShape: (layer, a, inputs) => {
      const [n, c, h, w] = single(layer, inputs);
      return [n, c, h * a.scale, w * a.scale];
    },
    macs: noMacs,
    params: noParams,
    checkAttrs: (layer, a) => {
      if (a.scale !== 2) fail(layer, `attribute "scale" must be 2, found ${JSON.stringify(a.scale)}`);
    },
  },

  pixelShuffle: {
    arity: 1,
    inferShape: (layer, a, inputs) => {
      const [n, c, h, w] = single(layer, inputs);
      const r2 = a.blockSize * a.blockSize;
      if (c % r2 !== 0) fail(layer, `input channels ${c} are not divisible by blockSize^2 = ${r2}`);
      return [n, c / r2, h * a.blockSize, w * a.blockSize];
    },
    macs: noMacs,
    params: noParams,
    checkAttrs: (layer, a) => {
      if (a.blockSize !== 2)
        fail(layer, `attribute "blockSize" must be 2, found ${JSON.stringify(a.blockSize)}`);
    },
  },

  maxPool: {
    arity: 1,
    inferShape: poolShape,
    macs: noMacs,
    params: noParams,
    checkAttrs: checkPoolAttrs,
  },

  sigmoid: elementwise,
  hardSigmoid: elementwise,
  hardSwish: elementwise,

  clip: {
    ...elementwise,
    checkAttrs: (layer, a) => {
      if (
        typeof a.min !== 'number' ||
        typeof a.max !== 'number' ||
        !Number.isFinite(a.min) ||
        !Number.isFinite(a.max)
      )
        fail(
          layer,
          `attributes "min" and "max" must be finite numbers, found ${JSON.stringify([a.min, a.max])}`,
        );
      if (!(a.min < a.max)) fail(layer, `attribute "min" (${a.min}) must be below "max" (${a.max})`);
    },
  },

  mul: {
    arity: 2,
    inferShape: (layer, _a, inputs) => {
      const [x, s] = inputs;
      if (inputs.length !== 2 || !x || !s) fail(layer, `expected 2 inputs, found ${inputs.length}`);
      const same = s.every((d, k) => d === x[k]);
      const perChannel = s[0] === x[0] && s[1] === x[1] && s[2] === 1 && s[3] === 1;
      if (!same && !perChannel)
        fail(
          layer,
          `mul needs input 1 of input 0's shape ${fmt(x)} or per channel ${fmt([x[0], x[1], 1, 1])}, found ${fmt(s)}`,
        );
      return x;
    },
    macs: noMacs,
    params: noParams,
    checkAttrs: noAttrs,
  },

  avgPool2d: {
    arity: 1,
    inferShape: poolShape,
    macs: noMacs,
    params: noParams,
    checkAttrs: (layer, a) => {
      checkPoolAttrs(layer, a);
      if (typeof a.countIncludePad !== 'boolean')
        fail(
          layer,
          `attribute "countIncludePad" must be a boolean, found ${JSON.stringify(a.countIncludePad)}`,
        );
    },
  },

  globalAvgPool: {
    arity: 1,
    inferShape: (layer, _a, inputs) => {
      const [n, c] = single(layer, inputs);
      return [n, c, 1, 1];
    },
    macs: noMacs,
    params: noParams,
    checkAttrs: noAttrs,
  },

  output: {
    arity: 1,
    inferShape: (layer, _a, inputs) => single(layer, inputs),
    macs: noMacs,
    params: noParams,
    checkAttrs: noAttrs,
  },
};

/** Every op name, in the op table's order. */
export const OP_KINDS = Object.keys(OPS) as readonly OpKind[];

/** Whether `value` names an op of the table (own keys only: `'toString'` is not an op). */
export function isOpKind(value: unknown): value is OpKind {
  return typeof value === 'string' && Object.hasOwn(OPS, value);
}

/** `1x3x224x224` */
export function fmt(shape: readonly number[]): string {
  return shape.join('x');
}
