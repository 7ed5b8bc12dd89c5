/**
 * The layer DSL. A network is declared once, layer by layer, each with a stable name; shapes
 * are inferred as layers are declared, so a mistake throws right at the declaration with the
 * layer's name, what was expected and what was found.
 *
 *   const g = new GraphBuilder('tiny');
 *   const x = g.input('input', [1, 3, 32, 32]);
 *   const y = g.relu('conv0_relu', g.batchNorm('conv0_bn', g.conv2d('conv0', x, { outChannels: 8, kernel: 3, pads: 1 })));
 *   g.output('depth', y);
 *   const graph = g.build();
 *
 * Every layer has a typed helper (`conv2d`, `add`, `concat`, ...); `node(op, name, inputs, attrs)`
 * is the generic form they all go through, for code that copies layers of any op.
 */
import { FastDepthError, GraphError } from './errors.js';
import {
  GRAPH_FORMAT,
  GRAPH_FORMAT_VERSION,
  type Graph,
  type Node,
  type OpAttrMap,
  type OpKind,
  type Pads,
  type Pair,
  type Shape,
  type UpsampleMode,
} from './ir.js';
import { OP_KINDS, OPS, isOpKind, type OpDef } from './ops.js';
import { isLayerName, LAYER_NAME_RULE, quote } from './names.js';
import { checkSizeCaps } from './size-caps.js';

/** A handle on a declared layer's output. */
export interface Tensor {
  readonly name: string;
  readonly shape: Shape;
}

type PairLike = number | readonly [number, number];
/** A single number pads all four sides; a pair is [vertical, horizontal]; four are [t, l, b, r]. */
type PadsLike = number | readonly [number, number] | Pads;

/** Options of `GraphBuilder.conv2d` (PyTorch `nn.Conv2d`). */
export interface Conv2dOptions {
  /** Output channels; a multiple of `groups`. */
  readonly outChannels: number;
  /** Kernel size: one number for a square kernel, or [height, width]. */
  readonly kernel: PairLike;
  /** Stride, one number or [height, width]. Default 1. */
  readonly stride?: PairLike;
  /** Zero padding: one number, [vertical, horizontal] or [top, left, bottom, right]. Default 0. */
  readonly pads?: PadsLike;
  /** Dilation, one number or [height, width]. Default 1. */
  readonly dilation?: PairLike;
  /** Number of groups; `groups = in = out` is a depthwise convolution. Default 1. */
  readonly groups?: number;
  /** Default false: every FastDepth conv is followed by BatchNorm. */
  readonly bias?: boolean;
}

/**
 * Options of `GraphBuilder.convTranspose2d` (PyTorch `nn.ConvTranspose2d`): the output is
 * (in - 1) * stride - pad_begin - pad_end + kernel + outputPadding per axis.
 */
export interface ConvTranspose2dOptions {
  /** Output channels; a multiple of `groups`. */
  readonly outChannels: number;
  /** Kernel size: one number for a square kernel, or [height, width]. */
  readonly kernel: PairLike;
  /** Stride (the upsampling factor), one number or [height, width]. Default 1. */
  readonly stride?: PairLike;
  /**
   * Padding removed from the output: one number, [vertical, horizontal] or [top, left, bottom,
   * right]. Default 0.
   */
  readonly pads?: PadsLike;
  /**
   * Extra rows and columns added at the bottom and right (PyTorch `output_padding`), each less
   * than the stride. Default 0.
   */
  readonly outputPadding?: PairLike;
  /** Number of groups. Default 1. */
  readonly groups?: number;
  /** Whether the layer adds a per-channel bias. Default false. */
  readonly bias?: boolean;
}

/** Options of `GraphBuilder.maxPool` (PyTorch `nn.MaxPool2d`, floor mode). */
export interface MaxPoolOptions {
  /** Window size: one number for a square window, or [height, width]. */
  readonly kernel: PairLike;
  /** Default: the kernel (non-overlapping windows), as in PyTorch. */
  readonly stride?: PairLike;
  /**
   * Padding: one number, [vertical, horizontal] or [top, left, bottom, right]. Default 0. Max
   * pooling never picks a padded position; average pooling counts them per `countIncludePad`.
   */
  readonly pads?: PadsLike;
}

/** Options of `GraphBuilder.avgPool2d` (PyTorch `nn.AvgPool2d`, floor mode). */
export interface AvgPoolOptions extends MaxPoolOptions {
  /** PyTorch's `count_include_pad`: padded zeros count in the divisor. Default true, as in PyTorch. */
  readonly countIncludePad?: boolean;
}

/**
 * How a resize gets its output size: `{ scale }` multiplies height and width by positive
 * integers (one number for both, or [height, width]); `{ size }` names the output
 * [height, width] (or one number for a square), any positive integers.
 */
export type ResizeOptions = { readonly scale: PairLike } | { readonly size: PairLike };

function pair(v: PairLike): Pair {
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

function pads(v: PadsLike): Pads {
  if (typeof v === 'number') return [v, v, v, v];
  if (v.length === 2) return [v[0], v[1], v[0], v[1]];
  return [v[0], v[1], v[2], v[3]];
}

function isTensor(v: unknown): v is Tensor {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as Tensor).name === 'string' &&
    Array.isArray((v as Tensor).shape)
  );
}

/** A short description of a wrong argument for an error message (`tensor "a"`, `"conv0"`, `42`). */
function describe(v: unknown): string {
  if (isTensor(v)) return `tensor ${quote(v.name)}`;
  if (Array.isArray(v)) return `[${v.map(describe).join(', ')}]`;
  if (typeof v === 'string') return quote(v);
  if (typeof v === 'object' && v !== null) return 'an object';
  return String(v);
}

/**
 * Declares a network layer by layer. Every method takes the new layer's name (an identifier:
 * letters, digits and `_`, unique in the graph) and its input tensors, checks the attributes,
 * infers the NCHW output shape and returns it as a {@link Tensor}; a mistake throws a
 * `GraphError` naming the layer. `build()` returns the finished {@link Graph}.
 *
 * ```ts
 * const g = new GraphBuilder('tiny');
 * const x = g.input('input', [1, 3, 32, 32]);
 * const c = g.conv2d('conv0', x, { outChannels: 8, kernel: 3, stride: 2, pads: 1 });
 * g.output('depth', g.upsample('up', g.relu6('conv0_relu', g.batchNorm('conv0_bn', c)), 'bilinear'));
 * const graph = g.build();
 * ```
 */
export class GraphBuilder {
  private readonly nodes: Node[] = [];
  private readonly shapes = new Map<string, Shape>();

  /**
   * Starts an empty graph.
   * @param name the architecture name stored in the graph (`graph.name`).
   * @param meta free-form provenance (JSON scalars) stored as `graph.meta`.
   */
  constructor(
    readonly name: string,
    private readonly meta: Record<string, string | number | boolean> = {},
  ) {}

  /**
   * Declares a layer of any op with its full attributes: the generic form the typed helpers
   * below all come through (`node('relu', 'r', [x], {})` is `relu('r', x)`).
   */
  node<K extends OpKind>(op: K, name: string, inputs: readonly Tensor[], attrs: OpAttrMap[K]): Tensor {
    // Plain JavaScript callers (and casts) get past the types: check the arguments' kinds so a
    // wrong call names the layer instead of failing later on "[object Object]".
    if (typeof name !== 'string') {
      throw new FastDepthError(
        `graph ${quote(this.name)}: node(op, name, inputs, attrs) needs a layer name as its second argument, found ${describe(name)}`,
      );
    }
    if (!isOpKind(op)) {
      throw new GraphError(name, `unknown op ${describe(op)} (ops: ${OP_KINDS.join(', ')})`);
    }
    if (!Array.isArray(inputs) || !inputs.every(isTensor)) {
      throw new GraphError(
        name,
        `inputs must be a list of tensors declared in this graph, found ${describe(inputs)}`,
      );
    }
    if (!isLayerName(name)) {
      throw new GraphError(
        name,
        `layer names must be identifiers (${LAYER_NAME_RULE}), so every target can use them`,
      );
    }
    if (this.shapes.has(name)) throw new GraphError(name, 'a layer with this name is already declared');
    for (const t of inputs) {
      const known = this.shapes.get(t.name);
      if (!known)
        throw new GraphError(
          name,
          `unknown input ${quote(t.name)} (not declared in graph ${quote(this.name)})`,
        );
    }
    const def = OPS[op] as unknown as OpDef<K>;
    def.checkAttrs(name, attrs);
    const shape = def.inferShape(
      name,
      attrs,
      inputs.map((t) => this.shapes.get(t.name)!),
    );
    checkSizeCaps(
      name,
      op,
      attrs,
      inputs.map((t) => this.shapes.get(t.name)!),
      shape,
    );
    this.nodes.push({ op, name, inputs: inputs.map((t) => t.name), attrs } as unknown as Node);
    this.shapes.set(name, shape);
    return { name, shape };
  }

  /** Declares a graph input of a fixed NCHW shape, e.g. `input('input', [1, 3, 224, 224])`. */
  input(name: string, shape: Shape): Tensor {
    return this.node('input', name, [], { shape: [shape[0], shape[1], shape[2], shape[3]] });
  }

  /**
   * 2-D convolution, PyTorch `nn.Conv2d` (cross-correlation, zero padding). `groups` equal to
   * the input and output channels makes it depthwise. No bias unless `bias: true` (a BatchNorm
   * usually follows). Output: floor((in + pads - dilation * (kernel - 1) - 1) / stride) + 1 per
   * axis; an input height or width the stride does not divide is refused rather than floored.
   */
  conv2d(name: string, x: Tensor, o: Conv2dOptions): Tensor {
    return this.node('conv2d', name, [x], {
      outChannels: o.outChannels,
      kernel: pair(o.kernel),
      stride: pair(o.stride ?? 1),
      pads: pads(o.pads ?? 0),
      dilation: pair(o.dilation ?? 1),
      groups: o.groups ?? 1,
      bias: o.bias ?? false,
    });
  }

  /**
   * Transposed 2-D convolution, PyTorch `nn.ConvTranspose2d` (weights [in, out / groups, kh,
   * kw]); a stride of 2 doubles height and width with the right `pads` and `outputPadding`.
   */
  convTranspose2d(name: string, x: Tensor, o: ConvTranspose2dOptions): Tensor {
    return this.node('convTranspose2d', name, [x], {
      outChannels: o.outChannels,
      kernel: pair(o.kernel),
      stride: pair(o.stride ?? 1),
      pads: pads(o.pads ?? 0),
      outputPadding: pair(o.outputPadding ?? 0),
      groups: o.groups ?? 1,
      bias: o.bias ?? false,
    });
  }

  /**
   * Inference-time BatchNorm over channels, PyTorch `nn.BatchNorm2d` in eval mode: (x - mean) /
   * sqrt(var + epsilon) * gamma + beta with the running statistics as weights.
   */
  batchNorm(name: string, x: Tensor, epsilon = 1e-5): Tensor {
    return this.node('batchNorm', name, [x], { epsilon });
  }

  /** max(x, 0), elementwise. */
  relu(name: string, x: Tensor): Tensor {
    return this.node('relu', name, [x], {});
  }

  /** min(max(x, 0), 6), elementwise (PyTorch `nn.ReLU6`). */
  relu6(name: string, x: Tensor): Tensor {
    return this.node('relu6', name, [x], {});
  }

  /**
   * Element-wise sum of two or more tensors of equal shape: `add('sum', a, b)` or
   * `add('sum', [a, b])`.
   */
  add(name: string, ...xs: readonly (Tensor | readonly Tensor[])[]): Tensor {
    return this.node('add', name, this.tensorList('add', name, xs), {});
  }

  /** Channel concatenation of two or more tensors: `concat('cat', a, b)` or `concat('cat', [a, b])`. */
  concat(name: string, ...xs: readonly (Tensor | readonly Tensor[])[]): Tensor {
    return this.node('concat', name, this.tensorList('concat', name, xs), {});
  }

  /** The tensors of a variadic helper, flattened; a call meant for `node` is named as such. */
  private tensorList(
    helper: 'add' | 'concat',
    name: string,
    xs: readonly (Tensor | readonly Tensor[])[],
  ): Tensor[] {
    if (typeof name !== 'string') {
      throw new FastDepthError(
        `graph ${quote(this.name)}: ${helper}(name, inputs) needs a layer name first, found ${describe(name)}`,
      );
    }
    const flat = (xs as readonly unknown[]).flat();
    const bad = flat.findIndex((x) => !isTensor(x));
    if (bad < 0) return flat as Tensor[];
    // The old generic form `add(op, name, inputs, attrs)` lands here with a layer name as input 0.
    if (isOpKind(name) && bad === 0 && typeof flat[0] === 'string') {
      throw new GraphError(
        flat[0],
        `${helper}(name, inputs) combines tensors; to declare a ${name} layer use node('${name}', '${flat[0]}', inputs, attrs)`,
      );
    }
    throw new GraphError(
      name,
      `${helper}(name, inputs) takes tensors declared in this graph, found ${describe(flat[bad])} as input ${bad}`,
    );
  }

  /**
   * Doubles height and width: x2 only (the scale is fixed at 2). `'nearest'` repeats each
   * pixel (PyTorch `F.interpolate(scale_factor=2, mode='nearest')`); `'bilinear'` is PyTorch's
   * `align_corners=False` (half-pixel centres, clamped at the edge).
   */
  upsample(name: string, x: Tensor, mode: UpsampleMode): Tensor {
    return this.node('upsample', name, [x], { mode, scale: 2 });
  }

  /**
   * Resizes height and width, PyTorch `F.interpolate(x, scale_factor=s | size=(h, w), mode,
   * align_corners=False)`: `'nearest'` reads the source pixel floor(dst * in / out),
   * `'bilinear'` interpolates at half-pixel centres ((dst + 0.5) * in / out - 0.5, clamped to
   * the edge). `resize('up', x, 'bilinear', { scale: 2 })` doubles both sides;
   * `resize('fit', x, 'nearest', { size: [30, 40] })` makes a 30x40 output from any input.
   * Unlike `upsample` (x2 only), the factor may be any positive integer per axis.
   */
  resize(name: string, x: Tensor, mode: UpsampleMode, o: ResizeOptions): Tensor {
    // Plain JavaScript callers get past the union type: check the form here, where the layer is known.
    const form = typeof o === 'object' && o !== null ? o : ({} as ResizeOptions);
    if ('scale' in form && !('size' in form))
      return this.node('resize', name, [x], { mode, scale: pair(form.scale) });
    if ('size' in form && !('scale' in form))
      return this.node('resize', name, [x], { mode, size: pair(form.size) });
    throw new GraphError(
      name,
      `resize(name, x, mode, options) needs options { scale } or { size }, found ${'scale' in form ? 'both' : describe(o)}`,
    );
  }

  /** The authors' `Unpool`, x2 only: input (y, x) lands at output (2y, 2x), every other output is 0. */
  unpool(name: string, x: Tensor): Tensor {
    return this.node('unpool', name, [x], { scale: 2 });
  }

  /**
   * Depth-to-space with block 2, PyTorch `nn.PixelShuffle(2)` (ONNX DepthToSpace, mode CRD):
   * (N, 4C, H, W) -> (N, C, 2H, 2W).
   */
  pixelShuffle(name: string, x: Tensor): Tensor {
    return this.node('pixelShuffle', name, [x], { blockSize: 2 });
  }

  /** Max pooling, PyTorch `nn.MaxPool2d` (floor mode, padding never wins); stride defaults to the kernel. */
  maxPool(name: string, x: Tensor, o: MaxPoolOptions): Tensor {
    return this.node('maxPool', name, [x], {
      kernel: pair(o.kernel),
      stride: pair(o.stride ?? o.kernel),
      pads: pads(o.pads ?? 0),
    });
  }

  /** Logistic sigmoid 1 / (1 + exp(-x)), elementwise. */
  sigmoid(name: string, x: Tensor): Tensor {
    return this.node('sigmoid', name, [x], {});
  }

  /** PyTorch `nn.Hardsigmoid`: relu6(x + 3) / 6, elementwise (MobileNetV3's gate). */
  hardSigmoid(name: string, x: Tensor): Tensor {
    return this.node('hardSigmoid', name, [x], {});
  }

  /** PyTorch `nn.Hardswish`: x * relu6(x + 3) / 6, elementwise (MobileNetV3's activation). */
  hardSwish(name: string, x: Tensor): Tensor {
    return this.node('hardSwish', name, [x], {});
  }

  /** Clamps every value to [min, max] (PyTorch `clamp`, ONNX `Clip`); relu6 is clip(0, 6). */
  clip(name: string, x: Tensor, min: number, max: number): Tensor {
    return this.node('clip', name, [x], { min, max });
  }

  /**
   * Elementwise product of `x` and `s`, where `s` has `x`'s shape or is per channel
   * (N, C, 1, 1), broadcast over H and W: the rescaling step of squeeze-excite.
   */
  mul(name: string, x: Tensor, s: Tensor): Tensor {
    return this.node('mul', name, [x, s], {});
  }

  /**
   * Average pooling (PyTorch `nn.AvgPool2d`): stride defaults to the kernel, padding to 0,
   * `countIncludePad` to true.
   */
  avgPool2d(name: string, x: Tensor, o: AvgPoolOptions): Tensor {
    return this.node('avgPool2d', name, [x], {
      kernel: pair(o.kernel),
      stride: pair(o.stride ?? o.kernel),
      pads: pads(o.pads ?? 0),
      countIncludePad: o.countIncludePad ?? true,
    });
  }

  /** Mean over height and width, (N, C, H, W) -> (N, C, 1, 1) (`nn.AdaptiveAvgPool2d(1)`). */
  globalAvgPool(name: string, x: Tensor): Tensor {
    return this.node('globalAvgPool', name, [x], {});
  }

  /** Marks `x` as a graph output under `name` (the output's name in every target). */
  output(name: string, x: Tensor): Tensor {
    return this.node('output', name, [x], {});
  }

  /** The finished graph. Requires at least one input and one output node. */
  build(): Graph {
    if (!this.nodes.some((n) => n.op === 'input'))
      throw new GraphError(this.name, 'graph has no input layer');
    if (!this.nodes.some((n) => n.op === 'output'))
      throw new GraphError(this.name, 'graph has no output layer');
    const graph: Graph = {
      format: GRAPH_FORMAT,
      version: GRAPH_FORMAT_VERSION,
      name: this.name,
      nodes: [...this.nodes],
    };
    return Object.keys(this.meta).length > 0 ? { ...graph, meta: { ...this.meta } } : graph;
  }
}
