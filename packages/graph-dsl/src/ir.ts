/**
 * The graph IR: plain, readonly, JSON-serialisable data. A network is a list of nodes in
 * topological order; every node has a stable name, an `op` tag, the names of its inputs and
 * the attributes of its op. Shapes are not stored: they are inferred from the input node's
 * shape by the op table (see `ops.ts`), so a graph can never disagree with itself.
 *
 * Layout is NCHW everywhere in the IR; emitters that need another layout convert inside.
 */

import type { GraphQuantization } from './quant/ir.js';

/** Format tag and version written into every saved graph; loading rejects anything else. */
export const GRAPH_FORMAT = 'fastdepth-graph';
/** The IR version this package writes and reads; loading rejects any other. */
export const GRAPH_FORMAT_VERSION = 1;

/** An NCHW tensor shape. */
export type Shape = readonly [n: number, c: number, h: number, w: number];
/** [height, width] pair. */
export type Pair = readonly [number, number];
/** Explicit padding [top, left, bottom, right] (ONNX order is [top, left, bottom, right] too). */
export type Pads = readonly [top: number, left: number, bottom: number, right: number];

/** Attributes of `input`. */
export interface InputAttrs {
  /** The fixed NCHW input shape. */
  readonly shape: Shape;
}
/** Attributes of `conv2d` (PyTorch `nn.Conv2d`; weight [out, in / groups, kh, kw]). */
export interface Conv2dAttrs {
  /** Output channels. */
  readonly outChannels: number;
  /** [height, width] of the kernel. */
  readonly kernel: Pair;
  /** [height, width] stride. */
  readonly stride: Pair;
  /** Zero padding [top, left, bottom, right]. */
  readonly pads: Pads;
  /** [height, width] dilation. */
  readonly dilation: Pair;
  /** Groups: 1 is a full convolution, in = out = groups a depthwise one. */
  readonly groups: number;
  /** Whether the layer has a `.bias` tensor. */
  readonly bias: boolean;
}
/** Attributes of `convTranspose2d` (PyTorch `nn.ConvTranspose2d`; weight [in, out / groups, kh, kw]). */
export interface ConvTranspose2dAttrs {
  /** Output channels. */
  readonly outChannels: number;
  /** [height, width] of the kernel. */
  readonly kernel: Pair;
  /** [height, width] stride. */
  readonly stride: Pair;
  /** Padding [top, left, bottom, right] removed from the full output. */
  readonly pads: Pads;
  /** Extra [height, width] added at the bottom and right (PyTorch `output_padding`). */
  readonly outputPadding: Pair;
  /** Groups (1 = full). */
  readonly groups: number;
  /** Whether the layer has a `.bias` tensor. */
  readonly bias: boolean;
}
/** Attributes of `batchNorm` (inference form, PyTorch `nn.BatchNorm2d` in eval mode). */
export interface BatchNormAttrs {
  /** Added to the running variance before the square root (PyTorch's `eps`, default 1e-5). */
  readonly epsilon: number;
}
/** The attributes of an op that has none: `{}`. */
export type NoAttrs = Readonly<Record<string, never>>;
/** Interpolation of `upsample`: nearest neighbour, or bilinear with `align_corners=False`. */
export type UpsampleMode = 'nearest' | 'bilinear';
/** Attributes of `upsample`: x2 only. */
export interface UpsampleAttrs {
  /** nearest = PyTorch `F.interpolate(mode='nearest')`; bilinear = `align_corners=False`. */
  readonly mode: UpsampleMode;
  /** Always 2: height and width double. */
  readonly scale: 2;
}
/**
 * Resize by integer factors or to a size, PyTorch `F.interpolate` with `align_corners=False`:
 * nearest reads source floor(dst * in / out) (PyTorch's float32 arithmetic, see
 * `nearestSourceIndex`), bilinear samples at (dst + 0.5) * in / out - 0.5 clamped to the edge.
 * Exactly one of `scale` and `size`.
 */
export type ResizeAttrs = ResizeByScale | ResizeToSize;
/** `resize` by integer factors per axis. */
export interface ResizeByScale {
  readonly mode: UpsampleMode;
  /** Positive integer factors [height, width]: the output is the input times these. */
  readonly scale: Pair;
}
/** `resize` to an explicit output size. */
export interface ResizeToSize {
  readonly mode: UpsampleMode;
  /** Output [height, width], any positive integers (smaller than the input too). */
  readonly size: Pair;
}
/** Attributes of `unpool` (the authors' `Unpool`, x2 only). */
export interface UnpoolAttrs {
  /** Zero insertion: input (y, x) lands at output (2y, 2x), every other output is 0. */
  readonly scale: 2;
}
/** Attributes of `pixelShuffle` (block 2 only). */
export interface PixelShuffleAttrs {
  /** Depth-to-space in PyTorch `PixelShuffle` order (ONNX DepthToSpace mode CRD). */
  readonly blockSize: 2;
}
/** Attributes of `maxPool` (PyTorch `nn.MaxPool2d`, floor mode). */
export interface MaxPoolAttrs {
  /** [height, width] of the window. */
  readonly kernel: Pair;
  /** [height, width] stride. */
  readonly stride: Pair;
  /** Padding [top, left, bottom, right]; padded positions never win. */
  readonly pads: Pads;
}
/** Attributes of `avgPool2d` (PyTorch `nn.AvgPool2d`, floor mode). */
export interface AvgPoolAttrs {
  /** [height, width] of the window. */
  readonly kernel: Pair;
  /** [height, width] stride. */
  readonly stride: Pair;
  /** Zero padding [top, left, bottom, right]. */
  readonly pads: Pads;
  /**
   * PyTorch's `count_include_pad` (its default is true): divide by the whole window, padded
   * zeros included, or only by the positions inside the input.
   */
  readonly countIncludePad: boolean;
}
/** Attributes of `clip`. */
export interface ClipAttrs {
  /** Lower and upper bound (PyTorch `clamp(min, max)`, ONNX Clip); min < max, both finite. */
  readonly min: number;
  readonly max: number;
}

/** Attributes of every op, keyed by op name. Adding an op starts here. */
export interface OpAttrMap {
  input: InputAttrs;
  conv2d: Conv2dAttrs;
  convTranspose2d: ConvTranspose2dAttrs;
  batchNorm: BatchNormAttrs;
  relu: NoAttrs;
  relu6: NoAttrs;
  add: NoAttrs;
  concat: NoAttrs;
  upsample: UpsampleAttrs;
  resize: ResizeAttrs;
  unpool: UnpoolAttrs;
  pixelShuffle: PixelShuffleAttrs;
  maxPool: MaxPoolAttrs;
  /** Logistic 1 / (1 + exp(-x)). */
  sigmoid: NoAttrs;
  /** PyTorch `Hardsigmoid`: relu6(x + 3) / 6. */
  hardSigmoid: NoAttrs;
  /** PyTorch `Hardswish`: x * relu6(x + 3) / 6. */
  hardSwish: NoAttrs;
  clip: ClipAttrs;
  /** Elementwise product; the second input may be (N, C, 1, 1), broadcast over H and W (squeeze-excite). */
  mul: NoAttrs;
  avgPool2d: AvgPoolAttrs;
  /** Mean over H and W: (N, C, H, W) -> (N, C, 1, 1). */
  globalAvgPool: NoAttrs;
  output: NoAttrs;
}

/** The name of an op: `'conv2d'`, `'relu6'`, ... (the keys of {@link OpAttrMap}). */
export type OpKind = keyof OpAttrMap;

/** One node of a given op. */
export interface NodeOf<K extends OpKind> {
  readonly op: K;
  readonly name: string;
  readonly inputs: readonly string[];
  readonly attrs: OpAttrMap[K];
}

/** Any node: a discriminated union tagged by `op`. */
export type Node = { [K in OpKind]: NodeOf<K> }[OpKind];

/**
 * A network: what `GraphBuilder.build()` returns, `saveGraph` writes as JSON and `loadGraph`
 * reads back. Plain readonly data; every emitter and the executor take it.
 */
export interface Graph {
  /** Always `'fastdepth-graph'`. */
  readonly format: typeof GRAPH_FORMAT;
  /** The IR version, {@link GRAPH_FORMAT_VERSION}. */
  readonly version: typeof GRAPH_FORMAT_VERSION;
  /** Architecture name, e.g. `mobilenet-nnconv5dw-skipadd`. */
  readonly name: string;
  /** Nodes in topological order; names are unique. */
  readonly nodes: readonly Node[];
  /** Free-form provenance (arch options, pruning history). Values are JSON scalars. */
  readonly meta?: Readonly<Record<string, string | number | boolean>>;
  /** Int8 quantisation of every tensor (see `quant/ir.ts`); absent on float graphs. */
  readonly quantization?: GraphQuantization;
}

/** Narrow a node to one op. */
export function isOp<K extends OpKind>(node: Node, op: K): node is Extract<Node, { op: K }> {
  return node.op === op;
}

/** Exhaustiveness helper: a `switch` over `op` ends with `assertNever(node)`. */
export function assertNever(value: never): never {
  throw new Error(`unhandled case: ${JSON.stringify(value)}`);
}
