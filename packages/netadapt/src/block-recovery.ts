/**
 * Block-wise recovery in the style of few-shot knowledge distillation (FSKD, Li et al., CVPR
 * 2020): after a cut, a 1x1 correction Q is fitted by least squares on each conv's output so
 * that Q·y_student matches the teacher's y at the same layer on unlabelled images, then merged
 * into the conv it follows (W' = Q W, b' = Q b + q₀), so the deployed network keeps its shape.
 *
 * The 1x1 refit (`reconstruction.ts`) already refits every pointwise conv from its inputs;
 * this covers the convs it cannot: k x k full convs (a full K x K correction) and depthwise
 * convs (a per-channel scale and shift: a full Q would mix channels a depthwise conv cannot,
 * so it would not merge). Corrections run in graph order, each fitted on the outputs of the
 * already-corrected network before it, like the chained refit.
 */
import {
  FastDepthError,
  inferShapes,
  type Graph,
  type Model,
  type Node,
  type TensorF32,
} from '@fastdepth/graph-dsl';
import { cholesky, choleskySolve, NormalEquations, residual, variance } from './linalg.js';
import { forwardOnnx } from './onnx-forward.js';
import { originOf, samplePositions, type ChannelOrigins } from './reconstruction.js';
import { withInputShape } from './train.js';

/** A conv a correction can be merged into. */
export interface CorrectionLayer {
  readonly layer: string;
  /** `full`: a K x K correction (k x k conv, groups 1); `diagonal`: per channel (depthwise). */
  readonly kind: 'full' | 'diagonal';
  readonly channels: number;
  /** Where the fitted constant goes: the conv's bias, the running mean of the BN reading it, or nowhere. */
  readonly intercept: 'bias' | 'batchNorm' | 'none';
  readonly batchNorm?: string;
}

/** Full convs wider than this get a diagonal correction: K² unknowns need more rows than a few photos give. */
export const MAX_FULL_CORRECTION = 256;

/**
 * The convs of `graph` that block recovery corrects: every conv2d except pointwise (1x1,
 * groups 1) ones, which the refit handles; grouped convs other than depthwise are left alone.
 */
export function correctionLayers(graph: Graph): CorrectionLayer[] {
  const shapes = inferShapes(graph);
  const readers = new Map<string, Node[]>();
  for (const n of graph.nodes) for (const i of n.inputs) readers.set(i, [...(readers.get(i) ?? []), n]);
  const out: CorrectionLayer[] = [];
  for (const node of graph.nodes) {
    if (node.op !== 'conv2d') continue;
    const a = node.attrs;
    const cin = shapes.get(node.inputs[0]!)![1];
    const depthwise = a.groups === cin && a.groups === a.outChannels && a.groups > 1;
    if (a.groups !== 1 && !depthwise) continue;
    if (!depthwise && a.kernel[0] === 1 && a.kernel[1] === 1) continue;
    const only = readers.get(node.name);
    const bn = only?.length === 1 && only[0]!.op === 'batchNorm' ? only[0].name : undefined;
    out.push({
      layer: node.name,
      kind: depthwise || a.outChannels > MAX_FULL_CORRECTION ? 'diagonal' : 'full',
      channels: a.outChannels,
      intercept: a.bias ? 'bias' : bn !== undefined ? 'batchNorm' : 'none',
      ...(bn !== undefined ? { batchNorm: bn } : {}),
    });
  }
  return out;
}

/**
 * A fitted correction: y' = Q y + q₀ on the layer's output. `q` is K x K row-major with
 * q[o * K + k] the weight of input channel k in output o (diagonal corrections are stored full
 * too, zero off the diagonal); `offset` is q₀.
 */
export interface Correction {
  readonly layer: CorrectionLayer;
  readonly q: Float64Array;
  readonly offset: Float64Array;
  /** Relative squared error against the teacher before (Q = I) and after, on the calibration rows. */
  readonly before: number;
  readonly after: number;
}

export interface BlockOptions {
  /** Output positions sampled per image and layer (default 256). */
  readonly positions?: number;
  readonly seed?: number;
  /** Ridge strength (relative to the mean diagonal), pulling Q towards the identity (default 1e-3). */
  readonly ridge?: number;
  /** Images per onnxruntime run (default 8). */
  readonly batch?: number;
}

const rowsAt = (
  t: { data: Float32Array; dims: readonly number[] },
  i: number,
  pos: Int32Array,
  channels: readonly number[],
): Float32Array => {
  const [, k, ho, wo] = t.dims as [number, number, number, number];
  const base = i * k * ho * wo;
  const rows = new Float32Array(pos.length * channels.length);
  for (let r = 0; r < pos.length; r++)
    channels.forEach((c, j) => (rows[r * channels.length + j] = t.data[base + c * ho * wo + pos[r]!]!));
  return rows;
};

/** The teacher's outputs of `layers` at the sampled positions of every image (one tapped pass). */
export class TeacherFeatures {
  private constructor(
    readonly images: readonly TensorF32[],
    private readonly rowsOf: ReadonlyMap<string, Float32Array[]>,
    private readonly positionsOf: ReadonlyMap<string, Int32Array[]>,
    readonly channelsOf: ReadonlyMap<string, number>,
    readonly options: Required<BlockOptions>,
  ) {}

  static async collect(
    teacher: Model,
    images: readonly TensorF32[],
    options: BlockOptions = {},
  ): Promise<TeacherFeatures> {
    if (images.length === 0) throw new FastDepthError('block recovery needs at least one calibration image');
    const o = { positions: 256, seed: 0, ridge: 1e-3, batch: 8, ...options };
    const [, h, w] = images[0]!.shape as [number, number, number];
    const shapes = inferShapes(withInputShape(teacher.graph, [1, 3, h, w]));
    const layers = correctionLayers(teacher.graph).map((l) => l.layer);
    const positionsOf = new Map<string, Int32Array[]>();
    const rowsOf = new Map<string, Float32Array[]>();
    const channelsOf = new Map<string, number>();
    for (const layer of layers) {
      const [, k, ho, wo] = shapes.get(layer)!;
      channelsOf.set(layer, k);
      positionsOf.set(
        layer,
        images.map((_, i) => samplePositions(`fskd:${layer}`, i, ho * wo, o.positions, o.seed)),
      );
      rowsOf.set(layer, []);
    }
    if (layers.length > 0)
      await forwardOnnx(
        teacher,
        images,
        (first, count, outputs) => {
          for (const layer of layers) {
            const all = Array.from({ length: channelsOf.get(layer)! }, (_, c) => c);
            for (let i = 0; i < count; i++)
              rowsOf
                .get(layer)!
                .push(rowsAt(outputs.get(layer)!, i, positionsOf.get(layer)![first + i]!, all));
          }
        },
        { taps: layers, output: false, batch: o.batch },
      );
    return new TeacherFeatures(images, rowsOf, positionsOf, channelsOf, o);
  }

  has(layer: string): boolean {
    return this.rowsOf.has(layer);
  }

  /**
   * Fits the correction of `layer` in `model` (one tapped forward pass): the student's output
   * channels are matched to the teacher's channels they descend from (`origins`).
   */
  async fit(model: Model, layer: CorrectionLayer, origins: ChannelOrigins): Promise<Correction> {
    const refK = this.channelsOf.get(layer.layer);
    if (refK === undefined)
      throw new FastDepthError(`block recovery: the teacher has no conv "${layer.layer}"`);
    const k = layer.channels;
    const origin = channelOrigin(model.graph, origins, layer.layer);
    if (!origin)
      throw new FastDepthError(
        `block recovery: the channels of "${layer.layer}" have no single origin in the teacher`,
      );
    if (origin.length !== k || origin.some((c) => c >= refK))
      throw new FastDepthError(
        `layer "${layer.layer}": ${k} channels do not descend from the teacher's ${refK}`,
      );
    const eq = new NormalEquations(k, k);
    // Diagonal: per channel Σs, Σs², Σst (Σt, Σt² are in eq).
    const s1 = new Float64Array(k);
    const s2 = new Float64Array(k);
    const st = new Float64Array(k);
    const own = Array.from({ length: k }, (_, c) => c);
    const teacherRows = this.rowsOf.get(layer.layer)!;
    const positions = this.positionsOf.get(layer.layer)!;
    await forwardOnnx(
      model,
      this.images,
      (first, count, outputs) => {
        for (let i = 0; i < count; i++) {
          const image = first + i;
          const pos = positions[image]!;
          const x = rowsAt(outputs.get(layer.layer)!, i, pos, own);
          const full = teacherRows[image]!;
          const y = new Float32Array(pos.length * k);
          for (let r = 0; r < pos.length; r++)
            for (let c = 0; c < k; c++) y[r * k + c] = full[r * refK + origin[c]!]!;
          if (layer.kind === 'full') eq.addRows(x, y, pos.length);
          else {
            for (let r = 0; r < pos.length; r++)
              for (let c = 0; c < k; c++) {
                const sv = x[r * k + c]!;
                const tv = y[r * k + c]!;
                s1[c]! += sv;
                s2[c]! += sv * sv;
                st[c]! += sv * tv;
                eq.ySum[c]! += tv;
                eq.yy[c]! += tv * tv;
              }
            eq.rows += pos.length;
          }
        }
      },
      { taps: [layer.layer], output: false, batch: this.options.batch },
    );
    return layer.kind === 'full'
      ? solveFull(eq, layer, this.options.ridge)
      : solveDiagonal(eq, s1, s2, st, layer, this.options.ridge);
  }
}

/**
 * Which teacher channel each output channel of `layer` came from. Origins record producers
 * (convs with groups 1); a depthwise conv, BN, activation or resize carries its input's
 * channels, so those walk up to the producer (an add's inputs are tied: one keep list).
 */
export function channelOrigin(
  graph: Graph,
  origins: ChannelOrigins,
  layer: string,
): readonly number[] | undefined {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  let node = byName.get(layer);
  while (node) {
    if (node.op === 'conv2d' && node.attrs.groups === 1)
      return originOf(origins, node.name, node.attrs.outChannels);
    if (node.op === 'input') return undefined;
    // Channels that mix inputs (concat, pixel shuffle) or grouped convs have no single origin.
    if (!CARRIERS.has(node.op)) return undefined;
    node = byName.get(node.inputs[0]!);
  }
  return undefined;
}

/** Ops whose output channel c is (a function of) input channel c. */
const CARRIERS: ReadonlySet<string> = new Set([
  'conv2d',
  'batchNorm',
  'relu',
  'relu6',
  'add',
  'upsample',
  'resize',
  'unpool',
  'maxPool',
  'sigmoid',
  'hardSigmoid',
  'hardSwish',
  'clip',
  'mul',
  'avgPool2d',
]);

const ones = (k: number): Float64Array => new Float64Array(k).fill(1);

/** Ridge least squares pulled towards Q = I: (XᵀX + λI) W = XᵀY + λI, intercept unregularised. */
function solveFull(eq: NormalEquations, layer: CorrectionLayer, ridge: number): Correction {
  const k = layer.channels;
  const intercept = layer.intercept !== 'none';
  const full = k + 1;
  const n = intercept ? full : k;
  const g = eq.gram();
  let trace = 0;
  for (let i = 0; i < k; i++) trace += g[i * full + i]!;
  const lambda = (ridge * trace) / k + 1e-12;
  const a = new Float64Array(n * n);
  const b = new Float64Array(n * k);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) a[r * n + c] = g[r * full + c]!;
    b.set(eq.xy.subarray(r * k, (r + 1) * k), r * k);
    if (r < k) {
      a[r * n + r]! += lambda;
      b[r * k + r]! += lambda;
    }
  }
  cholesky(a, n);
  choleskySolve(a, n, b, k);
  const index = Array.from({ length: n }, (_, i) => (i < k ? i : k));
  const identity = new Float64Array(k * k);
  for (let i = 0; i < k; i++) identity[i * k + i] = 1;
  const norm = Math.max(variance(eq, ones(k)), 1e-30);
  const before = residual(eq, identity, index.slice(0, k), ones(k)) / norm;
  const after = residual(eq, b, index, ones(k)) / norm;
  // b is (inputs x outputs): transpose to q[o * K + i].
  const q = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let o = 0; o < k; o++) q[o * k + i] = b[i * k + o]!;
  const offset = intercept ? b.slice(k * k, k * k + k) : new Float64Array(k);
  return { layer, q, offset, before, after };
}

function solveDiagonal(
  eq: NormalEquations,
  s1: Float64Array,
  s2: Float64Array,
  st: Float64Array,
  layer: CorrectionLayer,
  ridge: number,
): Correction {
  const k = layer.channels;
  const m = Math.max(1, eq.rows);
  const intercept = layer.intercept !== 'none';
  const q = new Float64Array(k * k);
  const offset = new Float64Array(k);
  let before = 0;
  let after = 0;
  let norm = 0;
  for (let c = 0; c < k; c++) {
    // Centred sums when there is an intercept; raw ones when there is not.
    const sxx = intercept ? s2[c]! - (s1[c]! * s1[c]!) / m : s2[c]!;
    const sxy = intercept ? st[c]! - (s1[c]! * eq.ySum[c]!) / m : st[c]!;
    const lambda = (ridge * s2[c]!) / m + 1e-12;
    const scale = (sxy + lambda) / (sxx + lambda);
    const shift = intercept ? (eq.ySum[c]! - scale * s1[c]!) / m : 0;
    q[c * k + c] = scale;
    offset[c] = shift;
    const tt = eq.yy[c]!;
    // Σ(t − (a s + b))² expanded from the sums.
    const sse = (a: number, b0: number): number =>
      Math.max(
        0,
        tt - 2 * a * st[c]! - 2 * b0 * eq.ySum[c]! + a * a * s2[c]! + 2 * a * b0 * s1[c]! + m * b0 * b0,
      );
    before += sse(1, 0);
    after += sse(scale, shift);
    norm += Math.max(0, tt - (eq.ySum[c]! * eq.ySum[c]!) / m);
  }
  norm = Math.max(norm, 1e-30);
  return { layer, q, offset, before: before / norm, after: after / norm };
}

const weightOf = (model: Model, name: string): TensorF32 => {
  const t = model.weights.get(name);
  if (!t) throw new FastDepthError(`block recovery: missing weight "${name}"`);
  return t;
};

/**
 * `correction` merged into its conv: W' = Q W, b' = Q b + q₀ (or, without a bias, the BN's
 * running mean shifted by −q₀: BN(y + q₀) with μ is BN(y) with μ − q₀). Same graph, new weights.
 */
export function mergeCorrection(model: Model, correction: Correction): Model {
  const { layer, q, offset } = correction;
  const k = layer.channels;
  const w = weightOf(model, `${layer.layer}.weight`);
  if (w.shape[0] !== k)
    throw new FastDepthError(
      `block recovery: "${layer.layer}.weight" has ${w.shape[0]} filters, expected ${k}`,
    );
  const per = w.data.length / k;
  const data = new Float32Array(w.data.length);
  for (let o = 0; o < k; o++)
    for (let i = 0; i < k; i++) {
      const f = q[o * k + i]!;
      if (f === 0) continue;
      for (let j = 0; j < per; j++) data[o * per + j]! += f * w.data[i * per + j]!;
    }
  const weights = new Map(model.weights);
  weights.set(`${layer.layer}.weight`, { shape: w.shape, data });
  if (layer.intercept === 'bias') {
    const b = weightOf(model, `${layer.layer}.bias`);
    const nb = Float32Array.from({ length: k }, (_, o) => {
      let s = offset[o]!;
      for (let i = 0; i < k; i++) s += q[o * k + i]! * b.data[i]!;
      return s;
    });
    weights.set(`${layer.layer}.bias`, { shape: b.shape, data: nb });
  } else if (layer.intercept === 'batchNorm') {
    const name = `${layer.batchNorm!}.running_mean`;
    const mean = weightOf(model, name);
    weights.set(name, { shape: mean.shape, data: Float32Array.from(mean.data, (v, o) => v - offset[o]!) });
  }
  return { graph: model.graph, weights };
}

/**
 * `correction` as an explicit 1x1 conv after its layer (what FSKD trains before merging): a
 * wider graph, for checking that the merge computes the same thing.
 */
export function insertCorrection(model: Model, correction: Correction): Model {
  const { layer, q, offset } = correction;
  const k = layer.channels;
  const name = `${layer.layer}__correction`;
  const nodes: Node[] = [];
  for (const node of model.graph.nodes) {
    nodes.push({ ...node, inputs: node.inputs.map((i) => (i === layer.layer ? name : i)) });
    if (node.name === layer.layer)
      nodes.push({
        op: 'conv2d',
        name,
        inputs: [layer.layer],
        attrs: {
          outChannels: k,
          kernel: [1, 1],
          stride: [1, 1],
          pads: [0, 0, 0, 0],
          dilation: [1, 1],
          groups: 1,
          bias: true,
        },
      });
  }
  const weights = new Map(model.weights);
  weights.set(`${name}.weight`, { shape: [k, k, 1, 1], data: Float32Array.from(q) });
  weights.set(`${name}.bias`, { shape: [k], data: Float32Array.from(offset) });
  return { graph: { ...model.graph, nodes }, weights };
}

/** What one pass of block recovery did, per corrected layer. */
export interface BlockReport {
  readonly layer: string;
  readonly kind: 'full' | 'diagonal';
  readonly before: number;
  readonly after: number;
}

/**
 * Corrects every layer of `model` in `layers` (default: all correction layers) in graph order,
 * each on the outputs of the network corrected so far, and merges each correction. A
 * correction that does not lower its layer's error on the calibration rows is skipped.
 */
export async function blockRecover(
  model: Model,
  teacher: TeacherFeatures,
  origins: ChannelOrigins,
  only?: ReadonlySet<string>,
): Promise<{ model: Model; report: BlockReport[] }> {
  let current = model;
  const report: BlockReport[] = [];
  for (const layer of correctionLayers(model.graph)) {
    if (!teacher.has(layer.layer) || (only && !only.has(layer.layer))) continue;
    if (!channelOrigin(current.graph, origins, layer.layer)) continue;
    const c = await teacher.fit(current, layer, origins);
    // Nothing to correct (upstream of every cut), or a fit that does not help: leave it.
    if (!(c.before > 1e-10 && c.after < c.before)) continue;
    current = mergeCorrection(current, c);
    report.push({ layer: layer.layer, kind: layer.kind, before: c.before, after: c.after });
  }
  return { model: current, report };
}
