/**
 * Test helpers for the int8 build (not part of the library): a small int8 executor written from
 * the spec of TFLite's int8 semantics (ISSUE 16 / graph-dsl `quant/ir.ts`) with graph-dsl's
 * fixed-point functions, and random quantised models whose activation parameters are calibrated
 * on the fly so no layer saturates wholesale. graph-dsl's `executeQuantized` is the reference
 * proper; this one keeps the kernel tests independent of it.
 */
import {
  activationRange,
  clampInt,
  clampRange,
  inferShapes,
  multiplyByQuantizedMultiplier,
  nearestSourceIndex,
  quantizeMultiplier,
  roundHalfAwayFromZero,
  SeededRandom,
  type Graph,
  type GraphQuantization,
  type QuantizedModel,
  type QuantParams,
  type QuantTensor,
} from '@fastdepth/graph-dsl';

interface Value {
  readonly shape: readonly number[];
  readonly data: Int8Array;
}

/** Quantises a float input per the spec: clamp(round(x / scale) + zp, -128, 127). */
export function quantizeInput(x: Float32Array, p: QuantParams): Int8Array {
  return Int8Array.from(x, (v) => clampInt(roundHalfAwayFromZero(v / p.scale) + p.zeroPoint, -128, 127));
}

/** conv2d accumulators (int32, before requantisation) per the spec. */
function convAcc(
  node: Extract<Graph['nodes'][number], { op: 'conv2d' }>,
  x: Value,
  zpIn: number,
  w: Int8Array,
  bias: Int32Array | undefined,
  outShape: readonly number[],
): Int32Array {
  const [, cin, h, wd] = x.shape as [number, number, number, number];
  const [, cout, oh, ow] = outShape as [number, number, number, number];
  const a = node.attrs;
  const [kh, kw] = a.kernel;
  const cpg = cin / a.groups;
  const opg = cout / a.groups;
  const out = new Int32Array(cout * oh * ow);
  for (let o = 0; o < cout; o++) {
    const g = Math.floor(o / opg);
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++) {
        let acc = bias ? bias[o]! : 0;
        for (let ci = 0; ci < cpg; ci++)
          for (let ky = 0; ky < kh; ky++) {
            const iy = oy * a.stride[0] - a.pads[0] + ky * a.dilation[0];
            if (iy < 0 || iy >= h) continue;
            for (let kx = 0; kx < kw; kx++) {
              const ix = ox * a.stride[1] - a.pads[1] + kx * a.dilation[1];
              if (ix < 0 || ix >= wd) continue;
              const q = x.data[((g * cpg + ci) * h + iy) * wd + ix]!;
              acc += (q - zpIn) * w[((o * cpg + ci) * kh + ky) * kw + kx]!;
            }
          }
        out[(o * oh + oy) * ow + ox] = acc;
      }
  }
  return out;
}

type Chooser = (name: string, real: Float64Array) => QuantParams;

/** Runs the graph in int8; `choose` (calibration) picks each conv/add's output params when given. */
function run(
  graph: Graph,
  weights: ReadonlyMap<string, QuantTensor>,
  q: { tensors: Record<string, QuantParams>; weightScales: Readonly<Record<string, readonly number[]>> },
  input: Float32Array | Int8Array,
  choose?: Chooser,
): Map<string, Value> {
  const shapes = inferShapes(graph);
  const values = new Map<string, Value>();
  const get = (n: string): Value => values.get(n)!;
  for (const node of graph.nodes) {
    const shape = shapes.get(node.name)!;
    const inP = (i = 0): QuantParams => q.tensors[node.inputs[i]!]!;
    switch (node.op) {
      case 'input':
        values.set(node.name, {
          shape,
          data: input instanceof Int8Array ? input : quantizeInput(input, q.tensors[node.name]!),
        });
        break;
      case 'conv2d': {
        const x = get(node.inputs[0]!);
        const w = weights.get(`${node.name}.weight`)!.data as Int8Array;
        const b = weights.get(`${node.name}.bias`)?.data as Int32Array | undefined;
        const acc = convAcc(node, x, inP().zeroPoint, w, b, shape);
        const sw = q.weightScales[node.name]!;
        const plane = shape[2] * shape[3];
        if (choose) {
          const real = Float64Array.from(
            acc,
            (v, i) => v * inP().scale * sw[sw.length === 1 ? 0 : Math.floor(i / plane)]!,
          );
          q.tensors[node.name] = choose(node.name, real);
        }
        const po = q.tensors[node.name]!;
        const mults = Array.from({ length: shape[1] }, (_, c) =>
          quantizeMultiplier((inP().scale * sw[sw.length === 1 ? 0 : c]!) / po.scale),
        );
        const data = Int8Array.from(acc, (v, i) =>
          clampInt(multiplyByQuantizedMultiplier(v, mults[Math.floor(i / plane)]!) + po.zeroPoint, -128, 127),
        );
        values.set(node.name, { shape, data });
        break;
      }
      case 'relu':
      case 'relu6': {
        q.tensors[node.name] ??= inP();
        const [lo, hi] = activationRange(node.op, q.tensors[node.name]!);
        values.set(node.name, {
          shape,
          data: Int8Array.from(get(node.inputs[0]!).data, (v) => clampInt(v, lo, hi)),
        });
        break;
      }
      case 'upsample':
      case 'resize': {
        q.tensors[node.name] ??= inP();
        const x = get(node.inputs[0]!);
        const [, c, h, w] = shape;
        if (node.attrs.mode === 'bilinear') {
          values.set(node.name, { shape, data: bilinear(x, h, w) });
          break;
        }
        // Any size: PyTorch's float32 source indices (x2: y >> 1).
        const [ih, iw] = [x.shape[2]!, x.shape[3]!];
        const data = new Int8Array(c * h * w);
        for (let ch = 0; ch < c; ch++)
          for (let y = 0; y < h; y++)
            for (let xx = 0; xx < w; xx++)
              data[(ch * h + y) * w + xx] =
                x.data[(ch * ih + nearestSourceIndex(y, ih, h)) * iw + nearestSourceIndex(xx, iw, w)]!;
        values.set(node.name, { shape, data });
        break;
      }
      case 'add': {
        const [p1, p2] = [inP(0), inP(1)];
        const [a, b] = [get(node.inputs[0]!), get(node.inputs[1]!)];
        if (choose) {
          const real = Float64Array.from(
            a.data,
            (v, i) => p1.scale * (v - p1.zeroPoint) + p2.scale * (b.data[i]! - p2.zeroPoint),
          );
          q.tensors[node.name] = choose(node.name, real);
        }
        const po = q.tensors[node.name]!;
        const twiceMax = 2 * Math.max(p1.scale, p2.scale);
        const m1 = quantizeMultiplier(p1.scale / twiceMax);
        const m2 = quantizeMultiplier(p2.scale / twiceMax);
        const mo = quantizeMultiplier(twiceMax / (2 ** 20 * po.scale));
        const data = Int8Array.from(a.data, (v, i) => {
          const raw =
            multiplyByQuantizedMultiplier((v - p1.zeroPoint) * 2 ** 20, m1) +
            multiplyByQuantizedMultiplier((b.data[i]! - p2.zeroPoint) * 2 ** 20, m2);
          return clampInt(multiplyByQuantizedMultiplier(raw, mo) + po.zeroPoint, -128, 127);
        });
        values.set(node.name, { shape, data });
        break;
      }
      case 'maxPool': {
        // The largest integer of each window over the positions inside the input (padding
        // never counts); the input's parameters carry over.
        q.tensors[node.name] ??= inP();
        const x = get(node.inputs[0]!);
        const [, c, h, w] = shape;
        const [ih, iw] = [x.shape[2]!, x.shape[3]!];
        const { kernel, stride, pads } = node.attrs;
        const data = new Int8Array(c * h * w);
        for (let ch = 0; ch < c; ch++)
          for (let y = 0; y < h; y++)
            for (let xx = 0; xx < w; xx++) {
              let best = -Infinity;
              for (let ky = 0; ky < kernel[0]; ky++)
                for (let kx = 0; kx < kernel[1]; kx++) {
                  const [sy, sx] = [y * stride[0] - pads[0] + ky, xx * stride[1] - pads[1] + kx];
                  if (sy >= 0 && sy < ih && sx >= 0 && sx < iw)
                    best = Math.max(best, x.data[(ch * ih + sy) * iw + sx]!);
                }
              data[(ch * h + y) * w + xx] = best;
            }
        values.set(node.name, { shape, data });
        break;
      }
      case 'unpool': {
        // Zero insertion x2: the zeros are the (shared) zero point.
        q.tensors[node.name] ??= inP();
        const x = get(node.inputs[0]!);
        const [, c, h, w] = shape;
        const data = new Int8Array(c * h * w).fill(q.tensors[node.name]!.zeroPoint);
        for (let ch = 0; ch < c; ch++)
          for (let y = 0; y < h; y += 2)
            for (let xx = 0; xx < w; xx += 2)
              data[(ch * h + y) * w + xx] = x.data[(ch * (h / 2) + y / 2) * (w / 2) + xx / 2]!;
        values.set(node.name, { shape, data });
        break;
      }
      case 'pixelShuffle': {
        // Depth to space, PyTorch's order: output (c, y, x) is input channel c r^2 + (y % r) r + x % r
        // at (y / r, x / r); integers of one scale, so a copy.
        q.tensors[node.name] ??= inP();
        const x = get(node.inputs[0]!);
        const r = node.attrs.blockSize;
        const [, c, h, w] = shape;
        const data = new Int8Array(c * h * w);
        for (let ch = 0; ch < c; ch++)
          for (let y = 0; y < h; y++)
            for (let xx = 0; xx < w; xx++) {
              const from = ch * r * r + (y % r) * r + (xx % r);
              data[(ch * h + y) * w + xx] =
                x.data[(from * (h / r) + Math.floor(y / r)) * (w / r) + Math.floor(xx / r)]!;
            }
        values.set(node.name, { shape, data });
        break;
      }
      case 'concat': {
        // Inputs and output share one set of parameters (TFLite's restriction): a copy.
        q.tensors[node.name] ??= inP();
        const p = q.tensors[node.name]!;
        node.inputs.forEach((name, i) => {
          if (inP(i).scale !== p.scale || inP(i).zeroPoint !== p.zeroPoint)
            throw new Error(`int8 test reference: concat ${node.name} input ${name} has other parameters`);
        });
        const data = new Int8Array(shape[1] * shape[2] * shape[3]);
        let at = 0;
        for (const name of node.inputs) {
          data.set(get(name).data, at);
          at += get(name).data.length;
        }
        values.set(node.name, { shape, data });
        break;
      }
      case 'clip': {
        // A clamp at TFLite's quantised bounds (relu6 is clip(0, 6)); the input's parameters.
        q.tensors[node.name] ??= inP();
        const [lo, hi] = clampRange(node.attrs.min, node.attrs.max, q.tensors[node.name]!);
        values.set(node.name, {
          shape,
          data: Int8Array.from(get(node.inputs[0]!).data, (v) => clampInt(v, lo, hi)),
        });
        break;
      }
      case 'avgPool2d':
      case 'globalAvgPool': {
        // TFLite's AVERAGE_POOL_2D on the raw integers (a global pool: the whole plane as window):
        // padded taps are the zero point and counted with countIncludePad, else left out; the
        // sum divided rounding half away from zero (C++'s truncating division of sum ± n / 2).
        q.tensors[node.name] ??= inP();
        const x = get(node.inputs[0]!);
        const [, c, h, w] = shape;
        const [ih, iw] = [x.shape[2]!, x.shape[3]!];
        const a: {
          kernel: readonly [number, number];
          stride: readonly [number, number];
          pads: readonly [number, number, number, number];
          countIncludePad: boolean;
        } =
          node.op === 'avgPool2d'
            ? node.attrs
            : { kernel: [ih, iw], stride: [1, 1], pads: [0, 0, 0, 0], countIncludePad: true };
        const zp = inP().zeroPoint;
        const data = new Int8Array(c * h * w);
        for (let ch = 0; ch < c; ch++)
          for (let y = 0; y < h; y++)
            for (let xx = 0; xx < w; xx++) {
              let sum = 0;
              let n = 0;
              for (let ky = 0; ky < a.kernel[0]; ky++)
                for (let kx = 0; kx < a.kernel[1]; kx++) {
                  const [sy, sx] = [y * a.stride[0] - a.pads[0] + ky, xx * a.stride[1] - a.pads[1] + kx];
                  const inside = sy >= 0 && sy < ih && sx >= 0 && sx < iw;
                  if (inside || a.countIncludePad) {
                    sum += inside ? x.data[(ch * ih + sy) * iw + sx]! : zp;
                    n++;
                  }
                }
              const half = Math.floor(n / 2);
              data[(ch * h + y) * w + xx] = Math.trunc((sum > 0 ? sum + half : sum - half) / n);
            }
        values.set(node.name, { shape, data });
        break;
      }
      case 'mul': {
        // TFLite's MUL: (a - zp_a)(b - zp_b) times s_a s_b / s_out as a fixed-point multiplier; the
        // second input per channel when it is (1, C, 1, 1).
        const [p1, p2] = [inP(0), inP(1)];
        const [a, b] = [get(node.inputs[0]!), get(node.inputs[1]!)];
        const plane = shape[2] * shape[3];
        const bAt = (i: number): number =>
          b.data[b.data.length === a.data.length ? i : Math.floor(i / plane)]!;
        if (choose) {
          const real = Float64Array.from(
            a.data,
            (v, i) => p1.scale * (v - p1.zeroPoint) * p2.scale * (bAt(i) - p2.zeroPoint),
          );
          q.tensors[node.name] = choose(node.name, real);
        }
        const po = q.tensors[node.name]!;
        const mq = quantizeMultiplier((p1.scale * p2.scale) / po.scale);
        const data = Int8Array.from(a.data, (v, i) =>
          clampInt(
            multiplyByQuantizedMultiplier((v - p1.zeroPoint) * (bAt(i) - p2.zeroPoint), mq) + po.zeroPoint,
            -128,
            127,
          ),
        );
        values.set(node.name, { shape, data });
        break;
      }
      case 'sigmoid':
      case 'hardSigmoid':
      case 'hardSwish': {
        // TFLite's PopulateLookupTable in float32: x = s_in (q - zp_in), round(f(x) * (1 / s_out))
        // halves away from zero, + zp_out, clamped. Sigmoid and hardSigmoid output 1/256, -128.
        const f32 = Math.fround;
        const p = inP();
        const x = get(node.inputs[0]!);
        const relu6 = (v: number): number => Math.min(Math.max(f32(v + 3), 0), 6);
        const fn =
          node.op === 'sigmoid'
            ? (v: number) => f32(1 / f32(1 + f32(Math.exp(-v))))
            : node.op === 'hardSigmoid'
              ? (v: number) => f32(relu6(v) / 6)
              : (v: number) => f32(f32(v * relu6(v)) / 6);
        if (node.op !== 'hardSwish') q.tensors[node.name] ??= { scale: 1 / 256, zeroPoint: -128 };
        else if (choose)
          q.tensors[node.name] = choose(
            node.name,
            Float64Array.from(x.data, (v) => fn(f32(p.scale * (v - p.zeroPoint)))),
          );
        const po = q.tensors[node.name]!;
        const inverse = f32(1 / po.scale);
        const data = Int8Array.from(x.data, (v) =>
          clampInt(
            roundHalfAwayFromZero(f32(fn(f32(p.scale * (v - p.zeroPoint))) * inverse)) + po.zeroPoint,
            -128,
            127,
          ),
        );
        values.set(node.name, { shape, data });
        break;
      }
      case 'output':
        q.tensors[node.name] ??= inP();
        values.set(node.name, get(node.inputs[0]!));
        break;
      default:
        throw new Error(`int8 test reference: op ${node.op} is not supported`);
    }
  }
  return values;
}

/**
 * TFLite's int8 RESIZE_BILINEAR, half-pixel centres (reference_ops::ResizeBilinear for int8),
 * written from the spec with BigInt (its int64 sums, C++'s truncating division): source position
 * p = o * s + s / 2 - 512 in 1/1024 steps, s = (1024 in + out / 2) / out; taps floor(p / 1024)
 * clamped at 0 and ceil(p / 1024) clamped at the edge; weights from p - 1024 * lower.
 */
function bilinear(x: Value, oh: number, ow: number): Int8Array {
  const [c, ih, iw] = [x.shape[1]!, x.shape[2]!, x.shape[3]!];
  const taps = (inSize: number, outSize: number, o: number): [number, number, bigint] => {
    const s = BigInt(1024 * inSize + Math.floor(outSize / 2)) / BigInt(outSize);
    const p = BigInt(o) * s + s / 2n - 512n;
    // p > -1024 for every resize: the lower tap of a negative position is 0, and so is the upper.
    const lower = p < 0n ? 0 : Number(p / 1024n);
    const upper = p < 0n ? 0 : Math.min(Number((p + 1023n) / 1024n), inSize - 1);
    return [lower, upper, p - 1024n * BigInt(lower)];
  };
  const data = new Int8Array(c * oh * ow);
  for (let ch = 0; ch < c; ch++)
    for (let y = 0; y < oh; y++) {
      const [y0, y1, fy] = taps(ih, oh, y);
      for (let xx = 0; xx < ow; xx++) {
        const [x0, x1, fx] = taps(iw, ow, xx);
        const at = (yy: number, xi: number): bigint => BigInt(x.data[(ch * ih + yy) * iw + xi]!);
        const sum =
          at(y0, x0) * (1024n - fy) * (1024n - fx) +
          at(y1, x0) * fy * (1024n - fx) +
          at(y0, x1) * (1024n - fy) * fx +
          at(y1, x1) * fy * fx;
        data[(ch * oh + y) * ow + xx] = Number((sum + (sum > 0n ? 1n << 19n : -(1n << 19n))) / (1n << 20n));
      }
    }
  return data;
}

/** The int8 output (NCHW) of `model` on a float (or already int8) input. */
export function referenceInt8(model: QuantizedModel, input: Float32Array | Int8Array): Int8Array {
  const q = {
    tensors: { ...model.graph.quantization.tensors },
    weightScales: model.graph.quantization.weightScales,
  };
  const values = run(model.graph, model.weights, q, input);
  const out = model.graph.nodes.find((n) => n.op === 'output')!;
  return values.get(out.name)!.data;
}

/**
 * A random quantised model of `graph` (BN-free): int8 weights in [-127, 127] with per-channel
 * scales (or one per tensor), int32 biases, input params `input`, and each conv/add output
 * calibrated on `calibration` (min/max, zero point rounded) so values use most of the int8 range.
 */
export function randomQuantizedModel(
  graph: Graph,
  seed: number,
  calibration: Float32Array,
  input: QuantParams = { scale: Math.fround(1 / 255), zeroPoint: -128 },
  perTensor = false,
): QuantizedModel {
  const rng = new SeededRandom(seed);
  const shapes = inferShapes(graph);
  const weights = new Map<string, QuantTensor>();
  const weightScales: Record<string, number[]> = {};
  for (const n of graph.nodes) {
    if (n.op !== 'conv2d') continue;
    const cin = shapes.get(n.inputs[0]!)![1] / n.attrs.groups;
    const count = n.attrs.outChannels * cin * n.attrs.kernel[0] * n.attrs.kernel[1];
    const shape = [n.attrs.outChannels, cin, n.attrs.kernel[0], n.attrs.kernel[1]];
    weights.set(`${n.name}.weight`, {
      dtype: 'int8',
      shape,
      data: Int8Array.from({ length: count }, () => Math.round((rng.uniform() * 2 - 1) * 127)),
    });
    if (n.attrs.bias)
      weights.set(`${n.name}.bias`, {
        dtype: 'int32',
        shape: [n.attrs.outChannels],
        data: Int32Array.from({ length: n.attrs.outChannels }, () => Math.round(rng.normal() * 3000)),
      });
    weightScales[n.name] = Array.from({ length: perTensor ? 1 : n.attrs.outChannels }, () =>
      Math.fround(0.002 + 0.01 * rng.uniform()),
    );
  }
  const inputNode = graph.nodes.find((n) => n.op === 'input')!;
  const tensors: Record<string, QuantParams> = { [inputNode.name]: input };
  const choose: Chooser = (_name, real) => {
    let lo = 0;
    let hi = 0;
    for (const v of real) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    // A little under the range so the clamps run too; odd zero points.
    const scale = Math.fround(Math.max((hi - lo) / 240, 1e-6));
    const zeroPoint = clampInt(Math.round(-128 - lo / scale) + Math.round(rng.uniform() * 6 - 3), -128, 127);
    return { scale, zeroPoint };
  };
  run(graph, weights, { tensors, weightScales }, calibration, choose);
  const quantization: GraphQuantization = { scheme: 'int8', tensors, weightScales };
  return { graph: { ...graph, quantization }, weights };
}
