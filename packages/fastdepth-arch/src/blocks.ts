/**
 * The building blocks of the family, each a function that declares its layers on a
 * `GraphBuilder` under a stable name prefix, so a network reads like the paper:
 *
 *   x = separable(g, 'conv1', x, { outChannels: 64, act: 'relu6' });
 *   y = nnconv(g, 'decode_conv1', x, { outChannels: 512, kernel: 5, depthwise: true });
 *
 * Naming rule: a conv called `n` is followed by `n_bn` and `n_relu` (`n_relu` even when the
 * activation is ReLU6, as in the authors' MobileNet); a separable block `n` is `n_dw*` then
 * `n_pw*`; a resize that ends a block is `n_up` (`n_unpool`, `n_shuffle` when it comes first).
 */
import type { GraphBuilder, Tensor } from '@fastdepth/graph-dsl';

/** The activation after a BatchNorm (hardSwish: MobileNetV3's). */
export type Activation = 'relu' | 'relu6' | 'hardSwish' | 'none';

export interface ConvBnOptions {
  readonly outChannels: number;
  readonly kernel: number;
  readonly stride?: number;
  /** Default `(kernel - 1) / 2` ("same" padding for odd kernels). */
  readonly pads?: number;
  readonly groups?: number;
  readonly act: Activation;
}

function channels(x: Tensor): number {
  return x.shape[1];
}

function activate(g: GraphBuilder, name: string, x: Tensor, act: Activation): Tensor {
  switch (act) {
    case 'relu':
      return g.relu(name, x);
    case 'relu6':
      return g.relu6(name, x);
    case 'hardSwish':
      return g.hardSwish(name, x);
    case 'none':
      return x;
  }
}

/**
 * torchvision's `_make_divisible`: `v` rounded to a multiple of `divisor` (at least `divisor`),
 * never more than 10 % below `v`. MobileNetV2/V3 widths and squeeze-excite sizes use it.
 */
export function makeDivisible(v: number, divisor = 8): number {
  const rounded = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  return rounded < 0.9 * v ? rounded + divisor : rounded;
}

export interface SqueezeExciteOptions {
  /** Squeeze channels = makeDivisible(C / reduction); default 4 (MobileNetV3). */
  readonly reduction?: number;
  /** The gate; default hardSigmoid (MobileNetV3), sigmoid for EfficientNet. */
  readonly gate?: 'hardSigmoid' | 'sigmoid';
}

/**
 * Squeeze-excite (Hu et al.; MobileNetV3's form): global average pool `name_pool`, 1x1 conv
 * `name_reduce` (bias) + ReLU `name_reduce_relu`, 1x1 conv `name_expand` (bias), gate
 * `name_gate`, and the per-channel product `name_scale` with the input.
 */
export function squeezeExcite(
  g: GraphBuilder,
  name: string,
  x: Tensor,
  o: SqueezeExciteOptions = {},
): Tensor {
  const c = channels(x);
  const squeezed = makeDivisible(c / (o.reduction ?? 4));
  const pooled = g.globalAvgPool(`${name}_pool`, x);
  const reduced = g.relu(
    `${name}_reduce_relu`,
    g.conv2d(`${name}_reduce`, pooled, { outChannels: squeezed, kernel: 1, bias: true }),
  );
  const expanded = g.conv2d(`${name}_expand`, reduced, { outChannels: c, kernel: 1, bias: true });
  const gate =
    (o.gate ?? 'hardSigmoid') === 'sigmoid'
      ? g.sigmoid(`${name}_gate`, expanded)
      : g.hardSigmoid(`${name}_gate`, expanded);
  return g.mul(`${name}_scale`, x, gate);
}

export interface InvertedResidualOptions {
  readonly outChannels: number;
  /** Expanded width = input channels x expandRatio; 1 skips the expansion conv. */
  readonly expandRatio: number;
  /** Depthwise kernel, default 3. */
  readonly kernel?: number;
  readonly stride?: number;
  /** Activation of the expansion and depthwise convs (relu6 in V2; relu or hardSwish in V3). */
  readonly act: Activation;
  /** Squeeze-excite after the depthwise conv (MobileNetV3). */
  readonly squeezeExcite?: boolean;
}

/**
 * MobileNetV2/V3 inverted residual: 1x1 expansion `name_expand` (+ BN + act), depthwise
 * `name_dw` (+ BN + act), optional squeeze-excite `name_se`, linear 1x1 projection
 * `name_project` + BN, and the residual sum `name_add` when the stride is 1 and the widths match.
 */
export function invertedResidual(
  g: GraphBuilder,
  name: string,
  x: Tensor,
  o: InvertedResidualOptions,
): Tensor {
  const cin = channels(x);
  const hidden = Math.round(cin * o.expandRatio);
  const stride = o.stride ?? 1;
  let y =
    o.expandRatio === 1 ? x : convBn(g, `${name}_expand`, x, { outChannels: hidden, kernel: 1, act: o.act });
  y = convBn(g, `${name}_dw`, y, {
    outChannels: hidden,
    kernel: o.kernel ?? 3,
    stride,
    groups: hidden,
    act: o.act,
  });
  if (o.squeezeExcite) y = squeezeExcite(g, `${name}_se`, y);
  y = convBn(g, `${name}_project`, y, { outChannels: o.outChannels, kernel: 1, act: 'none' });
  return stride === 1 && cin === o.outChannels ? g.add(`${name}_add`, x, y) : y;
}

/** Bias-free conv `name`, BatchNorm `name_bn` (eps 1e-5), activation `name_relu`. */
export function convBn(g: GraphBuilder, name: string, x: Tensor, o: ConvBnOptions): Tensor {
  const conv = g.conv2d(name, x, {
    outChannels: o.outChannels,
    kernel: o.kernel,
    stride: o.stride ?? 1,
    pads: o.pads ?? (o.kernel - 1) / 2,
    groups: o.groups ?? 1,
  });
  return activate(g, `${name}_relu`, g.batchNorm(`${name}_bn`, conv), o.act);
}

export interface SeparableOptions {
  readonly outChannels: number;
  /** Depthwise kernel; default 3 (MobileNet). */
  readonly kernel?: number;
  /** Stride of the depthwise conv; default 1. */
  readonly stride?: number;
  readonly act: Activation;
}

/**
 * Depthwise-separable convolution (MobileNet): depthwise KxK `name_dw` (groups = C) + BN + act,
 * then pointwise 1x1 `name_pw` + BN + act.
 */
export function separable(g: GraphBuilder, name: string, x: Tensor, o: SeparableOptions): Tensor {
  const c = channels(x);
  const dw = convBn(g, `${name}_dw`, x, {
    outChannels: c,
    kernel: o.kernel ?? 3,
    stride: o.stride ?? 1,
    groups: c,
    act: o.act,
  });
  return convBn(g, `${name}_pw`, dw, { outChannels: o.outChannels, kernel: 1, act: o.act });
}

export interface DecoderBlockOptions {
  readonly outChannels: number;
  readonly kernel: number;
  /** Depthwise KxK + pointwise 1x1 (`name_dw*`, `name_pw*`) instead of one KxK conv (`name*`). */
  readonly depthwise: boolean;
}

/** The convolution of a decoder block: KxK conv + BN + ReLU, or its separable form. */
export function decoderConv(g: GraphBuilder, name: string, x: Tensor, o: DecoderBlockOptions): Tensor {
  return o.depthwise
    ? separable(g, name, x, { outChannels: o.outChannels, kernel: o.kernel, act: 'relu' })
    : convBn(g, name, x, { outChannels: o.outChannels, kernel: o.kernel, act: 'relu' });
}

/** NNConvK[dw]: conv, then nearest-neighbour x2 `name_up`. FastDepth's decoder is nnconv5dw. */
export function nnconv(g: GraphBuilder, name: string, x: Tensor, o: DecoderBlockOptions): Tensor {
  return g.upsample(`${name}_up`, decoderConv(g, name, x, o), 'nearest');
}

/** BLConvK[dw]: conv, then bilinear x2 (align_corners = False) `name_up`. */
export function blconv(g: GraphBuilder, name: string, x: Tensor, o: DecoderBlockOptions): Tensor {
  return g.upsample(`${name}_up`, decoderConv(g, name, x, o), 'bilinear');
}

/**
 * DeConvK: transposed KxK conv, stride 2, pads (K-1)/2, outputPadding K%2 (exactly doubles the
 * size) + BN + ReLU. DeConvKdw: the same transposed conv depthwise (C -> C, `name_dw`) + BN +
 * ReLU, then pointwise 1x1 `name_pw` + BN + ReLU.
 */
export function deconv(g: GraphBuilder, name: string, x: Tensor, o: DecoderBlockOptions): Tensor {
  const c = channels(x);
  const upName = o.depthwise ? `${name}_dw` : name;
  const up = g.convTranspose2d(upName, x, {
    outChannels: o.depthwise ? c : o.outChannels,
    kernel: o.kernel,
    stride: 2,
    pads: (o.kernel - 1) / 2,
    outputPadding: o.kernel % 2,
    groups: o.depthwise ? c : 1,
  });
  const y = g.relu(`${upName}_relu`, g.batchNorm(`${upName}_bn`, up));
  return o.depthwise ? convBn(g, `${name}_pw`, y, { outChannels: o.outChannels, kernel: 1, act: 'relu' }) : y;
}

/** UpConv: 2x2 unpool `name_unpool` (zero insertion), then 5x5 conv `name` + BN + ReLU. */
export function upconv(
  g: GraphBuilder,
  name: string,
  x: Tensor,
  o: { readonly outChannels: number },
): Tensor {
  const up = g.unpool(`${name}_unpool`, x);
  return convBn(g, name, up, { outChannels: o.outChannels, kernel: 5, act: 'relu' });
}

/**
 * UpProj (Laina et al.): unpool, then upper branch 5x5 conv + BN + ReLU + 3x3 conv + BN and
 * bottom branch 5x5 conv + BN, added, then ReLU. Names follow the authors' module tree.
 */
export function upproj(
  g: GraphBuilder,
  name: string,
  x: Tensor,
  o: { readonly outChannels: number },
): Tensor {
  const up = g.unpool(`${name}_unpool`, x);
  const c = o.outChannels;
  const conv = (conv: string, bn: string, t: Tensor, kernel: number): Tensor =>
    g.batchNorm(
      `${name}_${bn}`,
      g.conv2d(`${name}_${conv}`, t, { outChannels: c, kernel, pads: (kernel - 1) / 2 }),
    );
  const upper1 = g.relu(`${name}_upper_relu`, conv('upper_conv1', 'upper_bn1', up, 5));
  const upper = conv('upper_conv2', 'upper_bn2', upper1, 3);
  const bottom = conv('bottom_conv', 'bottom_bn', up, 5);
  return g.relu(`${name}_relu`, g.add(`${name}_add`, upper, bottom));
}

/**
 * ShuffleK[dw]: pixel shuffle `name_shuffle` (depth-to-space 2: C -> C/4 channels, 2x size),
 * then the block's conv (KxK or dw KxK + pw 1x1) + BN + ReLU.
 */
export function shuffle(g: GraphBuilder, name: string, x: Tensor, o: DecoderBlockOptions): Tensor {
  return decoderConv(g, name, g.pixelShuffle(`${name}_shuffle`, x), o);
}

/**
 * ResNet BasicBlock (torchvision): 3x3 conv (stride s) + BN + ReLU, 3x3 conv + BN, plus the
 * identity or the 1x1 downsample, then ReLU. Layers `name_conv1`, `name_bn1`, `name_relu1`,
 * `name_conv2`, `name_bn2`, `name_downsample_0`, `name_downsample_1`, `name_add`, `name_relu`.
 */
export function basicBlock(g: GraphBuilder, name: string, x: Tensor, planes: number, stride: number): Tensor {
  const y1 = g.relu(
    `${name}_relu1`,
    g.batchNorm(
      `${name}_bn1`,
      g.conv2d(`${name}_conv1`, x, { outChannels: planes, kernel: 3, stride, pads: 1 }),
    ),
  );
  const y2 = g.batchNorm(
    `${name}_bn2`,
    g.conv2d(`${name}_conv2`, y1, { outChannels: planes, kernel: 3, pads: 1 }),
  );
  return residual(g, name, x, y2, stride);
}

/**
 * ResNet Bottleneck, torchvision v1.5 (stride on the 3x3): 1x1 + BN + ReLU, 3x3 (stride s) +
 * BN + ReLU, 1x1 to 4 x planes + BN, plus identity or downsample, then ReLU.
 */
export function bottleneck(g: GraphBuilder, name: string, x: Tensor, planes: number, stride: number): Tensor {
  const y1 = g.relu(
    `${name}_relu1`,
    g.batchNorm(`${name}_bn1`, g.conv2d(`${name}_conv1`, x, { outChannels: planes, kernel: 1 })),
  );
  const y2 = g.relu(
    `${name}_relu2`,
    g.batchNorm(
      `${name}_bn2`,
      g.conv2d(`${name}_conv2`, y1, { outChannels: planes, kernel: 3, stride, pads: 1 }),
    ),
  );
  const y3 = g.batchNorm(
    `${name}_bn3`,
    g.conv2d(`${name}_conv3`, y2, { outChannels: planes * 4, kernel: 1 }),
  );
  return residual(g, name, x, y3, stride);
}

/** The shortcut of a ResNet block: identity, or 1x1 conv + BN when the shape changes. */
function residual(g: GraphBuilder, name: string, x: Tensor, y: Tensor, stride: number): Tensor {
  const needsDownsample = stride !== 1 || channels(x) !== channels(y);
  const shortcut = needsDownsample
    ? g.batchNorm(
        `${name}_downsample_1`,
        g.conv2d(`${name}_downsample_0`, x, { outChannels: channels(y), kernel: 1, stride }),
      )
    : x;
  return g.relu(`${name}_relu`, g.add(`${name}_add`, y, shortcut));
}
