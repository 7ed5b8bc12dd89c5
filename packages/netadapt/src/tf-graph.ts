/**
 * A differentiable tfjs interpreter of the graph DSL, for fine-tuning. NHWC inside; weights
 * become `tf.Variable`s in tfjs layouts (conv HWIO, depthwise HWC1) and convert back to the
 * DSL's PyTorch layouts with `toWeights`. BatchNorm runs in inference mode: the running mean
 * and variance stay frozen (short fine-tunes on small batches would only make them noisy) and
 * only gamma and beta train.
 */
import {
  assertNever,
  FastDepthError,
  inferShapes,
  nearestSourceIndex,
  resizeOutSize,
  type Model,
  type Node,
  type NodeOf,
  type Shape,
  type TensorF32,
} from '@fastdepth/graph-dsl';
import { tf } from './tf-backend.js';

type Layout = 'conv' | 'depthwise' | 'transposed' | 'transposedDepthwise' | 'vector';

interface Param {
  readonly name: string;
  readonly layout: Layout;
  readonly shape: readonly number[];
  readonly value: tf.Variable | tf.Tensor;
}

/**
 * Row weights of bilinear interpolation, align_corners=False (the reference executor's
 * half-pixel source, clamped to the edge): an (out x in) matrix, each row summing to 1.
 */
function interpolationMatrix(inSize: number, outSize: number): tf.Tensor2D {
  const m = new Float32Array(outSize * inSize);
  for (let o = 0; o < outSize; o++) {
    const s = Math.max(0, ((o + 0.5) * inSize) / outSize - 0.5);
    const i0 = Math.min(Math.floor(s), inSize - 1);
    const i1 = Math.min(i0 + 1, inSize - 1);
    m[o * inSize + i0]! += 1 - (s - i0);
    m[o * inSize + i1]! += s - i0;
  }
  return tf.tensor2d(m, [outSize, inSize]);
}

/**
 * Bilinear resize of an NHWC tensor as two matrix products (rows, then columns). Not
 * tf.image.resizeBilinear: its gradient comes back with height and width swapped when the
 * input is not square (tfjs-core 4.x), which training through a resize would hit.
 */
function bilinearByMatMul(x: tf.Tensor4D, oh: number, ow: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    const rows = tf.matMul(
      interpolationMatrix(h, oh),
      tf.reshape(tf.transpose(x, [1, 0, 2, 3]), [h, n * w * c]),
    );
    const byRows = tf.reshape(rows, [oh, n, w, c]);
    const cols = tf.matMul(
      interpolationMatrix(w, ow),
      tf.reshape(tf.transpose(byRows, [2, 0, 1, 3]), [w, oh * n * c]),
    );
    return tf.transpose(tf.reshape(cols, [ow, oh, n, c]), [2, 1, 0, 3]);
  });
}

/** OIHW -> HWIO, (C,1,kh,kw) -> (kh,kw,C,1), IOHW -> (kh,kw,O,I) for conv2dTranspose. */
const TO_TF: Record<Exclude<Layout, 'vector' | 'transposedDepthwise'>, readonly number[]> = {
  conv: [2, 3, 1, 0],
  depthwise: [2, 3, 0, 1],
  transposed: [2, 3, 1, 0],
};
const FROM_TF: Record<Exclude<Layout, 'vector' | 'transposedDepthwise'>, readonly number[]> = {
  conv: [3, 2, 0, 1],
  depthwise: [2, 3, 0, 1],
  transposed: [3, 2, 0, 1],
};

function isDepthwise(node: NodeOf<'conv2d'> | NodeOf<'convTranspose2d'>, cin: number): boolean {
  return node.attrs.groups > 1 && node.attrs.groups === cin && node.attrs.outChannels === cin;
}

/** The graph as a trainable tfjs function. Call `dispose` when done. */
export class TfGraph {
  private readonly params = new Map<string, Param>();
  private readonly shapes: ReadonlyMap<string, Shape>;

  constructor(readonly model: Model) {
    this.shapes = inferShapes(model.graph);
    for (const node of model.graph.nodes) {
      if (node.op === 'conv2d' || node.op === 'convTranspose2d') {
        const cin = this.shapes.get(node.inputs[0]!)![1];
        if (node.attrs.groups !== 1 && !isDepthwise(node, cin)) {
          throw new FastDepthError(
            `layer "${node.name}": grouped convolutions other than depthwise are not supported for fine-tuning`,
          );
        }
        const grouped = node.attrs.groups !== 1;
        const layout: Layout =
          node.op === 'conv2d'
            ? grouped
              ? 'depthwise'
              : 'conv'
            : grouped
              ? 'transposedDepthwise'
              : 'transposed';
        this.add(`${node.name}.weight`, layout, true);
        if (node.attrs.bias) this.add(`${node.name}.bias`, 'vector', true);
      } else if (node.op === 'batchNorm') {
        this.add(`${node.name}.weight`, 'vector', true);
        this.add(`${node.name}.bias`, 'vector', true);
        this.add(`${node.name}.running_mean`, 'vector', false);
        this.add(`${node.name}.running_var`, 'vector', false);
      }
    }
  }

  private add(name: string, layout: Layout, trainable: boolean): void {
    const t = this.model.weights.get(name);
    if (!t) throw new FastDepthError(`TfGraph: missing weight "${name}"`);
    const value = tf.tidy(() => {
      if (layout === 'vector') return tf.tensor(t.data, [...t.shape], 'float32');
      if (layout === 'transposedDepthwise') {
        // Depthwise transposed conv: expand (C,1,kh,kw) to a block-diagonal (kh,kw,C,C) filter.
        const c = t.shape[0]!;
        const hwc = permute(t.data, t.shape, [2, 3, 1, 0]);
        return tf.mul(tf.tensor(hwc.data, [...hwc.shape]), tf.reshape(tf.eye(c), [1, 1, c, c]));
      }
      const p = permute(t.data, t.shape, TO_TF[layout]);
      return tf.tensor(p.data, [...p.shape], 'float32');
    });
    this.params.set(name, {
      name,
      layout,
      shape: t.shape,
      value: trainable ? tf.variable(value, true, `${name}#${tfNameCounter++}`) : value,
    });
    if (trainable) value.dispose();
  }

  /** The trainable variables (conv weights and biases, BN gamma and beta). */
  get variables(): tf.Variable[] {
    return [...this.params.values()]
      .filter((p) => p.value instanceof tf.Variable)
      .map((p) => p.value as tf.Variable);
  }

  private p(name: string): tf.Tensor {
    return this.params.get(name)!.value;
  }

  /** Forward pass: NHWC input -> the first output layer, NHWC. Call inside `tf.tidy`. */
  forward(input: tf.Tensor4D): tf.Tensor4D {
    return this.forwardTaps(input, []).output;
  }

  /** Forward pass that also returns the NHWC outputs of `taps` (feature-matching losses). */
  forwardTaps(
    input: tf.Tensor4D,
    taps: readonly string[],
  ): { output: tf.Tensor4D; taps: Map<string, tf.Tensor4D> } {
    const values = new Map<string, tf.Tensor4D>();
    let result: tf.Tensor4D | undefined;
    for (const node of this.model.graph.nodes) {
      const x = (i: number): tf.Tensor4D => values.get(node.inputs[i]!)!;
      const y = this.apply(node, x, input);
      if (node.op === 'output' && !result) result = y;
      values.set(node.name, y);
    }
    const tapped = new Map<string, tf.Tensor4D>();
    for (const t of taps) {
      const v = values.get(t);
      if (!v) throw new FastDepthError(`TfGraph: no layer "${t}" to tap`);
      tapped.set(t, v);
    }
    return { output: result!, taps: tapped };
  }

  private apply(node: Node, x: (i: number) => tf.Tensor4D, input: tf.Tensor4D): tf.Tensor4D {
    switch (node.op) {
      case 'input':
        return input;
      case 'conv2d': {
        const a = node.attrs;
        const [pt, pl, pb, pr] = a.pads;
        const padded =
          pt + pl + pb + pr > 0
            ? tf.pad(x(0), [
                [0, 0],
                [pt, pb],
                [pl, pr],
                [0, 0],
              ])
            : x(0);
        const w = this.p(`${node.name}.weight`);
        const stride: [number, number] = [a.stride[0], a.stride[1]];
        const dil: [number, number] = [a.dilation[0], a.dilation[1]];
        let y =
          a.groups === 1
            ? tf.conv2d(padded, w as tf.Tensor4D, stride, 'valid', 'NHWC', dil)
            : tf.depthwiseConv2d(padded, w as tf.Tensor4D, stride, 'valid', 'NHWC', dil);
        if (a.bias) y = tf.add(y, this.p(`${node.name}.bias`));
        return y;
      }
      case 'convTranspose2d': {
        const a = node.attrs;
        const [n, h, w] = x(0).shape;
        const full: [number, number, number, number] = [
          n,
          (h - 1) * a.stride[0] + a.kernel[0],
          (w - 1) * a.stride[1] + a.kernel[1],
          a.outChannels,
        ];
        let y = tf.conv2dTranspose(
          x(0),
          this.p(`${node.name}.weight`) as tf.Tensor4D,
          full,
          [a.stride[0], a.stride[1]],
          'valid',
        );
        // PyTorch crops pads from the full output and appends outputPadding zero rows/cols.
        const [, , oh, ow] = this.shapes.get(node.name)!;
        const [pt, pl] = a.pads;
        const extraH = Math.max(0, pt + oh - full[1]);
        const extraW = Math.max(0, pl + ow - full[2]);
        if (extraH > 0 || extraW > 0)
          y = tf.pad(y, [
            [0, 0],
            [0, extraH],
            [0, extraW],
            [0, 0],
          ]);
        y = tf.slice(y, [0, pt, pl, 0], [n, oh, ow, a.outChannels]);
        if (a.bias) y = tf.add(y, this.p(`${node.name}.bias`));
        return y;
      }
      case 'batchNorm': {
        const p = (s: string): tf.Tensor => this.p(`${node.name}.${s}`);
        const scale = tf.mul(p('weight'), tf.rsqrt(tf.add(p('running_var'), node.attrs.epsilon)));
        return tf.add(tf.mul(tf.sub(x(0), p('running_mean')), scale), p('bias'));
      }
      case 'relu':
        return tf.relu(x(0));
      case 'relu6':
        return tf.clipByValue(x(0), 0, 6);
      case 'add':
        return node.inputs.length === 2
          ? tf.add(x(0), x(1))
          : tf.addN<tf.Tensor4D>(node.inputs.map((_, i) => x(i)));
      case 'concat':
        return tf.concat(
          node.inputs.map((_, i) => x(i)),
          3,
        );
      case 'upsample': {
        const [n, h, w, c] = x(0).shape;
        if (node.attrs.mode === 'bilinear') return tf.image.resizeBilinear(x(0), [2 * h, 2 * w], false, true);
        // Nearest x2 as reshapes + rank-3 tiles (tile's gradient stops at rank 4): columns, then rows.
        const cols = tf.tile(tf.reshape(x(0), [n * h * w, 1, c]), [1, 2, 1]);
        const rows = tf.tile(tf.reshape(cols, [n * h, 1, 2 * w * c]), [1, 2, 1]);
        return tf.reshape(rows, [n, 2 * h, 2 * w, c]);
      }
      case 'resize': {
        const [, h, w] = x(0).shape;
        const [oh, ow] = resizeOutSize(node.attrs, h, w);
        if (node.attrs.mode === 'bilinear') return bilinearByMatMul(x(0), oh, ow);
        // Nearest as two gathers of PyTorch's source rows and columns (gather has a gradient,
        // and the indices are exactly the reference executor's).
        const rows = Array.from({ length: oh }, (_, d) => nearestSourceIndex(d, h, oh));
        const cols = Array.from({ length: ow }, (_, d) => nearestSourceIndex(d, w, ow));
        return tf.gather(tf.gather(x(0), rows, 1), cols, 2);
      }
      case 'unpool': {
        const [n, h, w, c] = x(0).shape;
        const z = tf.pad(tf.reshape(x(0), [n, h, 1, w, 1, c]), [
          [0, 0],
          [0, 0],
          [0, 1],
          [0, 0],
          [0, 1],
          [0, 0],
        ]);
        return tf.reshape(z, [n, 2 * h, 2 * w, c]);
      }
      case 'pixelShuffle': {
        const [n, h, w, c] = x(0).shape;
        const t = tf.transpose(tf.reshape(x(0), [n, h, w, c / 4, 2, 2]), [0, 1, 4, 2, 5, 3]);
        return tf.reshape(t, [n, 2 * h, 2 * w, c / 4]);
      }
      case 'maxPool': {
        const a = node.attrs;
        const [pt, pl, pb, pr] = a.pads;
        const padded =
          pt + pl + pb + pr > 0
            ? tf.pad(
                x(0),
                [
                  [0, 0],
                  [pt, pb],
                  [pl, pr],
                  [0, 0],
                ],
                -3.4e38,
              )
            : x(0);
        return tf.maxPool(padded, [a.kernel[0], a.kernel[1]], [a.stride[0], a.stride[1]], 'valid');
      }
      case 'sigmoid':
        return tf.sigmoid(x(0));
      case 'hardSigmoid':
        return tf.div(tf.relu6(tf.add(x(0), 3)), 6);
      case 'hardSwish':
        return tf.mul(x(0), tf.div(tf.relu6(tf.add(x(0), 3)), 6));
      case 'clip':
        return tf.clipByValue(x(0), node.attrs.min, node.attrs.max);
      case 'mul':
        return tf.mul(x(0), x(1));
      case 'avgPool2d': {
        const a = node.attrs;
        const [pt, pl, pb, pr] = a.pads;
        const pads: [number, number][] = [
          [0, 0],
          [pt, pb],
          [pl, pr],
          [0, 0],
        ];
        const pool = (t: tf.Tensor4D): tf.Tensor4D =>
          tf.avgPool(tf.pad(t, pads), [a.kernel[0], a.kernel[1]], [a.stride[0], a.stride[1]], 'valid');
        const sum = pool(x(0));
        return a.countIncludePad || pt + pl + pb + pr === 0 ? sum : tf.div(sum, pool(tf.onesLike(x(0))));
      }
      case 'globalAvgPool':
        return tf.mean(x(0), [1, 2], true);
      case 'output':
        return x(0);
      default:
        return assertNever(node);
    }
  }

  /** Current values back in the DSL layouts (a full `WeightMap`, running stats included). */
  toWeights(): Map<string, TensorF32> {
    const out = new Map<string, TensorF32>();
    for (const p of this.params.values()) {
      let data: Float32Array;
      if (p.layout === 'vector') data = Float32Array.from(p.value.dataSync());
      else if (p.layout === 'transposedDepthwise') {
        // Diagonal of the block-diagonal filter: (kh,kw,C,C) -> (C,1,kh,kw).
        const c = p.shape[0]!;
        const diag = tf.tidy(() => tf.sum(tf.mul(p.value, tf.reshape(tf.eye(c), [1, 1, c, c])), 2, true));
        data = permute(diag.dataSync() as Float32Array, diag.shape, [3, 2, 0, 1]).data;
        diag.dispose();
      } else data = permute(p.value.dataSync() as Float32Array, p.value.shape, FROM_TF[p.layout]).data;
      out.set(p.name, { shape: [...p.shape], data });
    }
    return out;
  }

  dispose(): void {
    for (const p of this.params.values()) p.value.dispose();
    this.params.clear();
  }
}

let tfNameCounter = 0;

/** Transposes a row-major 4-D array in plain JS (tfjs-cpu's generic transpose is far slower). */
export function permute(
  data: Float32Array,
  shape: readonly number[],
  perm: readonly number[],
): { data: Float32Array; shape: number[] } {
  const outShape = perm.map((p) => shape[p]!);
  const stride = [shape[1]! * shape[2]! * shape[3]!, shape[2]! * shape[3]!, shape[3]!, 1];
  const s = perm.map((p) => stride[p]!) as [number, number, number, number];
  const [d0, d1, d2, d3] = outShape as [number, number, number, number];
  const out = new Float32Array(data.length);
  let k = 0;
  for (let a = 0; a < d0; a++)
    for (let b = 0; b < d1; b++)
      for (let c = 0; c < d2; c++) {
        const base = a * s[0] + b * s[1] + c * s[2];
        for (let d = 0; d < d3; d++) out[k++] = data[base + d * s[3]]!;
      }
  return { data: out, shape: outShape };
}

/** NCHW float data -> NHWC tensor. */
export function nchwToNhwcTensor(data: ArrayLike<number>, shape: readonly number[]): tf.Tensor4D {
  const [n, c, h, w] = shape as [number, number, number, number];
  return tf.tidy(() => tf.transpose(tf.tensor4d(Float32Array.from(data), [n, c, h, w]), [0, 2, 3, 1]));
}
