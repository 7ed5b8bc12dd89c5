/**
 * Recovery without labels, by reconstruction (He et al., ICCV 2017; Luo et al., ICCV 2017,
 * "ThiNet"). After a unit loses channels, every 1x1 convolution that reads it (its *consumers*)
 * is refitted by ridge least squares so that its output on calibration images matches the
 * reference (unpruned) network's output of the same layer. Inputs come from the current pruned
 * network and targets from the reference, so errors left by earlier iterations are corrected
 * too. The same statistics choose which channels to drop: greedily, the channel whose removal
 * raises the refitted reconstruction error least (exact for least squares, through the inverse
 * of the normal matrix), summed over every consumer of a tied set.
 *
 * Only the sampled rows' sums are kept (XᵀX, XᵀY in float64), so a consumer with C inputs
 * costs a (C + 1)² system whatever the calibration set's size.
 */
import {
  FastDepthError,
  inferShapes,
  SeededRandom,
  type Graph,
  type Model,
  type Pads,
  type Pair,
  type TensorF32,
} from '@fastdepth/graph-dsl';
import { GramKernel } from './gram.js';
import { NormalEquations, residual, solveSubset, spdInverse, subsystem, variance } from './linalg.js';
import { forwardOnnx } from './onnx-forward.js';
import { withInputShape } from './train.js';

/** A channel-mixing 1x1 convolution that reconstruction refits. */
export interface RefitLayer {
  readonly layer: string;
  /** The layer it reads. */
  readonly input: string;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly stride: Pair;
  readonly pads: Pads;
  /** The BatchNorm that alone reads its output: the fitted intercept moves into its running mean. */
  readonly batchNorm?: { readonly layer: string; readonly epsilon: number };
  readonly bias: boolean;
}

/** Every 1x1, ungrouped conv2d of `graph`, in graph order (the layers reconstruction can refit). */
export function refitLayers(graph: Graph): RefitLayer[] {
  const shapes = inferShapes(graph);
  const users = new Map<string, string[]>();
  for (const n of graph.nodes) for (const i of n.inputs) users.set(i, [...(users.get(i) ?? []), n.name]);
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const out: RefitLayer[] = [];
  for (const node of graph.nodes) {
    if (node.op !== 'conv2d' || node.attrs.groups !== 1) continue;
    if (node.attrs.kernel[0] !== 1 || node.attrs.kernel[1] !== 1) continue;
    const readers = users.get(node.name) ?? [];
    const only = readers.length === 1 ? byName.get(readers[0]!) : undefined;
    out.push({
      layer: node.name,
      input: node.inputs[0]!,
      inChannels: shapes.get(node.inputs[0]!)![1],
      outChannels: node.attrs.outChannels,
      stride: node.attrs.stride,
      pads: node.attrs.pads,
      ...(only?.op === 'batchNorm' ? { batchNorm: { layer: only.name, epsilon: only.attrs.epsilon } } : {}),
      bias: node.attrs.bias,
    });
  }
  return out;
}

/** Whether the fit has a constant term: it needs somewhere to go (a bias, or a BN to shift). */
const hasIntercept = (l: RefitLayer): boolean => l.bias || l.batchNorm !== undefined;

/**
 * Which reference channel each current channel of a layer came from (a layer absent from the
 * map has all of its reference channels, in order). Surgery composes these.
 */
export type ChannelOrigins = ReadonlyMap<string, readonly number[]>;

export function originOf(origins: ChannelOrigins, layer: string, channels: number): readonly number[] {
  return origins.get(layer) ?? Array.from({ length: channels }, (_, i) => i);
}

/** Seeded, per layer and image: which output positions are sampled. */
export function samplePositions(
  layer: string,
  image: number,
  size: number,
  count: number,
  seed: number,
): Int32Array {
  if (size <= count) return Int32Array.from({ length: size }, (_, i) => i);
  let h = seed >>> 0;
  for (const ch of layer) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  const rng = new SeededRandom((h ^ Math.imul(image + 1, 0x9e3779b1)) >>> 0);
  const all = Int32Array.from({ length: size }, (_, i) => i);
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(rng.uniform() * (size - i));
    const t = all[i]!;
    all[i] = all[j]!;
    all[j] = t;
  }
  return all.slice(0, count).sort();
}

export interface CalibrationOptions {
  /** Output positions sampled per image and layer (default 128; small layers give all theirs). */
  readonly positions?: number;
  readonly seed?: number;
  /** Images per onnxruntime run (default 8). */
  readonly batch?: number;
}

/**
 * The reference network's outputs of every refit layer at the sampled positions of every
 * calibration image, computed once (one tapped forward pass of the reference).
 */
export class ReferenceTargets {
  private constructor(
    readonly images: readonly TensorF32[],
    private readonly rowsOf: ReadonlyMap<string, Float32Array>,
    private readonly positionsOf: ReadonlyMap<string, readonly Int32Array[]>,
    private readonly channelsOf: ReadonlyMap<string, number>,
    readonly options: Required<CalibrationOptions>,
  ) {}

  static async collect(
    reference: Model,
    images: readonly TensorF32[],
    options: CalibrationOptions = {},
  ): Promise<ReferenceTargets> {
    if (images.length === 0) throw new FastDepthError('reconstruction needs at least one calibration image');
    const o = { positions: 128, seed: 0, batch: 8, ...options };
    const [, h, w] = images[0]!.shape as [number, number, number];
    const shapes = inferShapes(withInputShape(reference.graph, [1, 3, h, w]));
    const layers = refitLayers(reference.graph).map((l) => l.layer);
    const positionsOf = new Map<string, Int32Array[]>();
    const chunks = new Map<string, Float32Array[]>();
    const channelsOf = new Map<string, number>();
    for (const layer of layers) {
      const [, k, ho, wo] = shapes.get(layer)!;
      channelsOf.set(layer, k);
      positionsOf.set(
        layer,
        images.map((_, i) => samplePositions(layer, i, ho * wo, o.positions, o.seed)),
      );
      chunks.set(layer, []);
    }
    await forwardOnnx(
      reference,
      images,
      (first, count, outputs) => {
        for (const layer of layers) {
          const t = outputs.get(layer)!;
          const [, k, ho, wo] = t.dims as [number, number, number, number];
          for (let i = 0; i < count; i++) {
            const pos = positionsOf.get(layer)![first + i]!;
            const rows = new Float32Array(pos.length * k);
            const base = i * k * ho * wo;
            for (let r = 0; r < pos.length; r++)
              for (let c = 0; c < k; c++) rows[r * k + c] = t.data[base + c * ho * wo + pos[r]!]!;
            chunks.get(layer)!.push(rows);
          }
        }
      },
      { taps: layers, output: false, batch: o.batch },
    );
    const rowsOf = new Map<string, Float32Array>();
    for (const [layer, list] of chunks) {
      const all = new Float32Array(list.reduce((s, c) => s + c.length, 0));
      let at = 0;
      for (const c of list) {
        all.set(c, at);
        at += c.length;
      }
      rowsOf.set(layer, all);
    }
    return new ReferenceTargets(images, rowsOf, positionsOf, channelsOf, o);
  }

  has(layer: string): boolean {
    return this.rowsOf.has(layer);
  }

  /**
   * Normal equations of the current network's `layers` against these targets: one tapped
   * forward pass of `model`, rows at the sampled positions; target columns follow `origins`.
   */
  async equations(
    model: Model,
    layers: readonly RefitLayer[],
    origins: ChannelOrigins,
  ): Promise<Map<string, NormalEquations>> {
    const out = new Map<string, NormalEquations>();
    const wanted = layers.filter((l) => this.rowsOf.has(l.layer));
    if (wanted.length === 0) return out;
    const rowStart = new Map<string, number[]>();
    for (const l of wanted) {
      const refK = this.channelsOf.get(l.layer)!;
      const origin = originOf(origins, l.layer, l.outChannels);
      if (origin.length !== l.outChannels || origin.some((c) => c >= refK))
        throw new FastDepthError(
          `layer "${l.layer}": ${l.outChannels} channels do not descend from the reference's ${refK}`,
        );
      out.set(l.layer, new NormalEquations(l.inChannels, l.outChannels));
      let at = 0;
      rowStart.set(
        l.layer,
        this.positionsOf.get(l.layer)!.map((p) => {
          const s = at;
          at += p.length;
          return s;
        }),
      );
    }
    // Rows of one batch per layer, handed to the GEMM kernel once the batch is gathered.
    const kernel = new GramKernel();
    const pending: Promise<void>[] = [];
    try {
      await forwardOnnx(
        model,
        this.images,
        (first, count, outputs) => {
          for (const l of wanted) {
            const x = outputs.get(l.input)!;
            const [, c, hi, wi] = x.dims as [number, number, number, number];
            const n = c + 1;
            const refK = this.channelsOf.get(l.layer)!;
            const origin = originOf(origins, l.layer, l.outChannels);
            const targets = this.rowsOf.get(l.layer)!;
            const positions = this.positionsOf.get(l.layer)!;
            const wo = Math.floor((wi + l.pads[1] + l.pads[3] - 1) / l.stride[1]) + 1;
            let rows = 0;
            for (let i = 0; i < count; i++) rows += positions[first + i]!.length;
            const xr = new Float32Array(rows * n);
            const yr = new Float32Array(rows * l.outChannels);
            let row = 0;
            for (let i = 0; i < count; i++) {
              const image = first + i;
              const pos = positions[image]!;
              const base = i * c * hi * wi;
              const start = rowStart.get(l.layer)![image]!;
              for (let r = 0; r < pos.length; r++, row++) {
                const oy = Math.floor(pos[r]! / wo);
                const ox = pos[r]! % wo;
                const iy = oy * l.stride[0] - l.pads[0];
                const ix = ox * l.stride[1] - l.pads[1];
                if (iy >= 0 && iy < hi && ix >= 0 && ix < wi)
                  for (let ch = 0; ch < c; ch++) xr[row * n + ch] = x.data[base + (ch * hi + iy) * wi + ix]!;
                xr[row * n + c] = 1;
                const t = (start + r) * refK;
                for (let k = 0; k < l.outChannels; k++)
                  yr[row * l.outChannels + k] = targets[t + origin[k]!]!;
              }
            }
            pending.push(kernel.add(out.get(l.layer)!, xr, yr, rows));
          }
        },
        { taps: [...new Set(wanted.map((l) => l.input))], output: false, batch: this.options.batch },
      );
      await Promise.all(pending);
    } finally {
      await kernel.close();
    }
    return out;
  }
}

/** Per-output weight of the reconstruction error: the following BN's scale γ / √(σ² + ε), else 1. */
export function outputScale(model: Model, layer: RefitLayer): Float64Array {
  const scale = new Float64Array(layer.outChannels).fill(1);
  const bn = layer.batchNorm;
  if (!bn) return scale;
  const gamma = model.weights.get(`${bn.layer}.weight`);
  const v = model.weights.get(`${bn.layer}.running_var`);
  if (!gamma || !v) return scale;
  for (let k = 0; k < layer.outChannels; k++) scale[k] = gamma.data[k]! / Math.sqrt(v.data[k]! + bn.epsilon);
  return scale;
}

/** One consumer of a unit as channel selection sees it. */
export interface ConsumerSystem {
  readonly equations: NormalEquations;
  /** Where the unit's channels start among the consumer's inputs. */
  readonly offset: number;
  readonly intercept: boolean;
  /** Per-output weights of the error (`outputScale`). */
  readonly scale: Float64Array;
}

export const DEFAULT_RIDGE = 1e-4;

/**
 * Greedy backward elimination (ThiNet-style, with the refit folded in): from all `channels`
 * of a unit, repeatedly drops the one whose removal raises the least-squares reconstruction
 * error least, summed over `consumers` (each normalised by its own target variance), until
 * `keep` remain. For a least-squares fit with Hessian A and solution W, dropping input j
 * costs Σ_k s_k² W_jk² / (A⁻¹)_jj and updates W and A⁻¹ by a rank-one downdate (the Schur
 * complement), so each step is O(C² + C·K) per consumer. Returns the kept channels, increasing.
 */
export function selectByReconstruction(
  consumers: readonly ConsumerSystem[],
  channels: number,
  keep: number,
  ridge = DEFAULT_RIDGE,
): number[] {
  if (!Number.isInteger(keep) || keep < 1 || keep > channels)
    throw new FastDepthError(`cannot keep ${keep} of ${channels} channels`);
  const states = consumers.map((c) => {
    const eq = c.equations;
    const all = Array.from({ length: eq.inputs }, (_, i) => i);
    const { a, b, n, index } = subsystem(eq, all, c.intercept, ridge);
    const inv = spdInverse(a, n);
    // W = A⁻¹ B.
    const k = eq.outputs;
    const w = new Float64Array(n * k);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        const f = inv[i * n + j]!;
        if (f !== 0) for (let o = 0; o < k; o++) w[i * k + o]! += f * b[j * k + o]!;
      }
    const norm = Math.max(variance(eq, c.scale), 1e-30);
    return { c, inv, w, n, k, norm, index };
  });
  const removed = new Uint8Array(channels);
  const s2 = states.map((s) => s.c.scale.map((v) => v * v));
  for (let step = 0; step < channels - keep; step++) {
    let best = -1;
    let bestCost = Infinity;
    for (let ch = 0; ch < channels; ch++) {
      if (removed[ch]) continue;
      let cost = 0;
      states.forEach((s, si) => {
        const j = s.c.offset + ch;
        const d = s.inv[j * s.n + j]!;
        let e = 0;
        for (let o = 0; o < s.k; o++) e += s2[si]![o]! * s.w[j * s.k + o]! ** 2;
        cost += e / Math.max(d, 1e-300) / s.norm;
      });
      if (cost < bestCost) {
        bestCost = cost;
        best = ch;
      }
    }
    removed[best] = 1;
    for (const s of states) {
      const j = s.c.offset + best;
      const d = s.inv[j * s.n + j]!;
      const col = new Float64Array(s.n);
      for (let i = 0; i < s.n; i++) col[i] = s.inv[i * s.n + j]!;
      const wj = s.w.slice(j * s.k, (j + 1) * s.k);
      for (let i = 0; i < s.n; i++) {
        const f = col[i]! / d;
        if (f === 0) continue;
        for (let m = 0; m < s.n; m++) s.inv[i * s.n + m]! -= f * col[m]!;
        for (let o = 0; o < s.k; o++) s.w[i * s.k + o]! -= f * wj[o]!;
      }
    }
  }
  const kept: number[] = [];
  for (let ch = 0; ch < channels; ch++) if (!removed[ch]) kept.push(ch);
  return kept;
}

/** A layer refitted: its relative reconstruction error before (inputs dropped, weights kept) is not computed; after is. */
export interface RefitResult {
  readonly model: Model;
  /** Weighted residual / weighted target variance on the calibration rows (0 = exact). */
  readonly relativeError: number;
}

/**
 * Refits `layer` of `model` (already pruned: it reads `keptInputs.length` channels) from the
 * equations collected before the cut (`keptInputs` indexes their inputs). The fitted intercept
 * goes into the conv's bias, or into the running mean of the BN reading it
 * (μ' = μ_ref − b, so BN(Wx) = BN_ref(Wx + b)); `reference` supplies μ_ref, `origin` maps
 * output channels to the reference's.
 */
export function refitLayer(
  model: Model,
  reference: Model,
  layer: RefitLayer,
  equations: NormalEquations,
  keptInputs: readonly number[],
  origin: readonly number[],
  ridge = DEFAULT_RIDGE,
): RefitResult {
  const intercept = hasIntercept(layer);
  const { w, index } = solveSubset(equations, keptInputs, intercept, ridge);
  const k = equations.outputs;
  const c = keptInputs.length;
  const weight = model.weights.get(`${layer.layer}.weight`);
  if (!weight || weight.shape[0] !== k || weight.shape[1] !== c)
    throw new FastDepthError(
      `refit of "${layer.layer}": weight is ${weight?.shape.join('x') ?? 'missing'}, expected ${k}x${c}x1x1`,
    );
  const weights = new Map(model.weights);
  const data = new Float32Array(k * c);
  for (let o = 0; o < k; o++) for (let i = 0; i < c; i++) data[o * c + i] = w[i * k + o]!;
  weights.set(`${layer.layer}.weight`, { shape: weight.shape, data });
  if (intercept) {
    const b = Float32Array.from({ length: k }, (_, o) => w[c * k + o]!);
    if (layer.bias) {
      weights.set(`${layer.layer}.bias`, { shape: [k], data: b });
    } else {
      const name = `${layer.batchNorm!.layer}.running_mean`;
      const refMean = reference.weights.get(name);
      if (!refMean) throw new FastDepthError(`refit of "${layer.layer}": the reference has no "${name}"`);
      weights.set(name, { shape: [k], data: Float32Array.from(b, (v, o) => refMean.data[origin[o]!]! - v) });
    }
  }
  const next: Model = { graph: model.graph, weights };
  const scale = outputScale(next, layer);
  const relativeError = residual(equations, w, index, scale) / Math.max(variance(equations, scale), 1e-30);
  return { model: next, relativeError };
}
