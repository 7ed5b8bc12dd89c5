/**
 * The per-op emitter table: `Record<OpKind, ...>`, so a new op in the DSL is a type error here
 * until it has a tfjs translation. Each emitter returns the statements of its node; the last
 * one declares `ctx.out` as a `tf.Tensor4D` (NHWC). Shapes handed in are the DSL's NCHW shapes.
 */
import {
  nearestSourceIndex,
  type NodeOf,
  type OpKind,
  type Pads,
  type Pair,
  type Shape,
  type TensorF32,
} from '@fastdepth/graph-dsl';
import {
  depthwiseToHwcm,
  iohwToHwoi,
  oihwToHwio,
  permuteAxis2,
  permuteLastAxis,
  transposedDepthwiseToFlippedHwcm,
  type LaidOut,
} from './layout.js';
import type { FusedActivation } from './plan.js';

/** How a weight is stored in the weights file (documented in the manifest). */
export type WeightLayout = 'HWIO' | 'HWCM' | 'HWOI' | 'C';

export interface EmitContext<K extends OpKind> {
  readonly node: NodeOf<K>;
  /** NCHW shape of input `i`. */
  inShape(i: number): Shape;
  /** NCHW shape of this node's output. */
  readonly outShape: Shape;
  /** Variable holding input `i`. */
  input(i: number): string;
  /** Variable this node must declare. */
  readonly out: string;
  /** Activation to apply inside this (conv) node. */
  readonly activation: FusedActivation | undefined;
  /** Output-channel permutation to bake into this (conv) node's weights. */
  readonly permutation: readonly number[] | undefined;
  /** For pixelShuffle: the input channels are already in DCR order. */
  readonly dcrReady: boolean;
  /** A DSL parameter of this node (PyTorch layout). */
  param(suffix: string): TensorF32;
  /** Registers a weight for the file and returns the expression reading it in `predict`. */
  addWeight(name: string, tensor: LaidOut, layout: WeightLayout): string;
  /** A fresh temporary variable name for this node. */
  temp(tag: string): string;
}

export type NodeEmitter<K extends OpKind> = (ctx: EmitContext<K>) => readonly string[];
export type EmitterTable = { readonly [K in OpKind]: NodeEmitter<K> };

const T4 = 'tf.Tensor4D';

function decl(name: string, expr: string): string {
  return `const ${name}: ${T4} = ${expr};`;
}

function list(values: readonly number[]): string {
  return `[${values.join(', ')}]`;
}

function isSymmetric(p: Pads): boolean {
  return p[0] === p[1] && p[0] === p[2] && p[0] === p[3];
}

/**
 * Whether tfjs computes the right output size for a numeric `pad`: for numbers it derives
 * both output dimensions from the filter height and the stride height (tfjs 4.22
 * `getPadAndOutInfo`), so only a square (dilated) kernel with equal strides is safe.
 */
function numericPadSafe(p: Pads, kernel: Pair, stride: Pair, dilation: Pair): boolean {
  const span = (k: number, d: number): number => d * (k - 1) + 1;
  return (
    isSymmetric(p) && span(kernel[0], dilation[0]) === span(kernel[1], dilation[1]) && stride[0] === stride[1]
  );
}

/** tfjs pad argument: exact pads, never 'same' (which pads bottom/right first at stride 2). */
function padArg(p: Pads, kernel: Pair, stride: Pair, dilation: Pair = [1, 1]): string {
  if (numericPadSafe(p, kernel, stride, dilation)) return p[0] === 0 ? `'valid'` : String(p[0]);
  return `[[0, 0], [${p[0]}, ${p[2]}], [${p[1]}, ${p[3]}], [0, 0]]`;
}

function bias1d(ctx: EmitContext<'conv2d' | 'convTranspose2d'>, name: string, data: Float32Array): string {
  const t: LaidOut = { shape: [data.length], data };
  return ctx.addWeight(name, ctx.permutation ? permuteLastAxis(t, ctx.permutation) : t, 'C');
}

function sliceData(data: Float32Array, begin: number, count: number): Float32Array {
  return data.slice(begin, begin + count);
}

/** `tf.fused.*` when there is a bias or an activation to fold in, the plain op otherwise. */
function convCall(
  fn: 'conv2d' | 'depthwiseConv2d',
  x: string,
  filter: string,
  strides: readonly number[],
  pad: string,
  dilations: readonly number[],
  bias: string | undefined,
  activation: FusedActivation | undefined,
): string {
  const dil = dilations[0] === 1 && dilations[1] === 1 ? undefined : list(dilations);
  if (bias === undefined && activation === undefined) {
    return `tf.${fn}(${x}, ${filter}, ${list(strides)}, ${pad}, 'NHWC'${dil ? `, ${dil}` : ''})`;
  }
  const fields = [`x: ${x}`, `filter: ${filter}`, `strides: ${list(strides)}`, `pad: ${pad}`];
  if (dil) fields.push(`dilations: ${dil}`);
  if (bias !== undefined) fields.push(`bias: ${bias}`);
  if (activation !== undefined) fields.push(`activation: '${activation}'`);
  return `tf.fused.${fn}({ ${fields.join(', ')} })`;
}

/** Pads (positive) or crops (negative) the spatial sides of an NHWC tensor of shape `nhwc`. */
function padOrCrop(
  lines: string[],
  x: string,
  nhwc: readonly [number, number, number, number],
  sides: readonly [top: number, bottom: number, left: number, right: number],
  temp: (tag: string) => string,
  temps: string[],
): { readonly value: string; readonly shape: readonly [number, number, number, number] } {
  let value = x;
  const [n, , , c] = nhwc;
  let [, h, w] = nhwc;
  const [t, b, l, r] = sides;
  if (t < 0 || b < 0 || l < 0 || r < 0) {
    const crop = temp('crop');
    const top = Math.max(0, -t);
    const left = Math.max(0, -l);
    h -= top + Math.max(0, -b);
    w -= left + Math.max(0, -r);
    lines.push(decl(crop, `tf.slice(${value}, [0, ${top}, ${left}, 0], [${n}, ${h}, ${w}, ${c}])`));
    temps.push(crop);
    value = crop;
  }
  const [pt, pb, pl, pr] = [Math.max(0, t), Math.max(0, b), Math.max(0, l), Math.max(0, r)];
  if (pt + pb + pl + pr > 0) {
    const padded = temp('pad');
    lines.push(decl(padded, `tf.pad(${value}, [[0, 0], [${pt}, ${pb}], [${pl}, ${pr}], [0, 0]])`));
    temps.push(padded);
    value = padded;
    h += pt + pb;
    w += pl + pr;
  }
  return { value, shape: [n, h, w, c] };
}

/**
 * Zero insertion by `s`: input (y, x) lands at (s*y, s*x), zeros elsewhere (trailing zeros
 * included, so the result is s*H x s*W). Rank-4 reshapes and pads only, exact by construction.
 */
function zeroInsert(
  lines: string[],
  x: string,
  nhwc: readonly [number, number, number, number],
  s: readonly [number, number],
  temp: (tag: string) => string,
  temps: string[],
  out: string,
): void {
  const [n, h, w, c] = nhwc;
  const [sh, sw] = s;
  const a = temp('rows');
  const b = temp('cols');
  const d = temp('wide');
  const e = temp('tall');
  lines.push(decl(a, `tf.reshape(${x}, [${n * h}, ${w}, 1, ${c}])`));
  lines.push(decl(b, `tf.pad(${a}, [[0, 0], [0, 0], [0, ${sw - 1}], [0, 0]])`));
  lines.push(decl(d, `tf.reshape(${b}, [${n * h}, 1, ${w * sw}, ${c}])`));
  lines.push(decl(e, `tf.pad(${d}, [[0, 0], [0, ${sh - 1}], [0, 0], [0, 0]])`));
  lines.push(decl(out, `tf.reshape(${e}, [${n}, ${h * sh}, ${w * sw}, ${c}])`));
  temps.push(a, b, d, e);
}

function disposeTemps(lines: string[], temps: readonly string[]): void {
  if (temps.length > 0) lines.push(`tf.dispose([${temps.join(', ')}]);`);
}

/** Bias add and activation after an op tfjs cannot fuse them into. */
function epilogue(
  lines: string[],
  value: string,
  bias: string | undefined,
  activation: FusedActivation | undefined,
  out: string,
  temp: (tag: string) => string,
  temps: string[],
): void {
  const steps: ((v: string) => string)[] = [];
  if (bias !== undefined) steps.push((v) => `tf.add(${v}, ${bias})`);
  if (activation !== undefined) steps.push((v) => `tf.${activation}(${v})`);
  let current = value;
  steps.forEach((step, i) => {
    const target = i === steps.length - 1 ? out : temp(`biased`);
    lines.push(decl(target, step(current)));
    if (target !== out) temps.push(target);
    current = target;
  });
}

function nhwc(s: Shape): [number, number, number, number] {
  return [s[0], s[2], s[3], s[1]];
}

const conv2d: NodeEmitter<'conv2d'> = (ctx) => {
  const { node, out } = ctx;
  const a = node.attrs;
  const x = ctx.input(0);
  const inShape = ctx.inShape(0);
  const cin = inShape[1];
  const [, cout, oh, ow] = ctx.outShape;
  const weight = ctx.param('weight');
  const biasData = a.bias ? ctx.param('bias').data : undefined;
  const lines: string[] = [];
  const temps: string[] = [];
  const temp = (tag: string): string => ctx.temp(tag);
  // tfjs refuses stride > 1 together with dilation > 1: convolve at stride 1, then subsample.
  const strided = a.stride[0] > 1 || a.stride[1] > 1;
  const dilated = a.dilation[0] > 1 || a.dilation[1] > 1;
  const subsample = strided && dilated;
  const strides: Pair = subsample ? [1, 1] : a.stride;
  const target = subsample ? temp('dense') : out;

  if (a.groups === 1) {
    let filter = oihwToHwio(weight.data, weight.shape);
    if (ctx.permutation) filter = permuteLastAxis(filter, ctx.permutation);
    const f = ctx.addWeight(`${node.name}.weight`, filter, 'HWIO');
    const b = biasData ? bias1d(ctx, `${node.name}.bias`, biasData) : undefined;
    lines.push(
      decl(
        target,
        convCall(
          'conv2d',
          x,
          f,
          strides,
          padArg(a.pads, a.kernel, strides, a.dilation),
          a.dilation,
          b,
          ctx.activation,
        ),
      ),
    );
  } else if (a.groups === cin) {
    const f = ctx.addWeight(`${node.name}.weight`, depthwiseToHwcm(weight.data, weight.shape, cin), 'HWCM');
    const b = biasData ? bias1d(ctx, `${node.name}.bias`, biasData) : undefined;
    let input = x;
    let pad = padArg(a.pads, a.kernel, strides, a.dilation);
    // Fused depthwise takes only a number or 'valid'/'same' as pad: other pads go first.
    if (!numericPadSafe(a.pads, a.kernel, strides, a.dilation)) {
      const [t, l, bt, r] = a.pads;
      input = padOrCrop(lines, x, nhwc(inShape), [t, bt, l, r], temp, temps).value;
      pad = `'valid'`;
    }
    lines.push(
      decl(target, convCall('depthwiseConv2d', input, f, strides, pad, a.dilation, b, ctx.activation)),
    );
  } else {
    // Other group counts: one conv per group on a channel slice, then concatenate.
    const cinG = cin / a.groups;
    const coutG = cout / a.groups;
    const parts: string[] = [];
    for (let g = 0; g < a.groups; g++) {
      const xs = temp(`in${g}`);
      const ys = temp(`out${g}`);
      const f = ctx.addWeight(
        `${node.name}.weight.group${g}`,
        oihwToHwio(weight.data, weight.shape, g * coutG, coutG),
        'HWIO',
      );
      const b = biasData
        ? ctx.addWeight(
            `${node.name}.bias.group${g}`,
            { shape: [coutG], data: sliceData(biasData, g * coutG, coutG) },
            'C',
          )
        : undefined;
      lines.push(decl(xs, `tf.slice(${x}, [0, 0, 0, ${g * cinG}], [-1, -1, -1, ${cinG}])`));
      lines.push(
        decl(
          ys,
          convCall(
            'conv2d',
            xs,
            f,
            strides,
            padArg(a.pads, a.kernel, strides, a.dilation),
            a.dilation,
            b,
            ctx.activation,
          ),
        ),
      );
      temps.push(xs, ys);
      parts.push(ys);
    }
    lines.push(decl(target, `tf.concat([${parts.join(', ')}], 3)`));
  }
  if (subsample) {
    temps.push(target);
    lines.push(
      decl(
        out,
        `tf.stridedSlice(${target}, [0, 0, 0, 0], [${inShape[0]}, ${(oh - 1) * a.stride[0] + 1}, ${(ow - 1) * a.stride[1] + 1}, ${cout}], [1, ${a.stride[0]}, ${a.stride[1]}, 1]) as ${T4}`,
      ),
    );
  }
  disposeTemps(lines, temps);
  return lines;
};

const convTranspose2d: NodeEmitter<'convTranspose2d'> = (ctx) => {
  const { node, out } = ctx;
  const a = node.attrs;
  const x = ctx.input(0);
  const inShape = ctx.inShape(0);
  const [n, cin, h, w] = inShape;
  const [, cout, oh, ow] = ctx.outShape;
  const [kh, kw] = a.kernel;
  const weight = ctx.param('weight');
  const biasData = a.bias ? ctx.param('bias').data : undefined;
  const lines: string[] = [];
  const temps: string[] = [];
  const temp = (tag: string): string => ctx.temp(tag);
  const raw = temp('raw');
  let bias: string | undefined;

  if (a.groups === 1) {
    let filter = iohwToHwoi(weight.data, weight.shape);
    if (ctx.permutation) filter = permuteAxis2(filter, ctx.permutation);
    const f = ctx.addWeight(`${node.name}.weight`, filter, 'HWOI');
    bias = biasData ? bias1d(ctx, `${node.name}.bias`, biasData) : undefined;
    // PyTorch pads (t, l, b, r) are exactly the forward-conv pads whose input gradient this is;
    // the output size (with outputPadding) is passed explicitly.
    const target = bias !== undefined || ctx.activation !== undefined ? raw : out;
    lines.push(
      decl(
        target,
        `tf.conv2dTranspose(${x}, ${f}, [${n}, ${oh}, ${ow}, ${cout}], ${list(a.stride)}, ${padArg(a.pads, a.kernel, a.stride)})`,
      ),
    );
    if (target === raw) {
      temps.push(raw);
      epilogue(lines, raw, bias, ctx.activation, out, temp, temps);
    }
  } else if (a.groups === cin) {
    // Depthwise transposed conv = zero insertion, pad by k-1-p (crop if negative), then a
    // depthwise conv with the flipped kernel: bias and activation fuse into that conv.
    const f = ctx.addWeight(
      `${node.name}.weight`,
      transposedDepthwiseToFlippedHwcm(weight.data, weight.shape),
      'HWCM',
    );
    bias = biasData ? bias1d(ctx, `${node.name}.bias`, biasData) : undefined;
    let value = x;
    let shape: readonly [number, number, number, number] = [n, h, w, cin];
    if (a.stride[0] > 1 || a.stride[1] > 1) {
      const inserted = temp('inserted');
      zeroInsert(lines, x, shape, a.stride, temp, temps, inserted);
      temps.push(inserted);
      value = inserted;
      shape = [n, h * a.stride[0], w * a.stride[1], cin];
    }
    const top = kh - 1 - a.pads[0];
    const left = kw - 1 - a.pads[1];
    const bottom = oh + kh - 1 - shape[1] - top;
    const right = ow + kw - 1 - shape[2] - left;
    let pad = `'valid'`;
    if (top >= 0 && numericPadSafe([top, left, bottom, right], a.kernel, [1, 1], [1, 1])) {
      pad = top === 0 ? `'valid'` : String(top);
    } else {
      value = padOrCrop(lines, value, shape, [top, bottom, left, right], temp, temps).value;
    }
    lines.push(decl(out, convCall('depthwiseConv2d', value, f, [1, 1], pad, [1, 1], bias, ctx.activation)));
  } else {
    const cinG = cin / a.groups;
    const coutG = cout / a.groups;
    const parts: string[] = [];
    for (let g = 0; g < a.groups; g++) {
      const xs = temp(`in${g}`);
      const ys = temp(`out${g}`);
      const f = ctx.addWeight(
        `${node.name}.weight.group${g}`,
        iohwToHwoi(weight.data, weight.shape, g * cinG, cinG),
        'HWOI',
      );
      lines.push(decl(xs, `tf.slice(${x}, [0, 0, 0, ${g * cinG}], [-1, -1, -1, ${cinG}])`));
      lines.push(
        decl(
          ys,
          `tf.conv2dTranspose(${xs}, ${f}, [${n}, ${oh}, ${ow}, ${coutG}], ${list(a.stride)}, ${padArg(a.pads, a.kernel, a.stride)})`,
        ),
      );
      temps.push(xs, ys);
      parts.push(ys);
    }
    bias = biasData ? bias1d(ctx, `${node.name}.bias`, biasData) : undefined;
    const target = bias !== undefined || ctx.activation !== undefined ? raw : out;
    lines.push(decl(target, `tf.concat([${parts.join(', ')}], 3)`));
    if (target === raw) {
      temps.push(raw);
      epilogue(lines, raw, bias, ctx.activation, out, temp, temps);
    }
  }
  disposeTemps(lines, temps);
  return lines;
};

export const EMITTERS: EmitterTable = {
  input: () => [],
  conv2d,
  convTranspose2d,
  batchNorm: (ctx) => {
    const name = ctx.node.name;
    const vec = (suffix: string): string => {
      const t = ctx.param(suffix);
      return ctx.addWeight(`${name}.${suffix}`, { shape: [t.data.length], data: t.data }, 'C');
    };
    const args = [
      ctx.input(0),
      vec('running_mean'),
      vec('running_var'),
      vec('bias'),
      vec('weight'),
      String(ctx.node.attrs.epsilon),
    ];
    return [decl(ctx.out, `tf.batchNorm(${args.join(', ')})`)];
  },
  relu: (ctx) => [decl(ctx.out, `tf.relu(${ctx.input(0)})`)],
  relu6: (ctx) => [decl(ctx.out, `tf.relu6(${ctx.input(0)})`)],
  add: (ctx) => {
    const xs = ctx.node.inputs.map((_, i) => ctx.input(i));
    return [decl(ctx.out, xs.length === 2 ? `tf.add(${xs[0]!}, ${xs[1]!})` : `tf.addN([${xs.join(', ')}])`)];
  },
  concat: (ctx) => [
    decl(ctx.out, `tf.concat([${ctx.node.inputs.map((_, i) => ctx.input(i)).join(', ')}], 3)`),
  ],
  upsample: (ctx) => {
    const [, , oh, ow] = ctx.outShape;
    // nearest: src = floor(dst / 2) needs alignCorners = halfPixelCenters = false (PyTorch
    // nearest); bilinear align_corners=False is tfjs halfPixelCenters = true.
    return [
      ctx.node.attrs.mode === 'nearest'
        ? decl(ctx.out, `tf.image.resizeNearestNeighbor(${ctx.input(0)}, [${oh}, ${ow}], false, false)`)
        : decl(ctx.out, `tf.image.resizeBilinear(${ctx.input(0)}, [${oh}, ${ow}], false, true)`),
    ];
  },
  resize: (ctx) => {
    const [, , h, w] = ctx.inShape(0);
    const [, , oh, ow] = ctx.outShape;
    const x = ctx.input(0);
    if (ctx.node.attrs.mode === 'bilinear')
      // halfPixelCenters: (dst + 0.5) * in / out - 0.5, edges clamped: align_corners=False.
      return [decl(ctx.out, `tf.image.resizeBilinear(${x}, [${oh}, ${ow}], false, true)`)];
    const rows = sourceIndices(h, oh);
    const cols = sourceIndices(w, ow);
    // resizeNearestNeighbor reads floor(dst * in / out) in the backend's own float arithmetic;
    // where PyTorch's float32 indices differ from exact division, gather PyTorch's instead.
    if (
      rows.some((s, d) => s !== Math.floor((d * h) / oh)) ||
      cols.some((s, d) => s !== Math.floor((d * w) / ow))
    ) {
      const t = ctx.temp('rows');
      return [
        decl(t, `tf.gather(${x}, ${list(rows)}, 1)`),
        decl(ctx.out, `tf.gather(${t}, ${list(cols)}, 2)`),
        `${t}.dispose();`,
      ];
    }
    return [decl(ctx.out, `tf.image.resizeNearestNeighbor(${x}, [${oh}, ${ow}], false, false)`)];
  },
  unpool: (ctx) => {
    const lines: string[] = [];
    const temps: string[] = [];
    const s = ctx.node.attrs.scale;
    zeroInsert(lines, ctx.input(0), nhwc(ctx.inShape(0)), [s, s], (t) => ctx.temp(t), temps, ctx.out);
    disposeTemps(lines, temps);
    return lines;
  },
  pixelShuffle: (ctx) => {
    const r = ctx.node.attrs.blockSize;
    if (ctx.dcrReady) return [decl(ctx.out, `tf.depthToSpace(${ctx.input(0)}, ${r}, 'NHWC')`)];
    // Runtime CRD -> DCR channel reorder, all in rank 4: [N*H, W, C, r*r] -> [N*H, W, r*r, C].
    const [n, c, h, w] = ctx.inShape(0);
    const split = ctx.temp('crd');
    const swapped = ctx.temp('dcr');
    const merged = ctx.temp('merged');
    return [
      decl(split, `tf.reshape(${ctx.input(0)}, [${n * h}, ${w}, ${c / (r * r)}, ${r * r}])`),
      decl(swapped, `tf.transpose(${split}, [0, 1, 3, 2])`),
      decl(merged, `tf.reshape(${swapped}, [${n}, ${h}, ${w}, ${c}])`),
      decl(ctx.out, `tf.depthToSpace(${merged}, ${r}, 'NHWC')`),
      `tf.dispose([${split}, ${swapped}, ${merged}]);`,
    ];
  },
  maxPool: (ctx) => {
    const a = ctx.node.attrs;
    // tfjs pooling skips padded positions, i.e. treats them as -infinity, like the reference.
    return [
      decl(
        ctx.out,
        `tf.maxPool(${ctx.input(0)}, ${list(a.kernel)}, ${list(a.stride)}, ${padArg(a.pads, a.kernel, a.stride)})`,
      ),
    ];
  },
  sigmoid: (ctx) => [decl(ctx.out, `tf.sigmoid(${ctx.input(0)})`)],
  hardSigmoid: (ctx) => [decl(ctx.out, hardSigmoid(ctx.input(0)))],
  hardSwish: (ctx) => [decl(ctx.out, `tf.mul(${ctx.input(0)}, ${hardSigmoid(ctx.input(0))})`)],
  clip: (ctx) => [
    decl(ctx.out, `tf.clipByValue(${ctx.input(0)}, ${ctx.node.attrs.min}, ${ctx.node.attrs.max})`),
  ],
  // NHWC: a (N, C, 1, 1) scale is (N, 1, 1, C) here and broadcasts over H and W.
  mul: (ctx) => [decl(ctx.out, `tf.mul(${ctx.input(0)}, ${ctx.input(1)})`)],
  avgPool2d: (ctx) => {
    const a = ctx.node.attrs;
    const [t, l, b, r] = a.pads;
    const pool = (x: string): string => `tf.avgPool(${x}, ${list(a.kernel)}, ${list(a.stride)}, 'valid')`;
    if (t + l + b + r === 0) return [decl(ctx.out, pool(ctx.input(0)))];
    // Explicit zero padding, then a valid pool: the window average with padded zeros counted
    // (PyTorch's default). Without them, divide by the same pool of ones: the share of each
    // window inside the input.
    const padded = (x: string): string => `tf.pad(${x}, [[0, 0], [${t}, ${b}], [${l}, ${r}], [0, 0]])`;
    const sum = pool(padded(ctx.input(0)));
    return [
      decl(
        ctx.out,
        a.countIncludePad ? sum : `tf.div(${sum}, ${pool(padded(`tf.onesLike(${ctx.input(0)})`))})`,
      ),
    ];
  },
  globalAvgPool: (ctx) => [decl(ctx.out, `tf.mean<tf.Tensor4D>(${ctx.input(0)}, [1, 2], true)`)],
  output: () => [],
};

/** PyTorch's nearest source row (or column) of every output one. */
function sourceIndices(inSize: number, outSize: number): number[] {
  return Array.from({ length: outSize }, (_, d) => nearestSourceIndex(d, inSize, outSize));
}

/** PyTorch's hard sigmoid relu6(x + 3) / 6 as one tfjs expression. */
function hardSigmoid(x: string): string {
  return `tf.div(tf.relu6(tf.add(${x}, 3)), 6)`;
}
