/**
 * The backward conv kernels tfjs-backend-wasm lacks (`Conv2DBackpropFilter`,
 * `DepthwiseConv2dNativeBackpropFilter`, `DepthwiseConv2dNativeBackpropInput`), registered for
 * wasm and built from ops wasm has, so fine-tuning runs on wasm (SIMD XNNPACK) instead of the
 * far slower tfjs-cpu. tfjs runs ops called inside a kernel off the gradient tape and accepts a
 * kernel returning a Tensor, so these are plain tfjs code:
 *
 * - conv filter gradient: per tap (i, j), strided-slice(x_padded)^T · dy, one matmul over the
 *   (batch · out pixels) rows (a 1x1 stride-1 conv is a single matmul);
 * - depthwise filter gradient: per tap, sum over (b, y, x) of slice(x_padded) ⊙ dy;
 * - depthwise input gradient: one depthwise conv of the stride-dilated, (k-1)-padded dy with
 *   the flipped filter (a full correlation), cropped to the padded input and then to the input.
 */
import * as tf from '@tensorflow/tfjs-core';

type KernelArgs = Parameters<tf.KernelFunc>[0];

type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;

interface BackpropAttrs {
  readonly strides: [number, number] | number;
  readonly pad: Pad;
  readonly dimRoundingMode?: 'floor' | 'round' | 'ceil';
  readonly dilations?: [number, number] | number;
  readonly dataFormat?: 'NHWC' | 'NCHW';
}

function tensorInput(inputs: tf.NamedTensorInfoMap, name: string, kernel: string): tf.Tensor4D {
  const t = inputs[name];
  // Ops hand kernels their Tensor objects; a bare TensorInfo would mean an engine change.
  if (!(t instanceof tf.Tensor) || t.rank !== 4)
    throw new Error(`${kernel} (wasm, netadapt): input "${name}" is not a rank-4 Tensor`);
  return t as tf.Tensor4D;
}

function checkAttrs(kernel: string, a: BackpropAttrs): void {
  const dil = a.dilations ?? 1;
  if (!(dil === 1 || (Array.isArray(dil) && dil[0] === 1 && dil[1] === 1)))
    throw new Error(`${kernel} (wasm, netadapt): dilations other than 1 are not supported`);
  if (a.dataFormat === 'NCHW') throw new Error(`${kernel} (wasm, netadapt): only NHWC is supported`);
}

/** x padded as the forward conv saw it (explicit or 'same' padding made explicit). */
function padded(x: tf.Tensor4D, info: tf.backend_util.Conv2DInfo): tf.Tensor4D {
  const { top, bottom, left, right } = info.padInfo;
  if (top + bottom + left + right === 0) return x;
  return tf.pad(x, [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ]);
}

/** The input pixels tap (i, j) of the filter meets: [N, outH, outW, C]. */
function tap(xp: tf.Tensor4D, info: tf.backend_util.Conv2DInfo, i: number, j: number): tf.Tensor4D {
  const {
    batchSize: n,
    outHeight: oh,
    outWidth: ow,
    strideHeight: sh,
    strideWidth: sw,
    inChannels: c,
  } = info;
  if (sh === 1 && sw === 1) return tf.slice(xp, [0, i, j, 0], [n, oh, ow, c]);
  const end = [n, i + (oh - 1) * sh + 1, j + (ow - 1) * sw + 1, c];
  return tf.stridedSlice(xp, [0, i, j, 0], end, [1, sh, sw, 1]) as tf.Tensor4D;
}

function conv2dBackpropFilter(args: KernelArgs): tf.Tensor {
  const a = args.attrs as unknown as BackpropAttrs & { filterShape: [number, number, number, number] };
  checkAttrs('Conv2DBackpropFilter', a);
  const x = tensorInput(args.inputs, 'x', 'Conv2DBackpropFilter');
  const dy = tensorInput(args.inputs, 'dy', 'Conv2DBackpropFilter');
  return tf.tidy(() => {
    const [kh, kw, cin, cout] = a.filterShape;
    const info = tf.backend_util.computeConv2DInfo(
      x.shape,
      a.filterShape,
      a.strides,
      1,
      a.pad,
      a.dimRoundingMode,
    );
    const rows = info.batchSize * info.outHeight * info.outWidth;
    const dy2 = tf.reshape(dy, [rows, cout]);
    const xp = padded(x, info);
    const taps: tf.Tensor2D[] = [];
    for (let i = 0; i < kh; i++)
      for (let j = 0; j < kw; j++)
        taps.push(tf.matMul(tf.reshape(tap(xp, info, i, j), [rows, cin]), dy2, true, false));
    return tf.reshape(taps.length === 1 ? taps[0]! : tf.stack(taps), [kh, kw, cin, cout]);
  });
}

function depthwiseBackpropFilter(args: KernelArgs): tf.Tensor {
  const a = args.attrs as unknown as BackpropAttrs & { filterShape: [number, number, number, number] };
  checkAttrs('DepthwiseConv2dNativeBackpropFilter', a);
  const x = tensorInput(args.inputs, 'x', 'DepthwiseConv2dNativeBackpropFilter');
  const dy = tensorInput(args.inputs, 'dy', 'DepthwiseConv2dNativeBackpropFilter');
  const [kh, kw, c, mult] = a.filterShape;
  if (mult !== 1)
    throw new Error('DepthwiseConv2dNativeBackpropFilter (wasm, netadapt): channel multiplier must be 1');
  return tf.tidy(() => {
    const info = tf.backend_util.computeConv2DInfo(
      x.shape,
      a.filterShape,
      a.strides,
      1,
      a.pad,
      a.dimRoundingMode,
      true,
    );
    const xp = padded(x, info);
    const taps: tf.Tensor1D[] = [];
    for (let i = 0; i < kh; i++)
      for (let j = 0; j < kw; j++) taps.push(tf.sum(tf.mul(tap(xp, info, i, j), dy), [0, 1, 2]));
    return tf.reshape(tf.stack(taps), [kh, kw, c, 1]);
  });
}

function depthwiseBackpropInput(args: KernelArgs): tf.Tensor {
  const a = args.attrs as unknown as BackpropAttrs & { inputShape: [number, number, number, number] };
  checkAttrs('DepthwiseConv2dNativeBackpropInput', a);
  const dy = tensorInput(args.inputs, 'dy', 'DepthwiseConv2dNativeBackpropInput');
  const filter = tensorInput(args.inputs, 'filter', 'DepthwiseConv2dNativeBackpropInput');
  const [kh, kw, c, mult] = filter.shape;
  if (mult !== 1)
    throw new Error('DepthwiseConv2dNativeBackpropInput (wasm, netadapt): channel multiplier must be 1');
  return tf.tidy(() => {
    const info = tf.backend_util.computeConv2DInfo(
      a.inputShape,
      filter.shape,
      a.strides,
      1,
      a.pad,
      a.dimRoundingMode,
      true,
    );
    const { batchSize: n, outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw } = info;
    const { top, bottom, left, right } = info.padInfo;
    const [, h, w] = a.inputShape;
    // dy with stride-1 zeros between its pixels: [n, (oh-1)*sh+1, (ow-1)*sw+1, c].
    let d: tf.Tensor4D = dy;
    if (sh > 1 || sw > 1) {
      const z = tf.pad(tf.reshape(dy, [n * oh, 1, ow, 1, c]), [
        [0, 0],
        [0, sh - 1],
        [0, 0],
        [0, sw - 1],
        [0, 0],
      ]);
      d = tf.slice(
        tf.reshape<tf.Rank.R4>(z, [n, oh * sh, ow * sw, c]),
        [0, 0, 0, 0],
        [n, (oh - 1) * sh + 1, (ow - 1) * sw + 1, c],
      );
    }
    // Full correlation with the flipped filter covers the padded input's first (oh-1)*sh+kh rows;
    // rows beyond (a stride remainder) get no gradient: extra zero padding at the end.
    const hp = h + top + bottom;
    const wp = w + left + right;
    const dp = tf.pad(d, [
      [0, 0],
      [kh - 1, kh - 1 + Math.max(0, hp - ((oh - 1) * sh + kh))],
      [kw - 1, kw - 1 + Math.max(0, wp - ((ow - 1) * sw + kw))],
      [0, 0],
    ]);
    const flipped = tf.reverse<tf.Tensor4D>(filter, [0, 1]);
    const full = tf.depthwiseConv2d(dp, flipped, 1, 'valid');
    return tf.slice(full, [0, top, left, 0], [n, h, w, c]);
  });
}

let registered = false;

/** Registers the missing backward conv kernels for the wasm backend (idempotent). */
export function registerWasmGradientKernels(): void {
  if (registered) return;
  const kernels: [string, tf.KernelFunc][] = [
    ['Conv2DBackpropFilter', conv2dBackpropFilter],
    ['DepthwiseConv2dNativeBackpropFilter', depthwiseBackpropFilter],
    ['DepthwiseConv2dNativeBackpropInput', depthwiseBackpropInput],
  ];
  for (const [kernelName, kernelFunc] of kernels)
    if (!tf.getKernel(kernelName, 'wasm')) tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
  registered = true;
}
