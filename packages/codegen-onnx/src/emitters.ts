/**
 * One ONNX emitter per DSL op. The table is keyed by `OpKind`, so a new op in the DSL is a type
 * error here until it gets its ONNX lowering. Each emitter writes nodes whose last output is
 * `ctx.value(node.name)`; helper nodes and tensors are named `${layer}/...` (a character DSL
 * names cannot contain, so they never collide) and constant initializers `${layer}.what`, like
 * the weights.
 */
import { nearestSourceIndex, type NodeOf, type OpKind, type Shape } from '@fastdepth/graph-dsl';
import type { onnx } from 'onnx-proto';
import { attrFloat, attrInt, attrInts, attrString, floatTensor, int64Tensor } from './proto.js';

/** What an emitter may do: look up values and shapes, add nodes and initializers. */
export interface EmitContext {
  readonly opset: number;
  /** ONNX value name carrying a DSL layer's output. */
  value(layer: string): string;
  /** Static NCHW shape of a DSL layer's output. */
  shape(layer: string): Shape;
  /** Adds the weight tensor `${layer}.${suffix}` as an initializer; returns its name. */
  weight(layer: string, suffix: string): string;
  /** Adds a constant initializer; returns its name. */
  constant(tensor: onnx.TensorProto): string;
  /** Appends a node (nodes must be added in topological order). */
  node(
    opType: string,
    name: string,
    inputs: readonly string[],
    outputs: readonly string[],
    attrs?: readonly onnx.AttributeProto[],
  ): void;
}

type Emitter<K extends OpKind> = (node: NodeOf<K>, ctx: EmitContext) => void;

/** Every DSL op's lowering to ONNX. */
export type EmitterTable = { readonly [K in OpKind]: Emitter<K> };

function only(node: { readonly name: string; readonly inputs: readonly string[] }): string {
  return node.inputs[0]!;
}

/** Whether PyTorch's float32 nearest indices (`nearestSourceIndex`) differ from floor(dst * in / out). */
function floatNearestMatters(inSize: number, outSize: number): boolean {
  for (let d = 0; d < outSize; d++)
    if (nearestSourceIndex(d, inSize, outSize) !== Math.floor((d * inSize) / outSize)) return true;
  return false;
}

/** Static shape of the zero-inserted tensor: (N, C, H, 1, W, 1) padded to (N, C, H, 2, W, 2). */
const UNPOOL_UNSQUEEZE_AXES = [3, 5];
const UNPOOL_PADS_RANK6 = [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1];

export const EMITTERS: EmitterTable = {
  // Graph inputs are declared on the graph, not as nodes.
  input: () => undefined,

  conv2d: (node, ctx) => {
    const a = node.attrs;
    const inputs = [ctx.value(only(node)), ctx.weight(node.name, 'weight')];
    if (a.bias) inputs.push(ctx.weight(node.name, 'bias'));
    ctx.node(
      'Conv',
      node.name,
      inputs,
      [ctx.value(node.name)],
      [
        attrInts('kernel_shape', a.kernel),
        attrInts('strides', a.stride),
        // DSL pads are [top, left, bottom, right] = ONNX [x1_begin, x2_begin, x1_end, x2_end].
        attrInts('pads', a.pads),
        attrInts('dilations', a.dilation),
        attrInt('group', a.groups),
      ],
    );
  },

  convTranspose2d: (node, ctx) => {
    const a = node.attrs;
    // The DSL weight layout (in, out/groups, kh, kw) is ONNX's ConvTranspose layout too.
    const inputs = [ctx.value(only(node)), ctx.weight(node.name, 'weight')];
    if (a.bias) inputs.push(ctx.weight(node.name, 'bias'));
    ctx.node(
      'ConvTranspose',
      node.name,
      inputs,
      [ctx.value(node.name)],
      [
        attrInts('kernel_shape', a.kernel),
        attrInts('strides', a.stride),
        attrInts('pads', a.pads),
        attrInts('output_padding', a.outputPadding),
        attrInts('dilations', [1, 1]),
        attrInt('group', a.groups),
      ],
    );
  },

  batchNorm: (node, ctx) => {
    const inputs = [
      ctx.value(only(node)),
      ctx.weight(node.name, 'weight'),
      ctx.weight(node.name, 'bias'),
      ctx.weight(node.name, 'running_mean'),
      ctx.weight(node.name, 'running_var'),
    ];
    ctx.node(
      'BatchNormalization',
      node.name,
      inputs,
      [ctx.value(node.name)],
      [attrFloat('epsilon', node.attrs.epsilon)],
    );
  },

  relu: (node, ctx) => {
    ctx.node('Relu', node.name, [ctx.value(only(node))], [ctx.value(node.name)]);
  },

  // Clip takes min/max as inputs since opset 11 (attributes before); scalars, not [1] tensors.
  relu6: (node, ctx) => {
    const min = ctx.constant(floatTensor(`${node.name}.min`, [], Float32Array.of(0)));
    const max = ctx.constant(floatTensor(`${node.name}.max`, [], Float32Array.of(6)));
    ctx.node('Clip', node.name, [ctx.value(only(node)), min, max], [ctx.value(node.name)]);
  },

  // Add is binary; Sum is ONNX's variadic elementwise sum.
  add: (node, ctx) => {
    const inputs = node.inputs.map((i) => ctx.value(i));
    ctx.node(inputs.length === 2 ? 'Add' : 'Sum', node.name, inputs, [ctx.value(node.name)]);
  },

  concat: (node, ctx) => {
    ctx.node(
      'Concat',
      node.name,
      node.inputs.map((i) => ctx.value(i)),
      [ctx.value(node.name)],
      [attrInt('axis', 1)],
    );
  },

  upsample: (node, ctx) => {
    const s = node.attrs.scale;
    const scales = ctx.constant(floatTensor(`${node.name}.scales`, [4], Float32Array.of(1, 1, s, s)));
    // PyTorch nearest reads input floor(y / 2): asymmetric coordinates + floor rounding
    // (ONNX's defaults, half_pixel + round_prefer_floor, shift the image by half a pixel).
    // Bilinear align_corners=False is (pytorch_)half_pixel; they differ only for 1-pixel outputs.
    const attrs =
      node.attrs.mode === 'nearest'
        ? [
            attrString('mode', 'nearest'),
            attrString('coordinate_transformation_mode', 'asymmetric'),
            attrString('nearest_mode', 'floor'),
          ]
        : [attrString('mode', 'linear'), attrString('coordinate_transformation_mode', 'pytorch_half_pixel')];
    // roi is only read by tf_crop_and_resize; '' omits the optional input.
    ctx.node('Resize', node.name, [ctx.value(only(node)), '', scales], [ctx.value(node.name)], attrs);
  },

  // Resize with scales [1, 1, sh, sw] or sizes [N, C, H', W'] (the forms PyTorch exports).
  // Nearest: asymmetric + floor reads floor(dst * in / out), PyTorch's nearest; bilinear
  // align_corners=False is half_pixel (pytorch_half_pixel would read 0 for a 1-pixel output,
  // where PyTorch reads in / 2 - 0.5). Linear Resize clamps the source to the edge, as PyTorch.
  resize: (node, ctx) => {
    const a = node.attrs;
    const [n, c, h, w] = ctx.shape(only(node));
    const [, , oh, ow] = ctx.shape(node.name);
    if (a.mode === 'nearest' && (floatNearestMatters(h, oh) || floatNearestMatters(w, ow))) {
      // PyTorch's float32 indices differ from exact division here, and runtimes compute
      // Resize's in their own float arithmetic: gather PyTorch's rows and columns instead.
      const index = (inSize: number, outSize: number): number[] =>
        Array.from({ length: outSize }, (_, d) => nearestSourceIndex(d, inSize, outSize));
      const rows = ctx.constant(int64Tensor(`${node.name}.rows`, [oh], index(h, oh)));
      const cols = ctx.constant(int64Tensor(`${node.name}.cols`, [ow], index(w, ow)));
      const gathered = `${node.name}/rows`;
      ctx.node(
        'Gather',
        `${node.name}/gather_rows`,
        [ctx.value(only(node)), rows],
        [gathered],
        [attrInt('axis', 2)],
      );
      ctx.node('Gather', node.name, [gathered, cols], [ctx.value(node.name)], [attrInt('axis', 3)]);
      return;
    }
    const attrs =
      a.mode === 'nearest'
        ? [
            attrString('mode', 'nearest'),
            attrString('coordinate_transformation_mode', 'asymmetric'),
            attrString('nearest_mode', 'floor'),
          ]
        : [attrString('mode', 'linear'), attrString('coordinate_transformation_mode', 'half_pixel')];
    const inputs =
      'scale' in a
        ? [
            '',
            ctx.constant(
              floatTensor(`${node.name}.scales`, [4], Float32Array.of(1, 1, a.scale[0], a.scale[1])),
            ),
          ]
        : ['', '', ctx.constant(int64Tensor(`${node.name}.sizes`, [4], [n, c, a.size[0], a.size[1]]))];
    ctx.node('Resize', node.name, [ctx.value(only(node)), ...inputs], [ctx.value(node.name)], attrs);
  },

  // Zero insertion as (N,C,H,W) -> Unsqueeze (N,C,H,1,W,1) -> Pad after (N,C,H,2,W,2) ->
  // Reshape (N,C,2H,2W): exact and made of ops every ONNX runtime has. At opset 13 the axes,
  // pads and shape are tensor inputs, not attributes.
  unpool: (node, ctx) => {
    const [n, c, h, w] = ctx.shape(only(node));
    const s = node.attrs.scale;
    const axes = ctx.constant(int64Tensor(`${node.name}.axes`, [2], UNPOOL_UNSQUEEZE_AXES));
    const pads = ctx.constant(
      int64Tensor(
        `${node.name}.pads`,
        [12],
        UNPOOL_PADS_RANK6.map((p) => p * (s - 1)),
      ),
    );
    const shape = ctx.constant(int64Tensor(`${node.name}.shape`, [4], [n, c, h * s, w * s]));
    const unsqueezed = `${node.name}/unsqueezed`;
    const padded = `${node.name}/padded`;
    ctx.node('Unsqueeze', `${node.name}/unsqueeze`, [ctx.value(only(node)), axes], [unsqueezed]);
    ctx.node('Pad', `${node.name}/pad`, [unsqueezed, pads], [padded], [attrString('mode', 'constant')]);
    ctx.node('Reshape', node.name, [padded, shape], [ctx.value(node.name)]);
  },

  // PyTorch PixelShuffle order is DepthToSpace CRD; the default DCR is TensorFlow's order.
  pixelShuffle: (node, ctx) => {
    ctx.node(
      'DepthToSpace',
      node.name,
      [ctx.value(only(node))],
      [ctx.value(node.name)],
      [attrInt('blocksize', node.attrs.blockSize), attrString('mode', 'CRD')],
    );
  },

  maxPool: (node, ctx) => {
    const a = node.attrs;
    ctx.node(
      'MaxPool',
      node.name,
      [ctx.value(only(node))],
      [ctx.value(node.name)],
      [attrInts('kernel_shape', a.kernel), attrInts('strides', a.stride), attrInts('pads', a.pads)],
    );
  },

  sigmoid: (node, ctx) => {
    ctx.node('Sigmoid', node.name, [ctx.value(only(node))], [ctx.value(node.name)]);
  },

  // ONNX HardSigmoid is max(0, min(1, alpha x + beta)); PyTorch's relu6(x + 3) / 6 is alpha 1/6,
  // beta 0.5 (what torch.onnx writes). The attribute is float32: 1/6 rounds as PyTorch's does.
  hardSigmoid: (node, ctx) => {
    ctx.node(
      'HardSigmoid',
      node.name,
      [ctx.value(only(node))],
      [ctx.value(node.name)],
      [attrFloat('alpha', 1 / 6), attrFloat('beta', 0.5)],
    );
  },

  // HardSwish is an op from opset 14; before, x * HardSigmoid(x).
  hardSwish: (node, ctx) => {
    const x = ctx.value(only(node));
    if (ctx.opset >= 14) {
      ctx.node('HardSwish', node.name, [x], [ctx.value(node.name)]);
      return;
    }
    const gate = `${node.name}/gate`;
    ctx.node(
      'HardSigmoid',
      `${node.name}/hardsigmoid`,
      [x],
      [gate],
      [attrFloat('alpha', 1 / 6), attrFloat('beta', 0.5)],
    );
    ctx.node('Mul', node.name, [x, gate], [ctx.value(node.name)]);
  },

  clip: (node, ctx) => {
    const min = ctx.constant(floatTensor(`${node.name}.min`, [], Float32Array.of(node.attrs.min)));
    const max = ctx.constant(floatTensor(`${node.name}.max`, [], Float32Array.of(node.attrs.max)));
    ctx.node('Clip', node.name, [ctx.value(only(node)), min, max], [ctx.value(node.name)]);
  },

  // Numpy broadcasting takes the (N, C, 1, 1) scale over H and W as it is.
  mul: (node, ctx) => {
    ctx.node(
      'Mul',
      node.name,
      [ctx.value(node.inputs[0]!), ctx.value(node.inputs[1]!)],
      [ctx.value(node.name)],
    );
  },

  // count_include_pad defaults to 0 in ONNX and to true in PyTorch: always written.
  avgPool2d: (node, ctx) => {
    const a = node.attrs;
    ctx.node(
      'AveragePool',
      node.name,
      [ctx.value(only(node))],
      [ctx.value(node.name)],
      [
        attrInts('kernel_shape', a.kernel),
        attrInts('strides', a.stride),
        attrInts('pads', a.pads),
        attrInt('count_include_pad', a.countIncludePad ? 1 : 0),
      ],
    );
  },

  globalAvgPool: (node, ctx) => {
    ctx.node('GlobalAveragePool', node.name, [ctx.value(only(node))], [ctx.value(node.name)]);
  },

  // Usually the producer writes the output value directly; Identity only when it cannot
  // (the output reads a graph input, or a tensor other layers read too).
  output: (node, ctx) => {
    const source = ctx.value(only(node));
    const target = ctx.value(node.name);
    if (source !== target) ctx.node('Identity', node.name, [source], [target]);
  },
};
