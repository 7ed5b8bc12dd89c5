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

export interface Conv2dOptions {
  readonly outChannels: number;
  readonly kernel: PairLike;
  readonly stride?: PairLike;
  readonly pads?: PadsLike;
  readonly dilation?: PairLike;
  /** Number of groups; `groups = in = out` is a depthwise convolution. Default 1. */
  readonly groups?: number;
  /** Default false: every FastDepth conv is followed by BatchNorm. */
  readonly bias?: boolean;
}

export interface ConvTranspose2dOptions {
  readonly outChannels: number;
  readonly kernel: PairLike;
  readonly stride?: PairLike;
  readonly pads?: PadsLike;
  readonly outputPadding?: PairLike;
  readonly groups?: number;
  readonly bias?: boolean;
}

export interface MaxPoolOptions {
  readonly kernel: PairLike;
  /** Default: the kernel (non-overlapping windows), as in PyTorch. */
  readonly stride?: PairLike;
  readonly pads?: PadsLike;
}

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

export class GraphBuilder {
  private readonly nodes: Node[] = [];
  private readonly shapes = new Map<string, Shape>();

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

  input(name: string, shape: Shape): Tensor {
    return this.node('input', name, [], { shape: [shape[0], shape[1], shape[2], shape[3]] });
  }

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

  batchNorm(name: string, x: Tensor, epsilon = 1e-5): Tensor {
    return this.node('batchNorm', name, [x], { epsilon });
  }

  relu(name: string, x: Tensor): Tensor {
    return this.node('relu', name, [x], {});
  }

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

  unpool(name: string, x: Tensor): Tensor {
    return this.node('unpool', name, [x], { scale: 2 });
  }

  pixelShuffle(name: string, x: Tensor): Tensor {
    return this.node('pixelShuffle', name, [x], { blockSize: 2 });
  }

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
