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
  readonly stride?: PairLike;
  readonly pads?: PadsLike;
}

function pair(v: PairLike): Pair {
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

function pads(v: PadsLike): Pads {
  if (typeof v === 'number') return [v, v, v, v];
  if (v.length === 2) return [v[0], v[1], v[0], v[1]];
  return [v[0], v[1], v[2], v[3]];
}

const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

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
  if (isTensor(v)) return `tensor "${v.name}"`;
  if (Array.isArray(v)) return `[${v.map(describe).join(', ')}]`;
  if (typeof v === 'string') return `"${v}"`;
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
        `graph "${this.name}": node(op, name, inputs, attrs) needs a layer name as its second argument, found ${describe(name)}`,
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
    if (!NAME_PATTERN.test(name)) {
      throw new GraphError(
        name,
        'layer names must be identifiers (letters, digits, _; no dots), so every target can use them',
      );
    }
    if (this.shapes.has(name)) throw new GraphError(name, 'a layer with this name is already declared');
    for (const t of inputs) {
      const known = this.shapes.get(t.name);
      if (!known)
        throw new GraphError(name, `unknown input "${t.name}" (not declared in graph "${this.name}")`);
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
        `graph "${this.name}": ${helper}(name, inputs) needs a layer name first, found ${describe(name)}`,
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
