/**
 * Graph DSL -> TVM Relay text (v0.19, `#[version = "0.0.5"]`).
 *
 * Relay's parser fills every omitted attribute with its C++ default, and some of those
 * defaults are not what the DSL means (conv2d_transpose's kernel layout changed between
 * releases, max_pool2d's layout, resize2d's rounding), so every attribute is written out.
 * Weights are typed parameters of `@main`, bound by `relay.build(..., params=...)`.
 *
 * Each binding line ends in a comment naming its DSL layer; the last binding of a layer also
 * carries its type. The parser ignores comments; people and our test reader use them.
 */
import {
  assertNever,
  commentText,
  foldBatchNorm,
  GraphError,
  inferShapes,
  paramSpecs,
  quote,
  validateGraph,
  type Model,
  type Node,
  type NodeOf,
  type OpKind,
  type Shape,
  type TensorF32,
} from '@fastdepth/graph-dsl';
import { checkRelayName, relayParamName } from './names.js';

/** The text format version TVM v0.19's parser expects as the first line. */
export const RELAY_VERSION_HEADER = '#[version = "0.0.5"]';

/** Options of `emitRelay` and `relayParams`. */
export interface RelayOptions {
  /** Fold every conv-followed BatchNorm into the conv (`nn.bias_add`); default false (`nn.batch_norm`). */
  readonly foldBatchNorm?: boolean;
}

/** `Tensor[(1, 3, 224, 224), float32]` */
export function relayTensorType(shape: readonly number[]): string {
  return `Tensor[(${shape.join(', ')}), float32]`;
}

/**
 * A float attribute literal: always with the `f` suffix, since a bare `6` is an integer token
 * and lands in a double field only by accident of conversion.
 */
export function relayFloat(value: number): string {
  if (!Number.isFinite(value)) throw new Error(`Relay float literal must be finite, found ${value}`);
  return `${String(value)}f`;
}

function ints(values: readonly number[]): string {
  return `[${values.join(', ')}]`;
}

/** The model Relay is emitted from: BN folded when asked. */
function prepare(model: Model, options: RelayOptions): Model {
  // Layer names become Relay variables and comments: they must be identifiers (validateGraph).
  validateGraph(model.graph);
  return options.foldBatchNorm ? foldBatchNorm(model) : model;
}

interface Ctx {
  readonly shapes: ReadonlyMap<string, Shape>;
  /** Relay reference of each layer's value. */
  readonly values: Map<string, string>;
  readonly lines: string[];
  counter: number;
  outputs: { ref: string; layer: string; shape: Shape }[];
}

function ref(ctx: Ctx, layer: string, input: string): string {
  const r = ctx.values.get(input);
  if (r === undefined)
    throw new GraphError(layer, `input ${quote(input)} has no value (graph not in topological order?)`);
  return r;
}

/** Appends `%N = expr;` for `layer`; the layer's final binding is marked with its shape. */
function bind(ctx: Ctx, layer: string, expr: string, shape?: Shape): string {
  const name = `%${ctx.counter++}`;
  const note = shape ? `${layer} ty=${relayTensorType(shape)}` : layer;
  ctx.lines.push(`  ${name} = ${expr}; /* ${commentText(note)} */`);
  return name;
}

function weight(node: Node, suffix: string): string {
  return `%${relayParamName(`${node.name}.${suffix}`)}`;
}

/** PyTorch's hard sigmoid relu6(x + 3) / 6 in three bindings. */
function hardSigmoid(ctx: Ctx, layer: string, x: string, out?: Shape): string {
  const shifted = bind(ctx, layer, `add(${x}, 3f)`);
  const clipped = bind(ctx, layer, `clip(${shifted}, a_min=0f, a_max=6f)`);
  return bind(ctx, layer, `divide(${clipped}, 6f)`, out);
}

type Emitter<K extends OpKind> = (ctx: Ctx, node: NodeOf<K>, x: readonly string[], out: Shape) => string;
type EmitterTable = { readonly [K in OpKind]: Emitter<K> };

const EMIT: EmitterTable = {
  input: (_ctx, node) => `%${node.name}`,

  conv2d: (ctx, node, [x], out) => {
    const a = node.attrs;
    const expr =
      `nn.conv2d(${x!}, ${weight(node, 'weight')}, strides=${ints(a.stride)}, padding=${ints(a.pads)}, ` +
      `dilation=${ints(a.dilation)}, groups=${a.groups}, channels=${a.outChannels}, kernel_size=${ints(a.kernel)}, ` +
      `data_layout="NCHW", kernel_layout="OIHW", out_layout="", out_dtype="")`;
    if (!a.bias) return bind(ctx, node.name, expr, out);
    const conv = bind(ctx, node.name, expr);
    return bind(ctx, node.name, `nn.bias_add(${conv}, ${weight(node, 'bias')}, axis=1)`, out);
  },

  // Weight layout (in, out/groups, kh, kw) is PyTorch's and Relay's IOHW; said explicitly
  // because older releases defaulted conv2d_transpose to OIHW.
  convTranspose2d: (ctx, node, [x], out) => {
    const a = node.attrs;
    const expr =
      `nn.conv2d_transpose(${x!}, ${weight(node, 'weight')}, channels=${a.outChannels}, kernel_size=${ints(a.kernel)}, ` +
      `strides=${ints(a.stride)}, padding=${ints(a.pads)}, output_padding=${ints(a.outputPadding)}, dilation=[1, 1], ` +
      `groups=${a.groups}, data_layout="NCHW", kernel_layout="IOHW", out_layout="", out_dtype="")`;
    if (!a.bias) return bind(ctx, node.name, expr, out);
    const conv = bind(ctx, node.name, expr);
    return bind(ctx, node.name, `nn.bias_add(${conv}, ${weight(node, 'bias')}, axis=1)`, out);
  },

  batchNorm: (ctx, node, [x], out) => {
    const w = (s: string): string => weight(node, s);
    const tuple = bind(
      ctx,
      node.name,
      `nn.batch_norm(${x!}, ${w('weight')}, ${w('bias')}, ${w('running_mean')}, ${w('running_var')}, axis=1, ` +
        `epsilon=${relayFloat(node.attrs.epsilon)}, center=True, scale=True)`,
    );
    return bind(ctx, node.name, `${tuple}.0`, out);
  },

  relu: (ctx, node, [x], out) => bind(ctx, node.name, `nn.relu(${x!})`, out),
  relu6: (ctx, node, [x], out) => bind(ctx, node.name, `clip(${x!}, a_min=0f, a_max=6f)`, out),

  add: (ctx, node, xs, out) => {
    let acc = xs[0]!;
    for (let i = 1; i < xs.length; i++) {
      acc = bind(ctx, node.name, `add(${acc}, ${xs[i]!})`, i === xs.length - 1 ? out : undefined);
    }
    return acc;
  },

  concat: (ctx, node, xs, out) => bind(ctx, node.name, `concatenate((${xs.join(', ')}), axis=1)`, out),

  upsample: (ctx, node, [x], out) => {
    switch (node.attrs.mode) {
      // asymmetric coordinates with floor rounding = PyTorch nearest.
      case 'nearest':
        return bind(
          ctx,
          node.name,
          `nn.upsampling(${x!}, scale_h=${relayFloat(node.attrs.scale)}, scale_w=${relayFloat(node.attrs.scale)}, ` +
            `layout="NCHW", method="nearest_neighbor", align_corners=False)`,
          out,
        );
      // half_pixel with edge clamping = PyTorch bilinear, align_corners=False.
      case 'bilinear':
        return bind(
          ctx,
          node.name,
          `image.resize2d(${x!}, size=${ints([out[2], out[3]])}, roi=[0f, 0f, 0f, 0f], layout="NCHW", method="linear", ` +
            `coordinate_transformation_mode="half_pixel", rounding_method="", cubic_alpha=-0.5f, cubic_exclude=0, ` +
            `extrapolation_value=0f, out_dtype="")`,
          out,
        );
      default:
        return assertNever(node.attrs.mode);
    }
  },

  // Any integer scale or size through image.resize2d at the static output size. Nearest:
  // asymmetric + floor reads floor(dst * fround(in / out)) in float32 (topi's get_inx), PyTorch's
  // own arithmetic; bilinear: half_pixel with edge clamping, align_corners=False.
  resize: (ctx, node, [x], out) => {
    const nearest = node.attrs.mode === 'nearest';
    return bind(
      ctx,
      node.name,
      `image.resize2d(${x!}, size=${ints([out[2], out[3]])}, roi=[0f, 0f, 0f, 0f], layout="NCHW", ` +
        `method="${nearest ? 'nearest_neighbor' : 'linear'}", coordinate_transformation_mode="${nearest ? 'asymmetric' : 'half_pixel'}", ` +
        `rounding_method="${nearest ? 'floor' : ''}", cubic_alpha=-0.5f, cubic_exclude=0, extrapolation_value=0f, out_dtype="")`,
      out,
    );
  },

  // Zero insertion without a scatter: give every value a trailing 1x1 cell, pad that cell to
  // 2x2 with zeros (value stays top-left), and flatten the cells back into rows and columns.
  unpool: (ctx, node, [x], out) => {
    const [n, c, h, w] = ctx.shapes.get(node.inputs[0]!)!;
    const s = node.attrs.scale;
    const cells = bind(
      ctx,
      node.name,
      `reshape(${x!}, newshape=${ints([n, c, h, 1, w, 1])}, allowzero=False)`,
    );
    const padded = bind(
      ctx,
      node.name,
      `nn.pad(${cells}, 0f, pad_width=[[0, 0], [0, 0], [0, 0], [0, ${s - 1}], [0, 0], [0, ${s - 1}]], pad_mode="constant")`,
    );
    return bind(ctx, node.name, `reshape(${padded}, newshape=${ints(out)}, allowzero=False)`, out);
  },

  pixelShuffle: (ctx, node, [x], out) =>
    bind(
      ctx,
      node.name,
      `nn.depth_to_space(${x!}, block_size=${node.attrs.blockSize}, layout="NCHW", mode="CRD")`,
      out,
    ),

  maxPool: (ctx, node, [x], out) => {
    const a = node.attrs;
    return bind(
      ctx,
      node.name,
      `nn.max_pool2d(${x!}, pool_size=${ints(a.kernel)}, strides=${ints(a.stride)}, dilation=[1, 1], ` +
        `padding=${ints(a.pads)}, layout="NCHW", out_layout="", ceil_mode=False)`,
      out,
    );
  },

  sigmoid: (ctx, node, [x], out) => bind(ctx, node.name, `sigmoid(${x!})`, out),
  hardSigmoid: (ctx, node, [x], out) => hardSigmoid(ctx, node.name, x!, out),
  hardSwish: (ctx, node, [x], out) =>
    bind(ctx, node.name, `multiply(${x!}, ${hardSigmoid(ctx, node.name, x!)})`, out),
  clip: (ctx, node, [x], out) =>
    bind(
      ctx,
      node.name,
      `clip(${x!}, a_min=${relayFloat(node.attrs.min)}, a_max=${relayFloat(node.attrs.max)})`,
      out,
    ),
  // Relay broadcasts like numpy: a (N, C, 1, 1) scale spreads over H and W.
  mul: (ctx, node, [x, s], out) => bind(ctx, node.name, `multiply(${x!}, ${s!})`, out),

  avgPool2d: (ctx, node, [x], out) => {
    const a = node.attrs;
    return bind(
      ctx,
      node.name,
      `nn.avg_pool2d(${x!}, pool_size=${ints(a.kernel)}, strides=${ints(a.stride)}, dilation=[1, 1], ` +
        `padding=${ints(a.pads)}, layout="NCHW", out_layout="", ceil_mode=False, ` +
        `count_include_pad=${a.countIncludePad ? 'True' : 'False'})`,
      out,
    );
  },

  globalAvgPool: (ctx, node, [x], out) =>
    bind(ctx, node.name, `nn.global_avg_pool2d(${x!}, layout="NCHW", out_layout="")`, out),

  output: (ctx, node, [x], out) => {
    ctx.outputs.push({ ref: x!, layer: node.name, shape: out });
    return x!;
  },
};

function emitNode(ctx: Ctx, node: Node): string {
  const x = node.inputs.map((i) => ref(ctx, node.name, i));
  const out = ctx.shapes.get(node.name)!;
  return (EMIT[node.op] as Emitter<OpKind>)(ctx, node, x, out);
}

/**
 * The weights of `model` under their Relay parameter names, in `@main`'s parameter order:
 * exactly what `relay.build(..., params=...)` binds. Apply the same options as `emitRelay`.
 */
export function relayParams(model: Model, options: RelayOptions = {}): Map<string, TensorF32> {
  const m = prepare(model, options);
  const out = new Map<string, TensorF32>();
  for (const spec of paramSpecs(m.graph)) {
    const t = m.weights.get(spec.name);
    if (!t) throw new GraphError(spec.layer, `weight ${quote(spec.name)} is missing`);
    out.set(relayParamName(spec.name), t);
  }
  return out;
}

/**
 * Relay text of `model.graph` for TVM v0.19: one function `@main` whose parameters are the
 * graph inputs (named after their layers) and every weight (`conv0.weight` -> `%conv0_weight`),
 * all typed, with the return type written out.
 */
export function emitRelay(model: Model, options: RelayOptions = {}): string {
  const { graph } = prepare(model, options);
  const shapes = inferShapes(graph);
  const ctx: Ctx = { shapes, values: new Map(), lines: [], counter: 0, outputs: [] };

  const params: string[] = [];
  const taken = new Map<string, string>();
  const declare = (layer: string, name: string, shape: readonly number[]): void => {
    checkRelayName(layer, name);
    const clash = taken.get(name);
    if (clash !== undefined) {
      throw new GraphError(layer, `Relay parameter %${name} would also name ${clash}; rename one of them`);
    }
    taken.set(name, layer);
    params.push(`%${name}: ${relayTensorType(shape)}`);
  };
  for (const node of graph.nodes) if (node.op === 'input') declare(node.name, node.name, node.attrs.shape);
  for (const spec of paramSpecs(graph, shapes)) declare(spec.layer, relayParamName(spec.name), spec.shape);

  for (const node of graph.nodes) ctx.values.set(node.name, emitNode(ctx, node));

  const outs = ctx.outputs;
  if (outs.length === 0) throw new GraphError(graph.name, 'graph has no output layer');
  const single = outs.length === 1 ? outs[0] : undefined;
  const retType = single
    ? relayTensorType(single.shape)
    : `(${outs.map((o) => relayTensorType(o.shape)).join(', ')})`;
  const result = single ? single.ref : `(${outs.map((o) => o.ref).join(', ')})`;
  const resultNote = outs.map((o) => `${o.layer} ty=${relayTensorType(o.shape)}`).join(', ');

  return [
    RELAY_VERSION_HEADER,
    // The graph name is data: nothing in it may end this comment line.
    `// ${commentText(graph.name)}: generated by @fastdepth/codegen-tvm for TVM v0.19 (Relay). Do not edit; regenerate.`,
    `def @main(${params.join(', ')}) -> ${retType} {`,
    ...ctx.lines,
    `  ${result} /* ${commentText(resultNote)} */`,
    '}',
    '',
  ].join('\n');
}
