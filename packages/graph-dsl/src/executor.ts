/**
 * The reference executor: a plain float64 interpreter that defines what every op means.
 * It is written for obviousness, not speed; every backend is tested against it (and against
 * onnxruntime). Tensors are NCHW, row-major.
 */
import { GraphError } from './errors.js';
import { inferShapes } from './graph.js';
import { assertNever, type Graph, type Node, type NodeOf, type Shape } from './ir.js';
import { fmt, nearestSourceIndex } from './ops.js';
import { numel, type WeightMap } from './weights.js';

/**
 * The most values one tensor of the reference executor may hold: 8 GiB as float64. Half the
 * graph cap (`SIZE_CAPS.elements`): fastdepth at 4096x4096 (2^29 values in its widest
 * tensor) still runs; the few decoders that reach 2^31 there are refused, naming the layer.
 */
export const EXECUTOR_MAX_ELEMENTS = 2 ** 30;

/** A float64 NCHW tensor: what the reference executor computes in. */
export interface Tensor64 {
  readonly shape: Shape;
  readonly data: Float64Array;
}

/** Options of {@link execute}. */
export interface ExecuteOptions {
  /** Also return every intermediate tensor (by layer name). */
  readonly keepIntermediates?: boolean;
  /**
   * Called with each layer's value as soon as it is computed, before any later layer runs.
   * Weights are read when their layer runs, so a caller may set a later layer's weights
   * from it (that is how `calibratedInitWeights` measures BatchNorm statistics).
   */
  readonly onValue?: (node: Node, value: Tensor64) => void;
}

function param(weights: WeightMap, layer: string, suffix: string): Float32Array {
  const t = weights.get(`${layer}.${suffix}`);
  if (!t) throw new GraphError(layer, `missing weight "${layer}.${suffix}"`);
  return t.data;
}

function conv2d(node: NodeOf<'conv2d'>, x: Tensor64, out: Shape, w: WeightMap): Float64Array {
  const {
    kernel: [kh, kw],
    stride: [sh, sw],
    pads: [pt, pl],
    dilation: [dh, dw],
    groups,
    bias,
  } = node.attrs;
  const [n, cin, h, wd] = x.shape;
  const [, cout, oh, ow] = out;
  const weight = param(w, node.name, 'weight');
  const b = bias ? param(w, node.name, 'bias') : undefined;
  const cinG = cin / groups;
  const coutG = cout / groups;
  const y = new Float64Array(numel(out));
  for (let b0 = 0; b0 < n; b0++) {
    for (let o = 0; o < cout; o++) {
      const g = Math.floor(o / coutG);
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          let acc = b ? b[o]! : 0;
          for (let ci = 0; ci < cinG; ci++) {
            const c = g * cinG + ci;
            for (let ky = 0; ky < kh; ky++) {
              const iy = oy * sh - pt + ky * dh;
              if (iy < 0 || iy >= h) continue;
              for (let kx = 0; kx < kw; kx++) {
                const ix = ox * sw - pl + kx * dw;
                if (ix < 0 || ix >= wd) continue;
                acc +=
                  x.data[((b0 * cin + c) * h + iy) * wd + ix]! *
                  weight[((o * cinG + ci) * kh + ky) * kw + kx]!;
              }
            }
          }
          y[((b0 * cout + o) * oh + oy) * ow + ox] = acc;
        }
      }
    }
  }
  return y;
}

/** Transposed conv as a scatter: input (iy, ix) adds weight * x into output (iy*s - pad + ky, ...). */
function convTranspose2d(
  node: NodeOf<'convTranspose2d'>,
  x: Tensor64,
  out: Shape,
  w: WeightMap,
): Float64Array {
  const {
    kernel: [kh, kw],
    stride: [sh, sw],
    pads: [pt, pl],
    groups,
    bias,
  } = node.attrs;
  const [n, cin, h, wd] = x.shape;
  const [, cout, oh, ow] = out;
  const weight = param(w, node.name, 'weight'); // (cin, cout/groups, kh, kw)
  const b = bias ? param(w, node.name, 'bias') : undefined;
  const cinG = cin / groups;
  const coutG = cout / groups;
  const y = new Float64Array(numel(out));
  for (let b0 = 0; b0 < n; b0++) {
    if (b)
      for (let o = 0; o < cout; o++) y.fill(b[o]!, (b0 * cout + o) * oh * ow, (b0 * cout + o + 1) * oh * ow);
    for (let c = 0; c < cin; c++) {
      const g = Math.floor(c / cinG);
      for (let iy = 0; iy < h; iy++) {
        for (let ix = 0; ix < wd; ix++) {
          const v = x.data[((b0 * cin + c) * h + iy) * wd + ix]!;
          for (let oc = 0; oc < coutG; oc++) {
            const o = g * coutG + oc;
            for (let ky = 0; ky < kh; ky++) {
              const oy = iy * sh - pt + ky;
              if (oy < 0 || oy >= oh) continue;
              for (let kx = 0; kx < kw; kx++) {
                const ox = ix * sw - pl + kx;
                if (ox < 0 || ox >= ow) continue;
                y[((b0 * cout + o) * oh + oy) * ow + ox]! +=
                  v * weight[((c * coutG + oc) * kh + ky) * kw + kx]!;
              }
            }
          }
        }
      }
    }
  }
  return y;
}

function batchNorm(node: NodeOf<'batchNorm'>, x: Tensor64, w: WeightMap): Float64Array {
  const [n, c, h, wd] = x.shape;
  const gamma = param(w, node.name, 'weight');
  const beta = param(w, node.name, 'bias');
  const mean = param(w, node.name, 'running_mean');
  const variance = param(w, node.name, 'running_var');
  const y = new Float64Array(x.data.length);
  for (let b0 = 0; b0 < n; b0++) {
    for (let ch = 0; ch < c; ch++) {
      const scale = gamma[ch]! / Math.sqrt(variance[ch]! + node.attrs.epsilon);
      const base = (b0 * c + ch) * h * wd;
      for (let i = 0; i < h * wd; i++) y[base + i] = (x.data[base + i]! - mean[ch]!) * scale + beta[ch]!;
    }
  }
  return y;
}

/** An NCHW tensor of any element type: float64 activations here, int8 ones in `quant/execute.ts`. */
export interface PlanarTensor {
  readonly shape: Shape;
  readonly data: ArrayLike<number>;
}

/**
 * PyTorch nearest: out (y, x) = in (src(y), src(x)) with `nearestSourceIndex` (floor(y/2) for
 * x2), written into `y` (a fresh array of `out`'s size). Any output size: `upsample` and
 * `resize` share it, and so do the float and the int8 executors: it only moves values.
 */
export function upsampleNearestInto<T extends Float64Array | Int8Array>(
  x: PlanarTensor,
  out: Shape,
  y: T,
): T {
  const [n, c, h, w] = x.shape;
  const [, , oh, ow] = out;
  const rows = Array.from({ length: oh }, (_, d) => nearestSourceIndex(d, h, oh));
  const cols = Array.from({ length: ow }, (_, d) => nearestSourceIndex(d, w, ow));
  for (let p = 0; p < n * c; p++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        y[(p * oh + oy) * ow + ox] = x.data[(p * h + rows[oy]!) * w + cols[ox]!]!;
      }
    }
  }
  return y;
}

/**
 * Bilinear, align_corners=False (half-pixel centres, source clamped at 0 and the edge), any
 * output size (`upsample` x2 and `resize`). Exact arithmetic: PyTorch's float32 source
 * positions differ from it by rounding only, and the result is continuous in them.
 */
function upsampleBilinear(x: Tensor64, out: Shape): Float64Array {
  const [n, c, h, w] = x.shape;
  const [, , oh, ow] = out;
  const src = (o: number, inSize: number, outSize: number): [number, number, number] => {
    const s = Math.max(0, ((o + 0.5) * inSize) / outSize - 0.5);
    const i0 = Math.min(Math.floor(s), inSize - 1);
    const i1 = Math.min(i0 + 1, inSize - 1);
    return [i0, i1, s - i0];
  };
  const y = new Float64Array(numel(out));
  for (let p = 0; p < n * c; p++) {
    for (let oy = 0; oy < oh; oy++) {
      const [y0, y1, fy] = src(oy, h, oh);
      for (let ox = 0; ox < ow; ox++) {
        const [x0, x1, fx] = src(ox, w, ow);
        const at = (yy: number, xx: number): number => x.data[(p * h + yy) * w + xx]!;
        const top = at(y0, x0) * (1 - fx) + at(y0, x1) * fx;
        const bottom = at(y1, x0) * (1 - fx) + at(y1, x1) * fx;
        y[(p * oh + oy) * ow + ox] = top * (1 - fy) + bottom * fy;
      }
    }
  }
  return y;
}

/**
 * Zero-insertion unpooling x2: each input value at the top-left of its 2x2 cell of `y` (a fresh
 * array of `out`'s size, holding zeros: 0, or the zero point in the int8 executor).
 */
export function unpoolInto<T extends Float64Array | Int8Array>(x: PlanarTensor, out: Shape, y: T): T {
  const [n, c, h, w] = x.shape;
  const [, , oh, ow] = out;
  for (let p = 0; p < n * c; p++) {
    for (let iy = 0; iy < h; iy++) {
      for (let ix = 0; ix < w; ix++) y[(p * oh + 2 * iy) * ow + 2 * ix] = x.data[(p * h + iy) * w + ix]!;
    }
  }
  return y;
}

/**
 * PyTorch PixelShuffle (block r): out[c, y*r+i, x*r+j] = in[c*r*r + i*r + j, y, x]. Moves values
 * only, so the int8 executor runs it on the integers.
 */
export function pixelShuffleInto<T extends Float64Array | Int8Array>(
  r: number,
  x: PlanarTensor,
  out: Shape,
  y: T,
): T {
  const [n, cin, h, w] = x.shape;
  const [, cout, oh, ow] = out;
  for (let b0 = 0; b0 < n; b0++) {
    for (let c = 0; c < cout; c++) {
      for (let i = 0; i < r; i++) {
        for (let j = 0; j < r; j++) {
          const ic = c * r * r + i * r + j;
          for (let iy = 0; iy < h; iy++) {
            for (let ix = 0; ix < w; ix++) {
              y[((b0 * cout + c) * oh + iy * r + i) * ow + ix * r + j] =
                x.data[((b0 * cin + ic) * h + iy) * w + ix]!;
            }
          }
        }
      }
    }
  }
  return y;
}

/**
 * Max pool; padded positions are ignored (as -infinity), written into `y` (a fresh array of
 * `out`'s size). Shared by the float and the int8 executors (max commutes with one scale).
 */
export function maxPoolInto<T extends Float64Array | Int8Array>(
  node: NodeOf<'maxPool'>,
  x: PlanarTensor,
  out: Shape,
  y: T,
): T {
  const {
    kernel: [kh, kw],
    stride: [sh, sw],
    pads: [pt, pl],
  } = node.attrs;
  const [n, c, h, w] = x.shape;
  const [, , oh, ow] = out;
  for (let p = 0; p < n * c; p++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        let m = Number.NEGATIVE_INFINITY;
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * sh - pt + ky;
          if (iy < 0 || iy >= h) continue;
          for (let kx = 0; kx < kw; kx++) {
            const ix = ox * sw - pl + kx;
            if (ix < 0 || ix >= w) continue;
            m = Math.max(m, x.data[(p * h + iy) * w + ix]!);
          }
        }
        y[(p * oh + oy) * ow + ox] = m;
      }
    }
  }
  return y;
}

/**
 * Average pooling's window walk, shared by the float and the int8 executors: for every output
 * position, the sum of the window's values inside the input and how many there are; `finish`
 * turns them into the output value (each executor pads and divides its own way). Writes `y`.
 */
export function averagePoolInto<T extends Float64Array | Int8Array>(
  node: NodeOf<'avgPool2d'>,
  x: PlanarTensor,
  out: Shape,
  y: T,
  finish: (sum: number, inside: number) => number,
): T {
  const {
    kernel: [kh, kw],
    stride: [sh, sw],
    pads: [pt, pl],
  } = node.attrs;
  const [n, c, h, w] = x.shape;
  const [, , oh, ow] = out;
  for (let p = 0; p < n * c; p++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        let sum = 0;
        let inside = 0;
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * sh - pt + ky;
          if (iy < 0 || iy >= h) continue;
          for (let kx = 0; kx < kw; kx++) {
            const ix = ox * sw - pl + kx;
            if (ix < 0 || ix >= w) continue;
            sum += x.data[(p * h + iy) * w + ix]!;
            inside++;
          }
        }
        y[(p * oh + oy) * ow + ox] = finish(sum, inside);
      }
    }
  }
  return y;
}

/** Average pool: padded positions add 0; the divisor is the window, or only its inside positions. */
function avgPool(node: NodeOf<'avgPool2d'>, x: Tensor64, out: Shape): Float64Array {
  const [kh, kw] = node.attrs.kernel;
  const includePad = node.attrs.countIncludePad;
  return averagePoolInto(
    node,
    x,
    out,
    new Float64Array(numel(out)),
    (sum, inside) => sum / (includePad ? kh * kw : inside),
  );
}

/** Product with a second input of the same shape or of shape (N, C, 1, 1). */
function mul(x: Tensor64, s: Tensor64): Float64Array {
  const [n, c, h, w] = x.shape;
  const perChannel = s.data.length === n * c && h * w !== 1;
  return x.data.map((v, i) => v * s.data[perChannel ? Math.floor(i / (h * w)) : i]!);
}

function globalAvgPool(x: Tensor64): Float64Array {
  const [n, c, h, w] = x.shape;
  const y = new Float64Array(n * c);
  for (let p = 0; p < n * c; p++) {
    let sum = 0;
    for (let i = 0; i < h * w; i++) sum += x.data[p * h * w + i]!;
    y[p] = sum / (h * w);
  }
  return y;
}

const hardSigmoid = (v: number): number => Math.min(6, Math.max(0, v + 3)) / 6;

/**
 * Channel concatenation of NCHW tensors into `y` (a fresh array of `out`'s size). The float and
 * the int8 executors share it: it only moves values.
 */
export function concatChannelsInto<T extends Float64Array | Int8Array>(
  xs: readonly { readonly shape: Shape; readonly data: T }[],
  out: Shape,
  y: T,
): T {
  const [n, c, h, w] = out;
  for (let b0 = 0; b0 < n; b0++) {
    let offset = 0;
    for (const x of xs) {
      const cx = x.shape[1];
      y.set(x.data.subarray(b0 * cx * h * w, (b0 + 1) * cx * h * w), (b0 * c + offset) * h * w);
      offset += cx;
    }
  }
  return y;
}

function evalNode(node: Node, ins: readonly Tensor64[], out: Shape, w: WeightMap): Float64Array {
  const x = ins[0]!;
  switch (node.op) {
    case 'input':
      throw new GraphError(node.name, 'input nodes are fed, not evaluated');
    case 'conv2d':
      return conv2d(node, x, out, w);
    case 'convTranspose2d':
      return convTranspose2d(node, x, out, w);
    case 'batchNorm':
      return batchNorm(node, x, w);
    case 'relu':
      return x.data.map((v) => Math.max(0, v));
    case 'relu6':
      return x.data.map((v) => Math.min(6, Math.max(0, v)));
    case 'add': {
      const y = new Float64Array(x.data);
      for (const other of ins.slice(1)) for (let i = 0; i < y.length; i++) y[i]! += other.data[i]!;
      return y;
    }
    case 'concat':
      return concatChannelsInto(ins, out, new Float64Array(numel(out)));
    case 'upsample':
    case 'resize':
      return node.attrs.mode === 'nearest'
        ? upsampleNearestInto(x, out, new Float64Array(numel(out)))
        : upsampleBilinear(x, out);
    case 'unpool':
      return unpoolInto(x, out, new Float64Array(numel(out)));
    case 'pixelShuffle':
      return pixelShuffleInto(node.attrs.blockSize, x, out, new Float64Array(numel(out)));
    case 'maxPool':
      return maxPoolInto(node, x, out, new Float64Array(numel(out)));
    case 'sigmoid':
      return x.data.map((v) => 1 / (1 + Math.exp(-v)));
    case 'hardSigmoid':
      return x.data.map(hardSigmoid);
    case 'hardSwish':
      return x.data.map((v) => v * hardSigmoid(v));
    case 'clip': {
      const { min, max } = node.attrs;
      return x.data.map((v) => Math.min(max, Math.max(min, v)));
    }
    case 'mul':
      return mul(x, ins[1]!);
    case 'avgPool2d':
      return avgPool(node, x, out);
    case 'globalAvgPool':
      return globalAvgPool(x);
    case 'output':
      return x.data;
    default:
      return assertNever(node);
  }
}

/**
 * Runs `graph` on `inputs` (keyed by input layer name; float32 or float64 data in NCHW).
 * Returns every output layer's tensor, plus intermediates when asked.
 */
export function execute(
  graph: Graph,
  weights: WeightMap,
  inputs: Readonly<Record<string, { readonly shape: readonly number[]; readonly data: ArrayLike<number> }>>,
  options: ExecuteOptions = {},
): Record<string, Tensor64> {
  const shapes = inferShapes(graph);
  // float64 activations: refuse a graph whose tensors cannot be held, naming the layer,
  // instead of failing inside an allocation.
  for (const [layer, shape] of shapes) {
    if (numel(shape) > EXECUTOR_MAX_ELEMENTS)
      throw new GraphError(
        layer,
        `output ${fmt(shape)} holds ${numel(shape)} values, more than the ${EXECUTOR_MAX_ELEMENTS} (2^30, 8 GiB as float64) the reference executor holds per tensor`,
      );
  }
  const values = new Map<string, Tensor64>();
  const results: Record<string, Tensor64> = {};
  // Free each intermediate after its last reader: full-size float64 activations add up.
  const remainingReads = new Map<string, number>();
  for (const node of graph.nodes)
    for (const i of node.inputs) remainingReads.set(i, (remainingReads.get(i) ?? 0) + 1);
  for (const node of graph.nodes) {
    const shape = shapes.get(node.name)!;
    let data: Float64Array;
    if (node.op === 'input') {
      const fed = inputs[node.name];
      if (!fed) throw new GraphError(node.name, 'no value fed for this input');
      if (fed.data.length !== numel(shape)) {
        throw new GraphError(
          node.name,
          `fed ${fed.data.length} values (shape ${fmt(fed.shape)}), expected shape ${fmt(shape)}`,
        );
      }
      data = Float64Array.from(fed.data);
    } else {
      try {
        data = evalNode(
          node,
          node.inputs.map((i) => values.get(i)!),
          shape,
          weights,
        );
      } catch (error) {
        // Out of memory for this tensor (RangeError: Array buffer allocation failed).
        if (error instanceof RangeError && /allocat|typed array length/i.test(error.message))
          throw new GraphError(
            node.name,
            `cannot allocate the output ${fmt(shape)} (${numel(shape)} float64 values): ${error.message}`,
          );
        throw error;
      }
    }
    const t: Tensor64 = { shape, data };
    values.set(node.name, t);
    options.onValue?.(node, t);
    for (const i of node.inputs) {
      const left = remainingReads.get(i)! - 1;
      remainingReads.set(i, left);
      if (left === 0) values.delete(i);
    }
    if (node.op === 'output' || options.keepIntermediates) results[node.name] = t;
  }
  return results;
}
