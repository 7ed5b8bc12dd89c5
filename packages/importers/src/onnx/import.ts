/**
 * `importOnnx`: an ONNX file as PyTorch's exporter (or our own emitter) writes it, to a DSL graph
 * and weights. Recovered ops: Conv (with or without bias), ConvTranspose, BatchNormalization,
 * Relu, Clip (ReLU, ReLU6 or any bounds; min/max as inputs, initializers, Constant nodes or
 * pre-opset-11 attributes), Sigmoid, HardSigmoid, HardSwish, Mul, GlobalAveragePool, ReduceMean
 * over H and W, AveragePool, MaxPool, Resize/Upsample (nearest or linear, any integer scale or
 * size), Add/Sum, Concat, DepthToSpace,
 * Identity; the exporter's constant shape arithmetic (Shape, Gather, Unsqueeze, Concat, Cast,
 * Slice, ...) is folded. Every node that cannot be recovered is reported in one error.
 *
 * A FastDepth-family file (or any file with `arch`/`graph` given) is matched against the
 * architecture layer by layer (match.ts), since initializer names are not trusted
 * (`conv0.0.weight`, `onnx::Conv_123`); any other network is imported as its own graph, its
 * layers named after the file's nodes.
 */
import { basename } from 'node:path';
import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';
import {
  commentText,
  FastDepthError,
  FormatError,
  fuseHardSwish,
  GraphBuilder,
  halfToFloat,
  isGraphName,
  GRAPH_NAME_RULE,
  quote,
  type Graph,
  type Model,
  type Node,
  type Tensor,
  type TensorF32,
} from '@fastdepth/graph-dsl';
import {
  buildArch,
  fastdepth,
  FASTDEPTH_PRUNED_WIDTHS,
  FASTDEPTH_WIDTHS,
  type FastDepthWidths,
} from '@fastdepth/fastdepth-arch';
import { archNameOf, matchModel } from '../match.js';
import { FOLDABLE_OPS, foldConstant, type Constant } from './fold.js';

const proto: typeof onnx = onnxProto.onnx;
const DataType = proto.TensorProto.DataType;
const AttributeType = proto.AttributeProto.AttributeType;

export interface OnnxImportOptions {
  /**
   * Architecture to match (any name of the family). Default: infer FastDepth's widths from the
   * convolutions, which only works for FastDepth-shaped graphs.
   */
  readonly arch?: string;
  /** Match against this graph instead (e.g. a pruned variant loaded from JSON); wins over `arch`. */
  readonly graph?: Graph;
  /** Name of the graph a file outside the family becomes; default: the file's base name. */
  readonly name?: string;
}

export interface OnnxImport {
  readonly model: Model;
  readonly archName: string;
  /** True when the file had BatchNorm folded into conv biases (identity BNs were built). */
  readonly foldedBatchNorm: boolean;
  /** True when the file was imported as its own graph (no family architecture matched it). */
  readonly standalone: boolean;
}

type Long = number | { toNumber(): number };

function num(v: Long | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

function decodeTensor(t: onnx.ITensorProto, source: string): Constant {
  const dims = (t.dims ?? []).map(num);
  const count = dims.reduce((a, b) => a * b, 1);
  const where = `tensor ${quote(t.name ?? '')}`;
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : null;
  if (t.dataLocation === proto.TensorProto.DataLocation.EXTERNAL) {
    throw new FormatError(
      source,
      `${where} keeps its data in an external file, which is not supported (save with all tensors inside)`,
    );
  }
  const data = new Float64Array(count);
  const view = raw ? new DataView(raw.buffer, raw.byteOffset, raw.byteLength) : null;
  const need = (bytes: number): void => {
    if (raw && raw.length !== count * bytes) {
      throw new FormatError(
        source,
        `${where}: ${raw.length} raw bytes for dims [${dims.join(', ')}] (needs ${count * bytes})`,
      );
    }
  };
  const from = (values: readonly Long[] | null | undefined): void => {
    if (!values || values.length !== count) {
      throw new FormatError(
        source,
        `${where}: holds ${values?.length ?? 0} values for dims [${dims.join(', ')}]`,
      );
    }
    values.forEach((v, i) => (data[i] = num(v)));
  };
  switch (t.dataType) {
    case DataType.FLOAT:
      need(4);
      if (view) for (let i = 0; i < count; i++) data[i] = view.getFloat32(i * 4, true);
      else from(t.floatData);
      break;
    case DataType.DOUBLE:
      need(8);
      if (view) for (let i = 0; i < count; i++) data[i] = view.getFloat64(i * 8, true);
      else from(t.doubleData);
      break;
    case DataType.INT64:
      need(8);
      if (view) for (let i = 0; i < count; i++) data[i] = Number(view.getBigInt64(i * 8, true));
      else from(t.int64Data);
      break;
    case DataType.INT32:
      need(4);
      if (view) for (let i = 0; i < count; i++) data[i] = view.getInt32(i * 4, true);
      else from(t.int32Data);
      break;
    case DataType.FLOAT16:
      need(2);
      if (view) for (let i = 0; i < count; i++) data[i] = halfToFloat(view.getUint16(i * 2, true));
      else from((t.int32Data ?? []).map((h) => halfToFloat(h)));
      break;
    default:
      throw new FormatError(
        source,
        `${where}: data type ${t.dataType ?? 'unset'} is not supported (float, double, float16, int32, int64 are)`,
      );
  }
  return { dims, data };
}

type AttrValue = number | string | readonly number[] | Constant | undefined;

function attrs(node: onnx.INodeProto, source: string): Map<string, AttrValue> {
  const out = new Map<string, AttrValue>();
  for (const a of node.attribute ?? []) {
    const name = a.name ?? '';
    switch (a.type) {
      case AttributeType.INT:
        out.set(name, num(a.i));
        break;
      case AttributeType.FLOAT:
        out.set(name, a.f ?? 0);
        break;
      case AttributeType.INTS:
        out.set(
          name,
          (a.ints ?? []).map((v) => num(v as Long)),
        );
        break;
      case AttributeType.FLOATS:
        out.set(name, a.floats ?? []);
        break;
      case AttributeType.STRING:
        out.set(name, new TextDecoder().decode(a.s ?? new Uint8Array()));
        break;
      case AttributeType.TENSOR:
        out.set(name, a.t ? decodeTensor(a.t, source) : undefined);
        break;
      default:
        break;
    }
  }
  return out;
}

/** Kahn's algorithm over value names: ONNX requires sorted nodes, but not every writer obeys. */
function topological(
  nodes: readonly onnx.INodeProto[],
  available: ReadonlySet<string>,
  source: string,
): onnx.INodeProto[] {
  const ready = new Set(available);
  ready.add('');
  const pending = [...nodes];
  const out: onnx.INodeProto[] = [];
  while (pending.length > 0) {
    const i = pending.findIndex((n) => (n.input ?? []).every((x) => ready.has(x)));
    if (i < 0) {
      const n = pending[0]!;
      const missing = (n.input ?? []).filter((x) => !ready.has(x));
      throw new FormatError(
        source,
        `node ${quote(n.name ?? '')} (${commentText(n.opType ?? '')}) reads ${missing.map((m) => quote(m)).join(', ')}, which nothing produces (or the graph has a cycle)`,
      );
    }
    const [n] = pending.splice(i, 1);
    out.push(n!);
    for (const o of n!.output ?? []) ready.add(o);
  }
  return out;
}

/**
 * The input row ONNX's nearest Resize reads for output row `d` (the operator's definition, in
 * exact arithmetic), to compare with PyTorch's floor(d * in / out).
 */
function onnxNearest(
  d: number,
  inSize: number,
  outSize: number,
  scale: number,
  ctm: string,
  nearestMode: string,
): number {
  let x: number;
  switch (ctm) {
    case 'half_pixel':
      x = (d + 0.5) / scale - 0.5;
      break;
    case 'pytorch_half_pixel':
      x = outSize > 1 ? (d + 0.5) / scale - 0.5 : 0;
      break;
    case 'align_corners':
      x = outSize === 1 ? 0 : (d * (inSize - 1)) / (outSize - 1);
      break;
    case 'tf_half_pixel_for_nn':
      x = (d + 0.5) / scale;
      break;
    case 'asymmetric':
      x = d / scale;
      break;
    default:
      return Number.NaN; // tf_crop_and_resize reads the roi: never PyTorch's
  }
  const frac = x - Math.floor(x);
  let i: number;
  if (nearestMode === 'floor') i = Math.floor(x);
  else if (nearestMode === 'ceil') i = Math.ceil(x);
  else if (frac === 0.5) i = nearestMode === 'round_prefer_ceil' ? Math.ceil(x) : Math.floor(x);
  else i = Math.round(x);
  return Math.min(Math.max(i, 0), inSize - 1);
}

/** A node the recoverer cannot turn into DSL layers; collected, then reported together. */
class NodeProblem extends Error {}
/** A node reading the output of a node that already failed: skipped, not reported again. */
class Downstream extends Error {}

/** Most unsupported nodes named in one error; the rest are counted. */
const MAX_LISTED_PROBLEMS = 12;

/** An ONNX node name as a DSL layer name: an identifier made of its letters and digits. */
function identifierOf(name: string): string {
  return name
    .replace(/[^A-Za-z0-9_]+/g, '_')
    .replace(/_+/g, '_')
    .replace(/^_|_$/g, '')
    .slice(0, 80);
}

class OnnxRecoverer {
  private readonly g = new GraphBuilder('onnx');
  private readonly values = new Map<string, Tensor>();
  private readonly constants = new Map<string, Constant>();
  private readonly weights = new Map<string, TensorF32>();
  private readonly descriptions = new Map<string, string>();
  private readonly usedNames = new Set<string>();
  private readonly failed = new Set<string>();
  private readonly problems: string[] = [];
  private index = 0;

  constructor(
    private readonly model: onnx.IModelProto,
    private readonly source: string,
  ) {}

  private fail(node: onnx.INodeProto | undefined, detail: string): never {
    if (node)
      throw new NodeProblem(`node ${quote(node.name ?? '')} (${commentText(node.opType ?? '')}): ${detail}`);
    throw new FormatError(this.source, detail);
  }

  private value(node: onnx.INodeProto, name: string | undefined): Tensor {
    if (name !== undefined && this.failed.has(name)) throw new Downstream();
    const v = name === undefined ? undefined : this.values.get(name);
    if (!v)
      this.fail(
        node,
        `input ${quote(name ?? '')} is not an activation (a constant where a tensor was expected?)`,
      );
    return v;
  }

  /** The DSL name of a node's layer: its ONNX name as an identifier, unique, else `kind<index>`. */
  private layerName(node: onnx.INodeProto, kind: string): string {
    const base = identifierOf(node.name ?? '');
    let name = /^[A-Za-z_]/.test(base) ? base : `${kind}${this.index}`;
    while (this.usedNames.has(name)) name = `${base || kind}_${this.index++}`;
    this.index++;
    this.usedNames.add(name);
    return name;
  }

  private constant(node: onnx.INodeProto, name: string | undefined, what: string): Constant {
    const c = name === undefined || name === '' ? undefined : this.constants.get(name);
    if (!c) this.fail(node, `${what} ${quote(name ?? '')} must be an initializer or a Constant`);
    return c;
  }

  private declare(node: onnx.INodeProto, kind: string, f: (name: string) => Tensor): Tensor {
    const name = this.layerName(node, kind);
    this.descriptions.set(name, `node ${quote(node.name ?? '')} (${commentText(node.opType ?? '')})`);
    try {
      const t = f(name);
      const out = node.output?.[0];
      if (out !== undefined) this.values.set(out, t);
      return t;
    } catch (error) {
      if (error instanceof FastDepthError) this.fail(node, error.message);
      throw error;
    }
  }

  private setWeight(name: string, dims: readonly number[], data: Float64Array): void {
    this.weights.set(name, { shape: dims, data: Float32Array.from(data) });
  }

  private str(a: Map<string, AttrValue>, key: string, fallback: string): string {
    const v = a.get(key);
    return typeof v === 'string' ? v : fallback;
  }

  private ints(a: Map<string, AttrValue>, key: string, fallback: readonly number[]): readonly number[] {
    const v = a.get(key);
    return Array.isArray(v) ? (v as readonly number[]) : fallback;
  }

  private conv(node: onnx.INodeProto, transpose: boolean): void {
    const a = attrs(node, this.source);
    const [xi, wi, bi] = node.input ?? [];
    const x = this.value(node, xi);
    const w = this.constant(node, wi, 'weight');
    if (w.dims.length !== 4)
      this.fail(node, `weight has ${w.dims.length} dims; only 2-D convolutions are supported`);
    const autoPad = this.str(a, 'auto_pad', 'NOTSET');
    if (autoPad !== 'NOTSET' && autoPad !== 'VALID')
      this.fail(node, `auto_pad ${autoPad} is not supported (PyTorch writes explicit pads)`);
    if (transpose && a.has('output_shape'))
      this.fail(node, 'output_shape is not supported (use pads and output_padding)');
    const kernel = this.ints(a, 'kernel_shape', w.dims.slice(2));
    const stride = this.ints(a, 'strides', [1, 1]);
    const pads = this.ints(a, 'pads', [0, 0, 0, 0]);
    const dilation = this.ints(a, 'dilations', [1, 1]);
    const groups = num(a.get('group') as number | undefined) || 1;
    const bias = bi !== undefined && bi !== '' ? this.constant(node, bi, 'bias') : undefined;
    const out = transpose ? w.dims[1]! * groups : w.dims[0]!;
    const pair = (v: readonly number[]): [number, number] => [v[0]!, v[1]!];
    const t = this.declare(node, transpose ? 'convT' : 'conv', (name) =>
      transpose
        ? this.g.convTranspose2d(name, x, {
            outChannels: out,
            kernel: pair(kernel),
            stride: pair(stride),
            pads: [pads[0]!, pads[1]!, pads[2]!, pads[3]!],
            outputPadding: pair(this.ints(a, 'output_padding', [0, 0])),
            groups,
            bias: bias !== undefined,
          })
        : this.g.conv2d(name, x, {
            outChannels: out,
            kernel: pair(kernel),
            stride: pair(stride),
            pads: [pads[0]!, pads[1]!, pads[2]!, pads[3]!],
            dilation: pair(dilation),
            groups,
            bias: bias !== undefined,
          }),
    );
    if (transpose && dilation.some((d) => d !== 1))
      this.fail(node, 'dilated transposed convolutions are not supported');
    this.setWeight(`${t.name}.weight`, w.dims, w.data);
    if (bias) this.setWeight(`${t.name}.bias`, [out], bias.data);
  }

  private batchNorm(node: onnx.INodeProto): void {
    const a = attrs(node, this.source);
    const [xi, si, bi, mi, vi] = node.input ?? [];
    const x = this.value(node, xi);
    if (num(a.get('training_mode') as number | undefined) !== 0)
      this.fail(node, 'training_mode=1 is not an inference graph');
    const eps = typeof a.get('epsilon') === 'number' ? (a.get('epsilon') as number) : 1e-5;
    const t = this.declare(node, 'bn', (name) => this.g.batchNorm(name, x, eps));
    const c = x.shape[1];
    const params: [string | undefined, string][] = [
      [si, 'weight'],
      [bi, 'bias'],
      [mi, 'running_mean'],
      [vi, 'running_var'],
    ];
    for (const [input, suffix] of params) {
      const p = this.constant(node, input, suffix);
      if (p.data.length !== c) this.fail(node, `${suffix} has ${p.data.length} values for ${c} channels`);
      this.setWeight(`${t.name}.${suffix}`, [c], p.data);
    }
  }

  private clip(node: onnx.INodeProto): void {
    const a = attrs(node, this.source);
    const [xi, mini, maxi] = node.input ?? [];
    const x = this.value(node, xi);
    const bound = (input: string | undefined, attr: string, fallback: number): number => {
      if (input !== undefined && input !== '') {
        const c = this.constant(node, input, attr);
        if (c.data.length !== 1) this.fail(node, `${attr} must be a scalar`);
        return c.data[0]!;
      }
      const v = a.get(attr);
      return typeof v === 'number' ? v : fallback;
    };
    const lo = bound(mini, 'min', Number.NEGATIVE_INFINITY);
    const hi = bound(maxi, 'max', Number.POSITIVE_INFINITY);
    const unbounded = (v: number): boolean => !Number.isFinite(v) || Math.abs(v) >= 3.4e38;
    if (lo === 0 && hi === 6) this.declare(node, 'relu6', (name) => this.g.relu6(name, x));
    else if (lo === 0 && unbounded(hi)) this.declare(node, 'relu', (name) => this.g.relu(name, x));
    else if (!unbounded(lo) && !unbounded(hi))
      this.declare(node, 'clip', (name) => this.g.clip(name, x, lo, hi));
    else
      this.fail(node, `Clip(${lo}, ${hi}) with one open bound is not supported (ReLU, ReLU6 or two bounds)`);
  }

  /** The opset of the default ONNX domain (Resize's inputs and defaults depend on it). */
  private opset(): number {
    const entry = (this.model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
    return entry ? num(entry.version) : 0;
  }

  /**
   * Resize (opsets 10-19) and Upsample (7-9) to `upsample` (exactly x2) or `resize`, when the
   * file's coordinate mapping is PyTorch's: nearest as asymmetric + floor (or any mapping
   * that reads the same rows), linear as half_pixel. Scales or sizes must be constants once
   * the shape arithmetic is folded.
   */
  private resize(node: onnx.INodeProto): void {
    const a = attrs(node, this.source);
    const inputs = node.input ?? [];
    const x = this.value(node, inputs[0]);
    const [n, c, h, w] = x.shape;
    const opset = this.opset();
    // Resize 11+: X, roi, scales, sizes; Resize 10 and Upsample 9: X, scales; Upsample 7: attribute.
    const modern = node.opType === 'Resize' && opset >= 11;
    const scalesName = modern ? inputs[2] : inputs[1];
    const sizesName = modern ? inputs[3] : undefined;
    const given = (name: string | undefined, what: string): readonly number[] | undefined => {
      if (name === undefined || name === '') return undefined;
      const v = this.constants.get(name);
      if (!v) this.fail(node, `${what} ${quote(name)} is not a constant (nor constant shape arithmetic)`);
      return v.data.length > 0 ? [...v.data] : undefined;
    };
    const scales =
      given(scalesName, 'scales') ??
      (Array.isArray(a.get('scales')) ? (a.get('scales') as number[]) : undefined);
    const sizes = given(sizesName, 'sizes');
    for (const [key, ok] of [
      ['antialias', num(a.get('antialias') as number | undefined) === 0],
      ['axes', !a.has('axes')],
      ['keep_aspect_ratio_policy', this.str(a, 'keep_aspect_ratio_policy', 'stretch') === 'stretch'],
    ] as const)
      if (!ok) this.fail(node, `attribute ${key} is not supported (PyTorch's exporter does not write it)`);
    let out: [number, number];
    /** ONNX's own scale per spatial axis: the given factor, else out / in. */
    let onnxScale: [number, number];
    if (sizes) {
      if (sizes.length !== 4 || sizes[0] !== n || sizes[1] !== c)
        this.fail(node, `sizes [${sizes.join(', ')}] must keep batch ${n} and channels ${c}`);
      out = [sizes[2]!, sizes[3]!];
      onnxScale = [out[0] / h, out[1] / w];
    } else if (scales) {
      if (scales.length !== 4 || scales[0] !== 1 || scales[1] !== 1)
        this.fail(node, `scales [${scales.join(', ')}] must be 1 on batch and channels`);
      const side = (size: number, scale: number, axis: string): number => {
        // Float32 factors such as 1/3 land a hair off an integer size: accept those.
        const exact = size * scale;
        const rounded = Math.round(exact);
        if (rounded < 1 || Math.abs(exact - rounded) > 1e-4 * Math.max(1, rounded))
          this.fail(
            node,
            `scale ${scale} of ${axis} ${size} makes ${exact} rows, not a whole number: PyTorch then maps coordinates by 1/scale, which no DSL resize does (export with size= instead)`,
          );
        return rounded;
      };
      out = [side(h, scales[2]!, 'height'), side(w, scales[3]!, 'width')];
      onnxScale = [scales[2]!, scales[3]!];
    } else this.fail(node, 'needs constant scales or sizes');
    const mode = this.str(a, 'mode', 'nearest');
    const ctm = modern ? this.str(a, 'coordinate_transformation_mode', 'half_pixel') : 'asymmetric';
    if (mode === 'nearest') {
      // Resize 10 and Upsample upscale by floor(dst / scale) (onnxruntime's "simple" rounding).
      const nearestMode = modern ? this.str(a, 'nearest_mode', 'round_prefer_floor') : 'floor';
      const readsPyTorchRows = (inSize: number, outSize: number, scale: number): boolean =>
        Array.from({ length: outSize }, (_, d) => d).every(
          (d) =>
            onnxNearest(d, inSize, outSize, scale, ctm, nearestMode) === Math.floor((d * inSize) / outSize),
        );
      // asymmetric + floor is what PyTorch writes for its nearest: taken as PyTorch's own indices.
      const pytorch = ctm === 'asymmetric' && nearestMode === 'floor';
      if (
        !pytorch &&
        !(readsPyTorchRows(h, out[0], onnxScale[0]) && readsPyTorchRows(w, out[1], onnxScale[1]))
      )
        this.fail(
          node,
          `nearest resize with ${ctm} / ${nearestMode} reads other rows than PyTorch's nearest (asymmetric / floor) at ${h}x${w} to ${out[0]}x${out[1]}`,
        );
    } else if (mode === 'linear' || mode === 'bilinear') {
      const halfPixel = ctm === 'half_pixel' || (ctm === 'pytorch_half_pixel' && out[0] > 1 && out[1] > 1);
      if (!halfPixel)
        this.fail(
          node,
          modern
            ? `linear resize with ${ctm} is not PyTorch's align_corners=False (half_pixel)`
            : `linear ${node.opType} (opset ${opset}) maps coordinates asymmetrically, unlike PyTorch's bilinear; export with opset 11 or later`,
        );
    } else {
      this.fail(node, `resize mode ${quote(mode)} has no DSL equivalent (nearest and linear do)`);
    }
    const dsl = mode === 'nearest' ? 'nearest' : 'bilinear';
    if (out[0] === 2 * h && out[1] === 2 * w)
      this.declare(node, 'up', (name) => this.g.upsample(name, x, dsl));
    else if (out[0] % h === 0 && out[1] % w === 0)
      this.declare(node, 'resize', (name) =>
        this.g.resize(name, x, dsl, { scale: [out[0] / h, out[1] / w] }),
      );
    else this.declare(node, 'resize', (name) => this.g.resize(name, x, dsl, { size: out }));
  }

  /** Shape arithmetic on constants (and the static shapes of activations): evaluated now. */
  private fold(node: onnx.INodeProto): boolean {
    const inputs = node.input ?? [];
    const out = node.output?.[0] ?? '';
    if (node.opType === 'Shape') {
      const x = this.value(node, inputs[0]);
      const at = attrs(node, this.source);
      const dims = [...x.shape];
      const rank = dims.length;
      const bound = (v: AttrValue, fallback: number): number =>
        typeof v === 'number' ? Math.max(0, Math.min(rank, v < 0 ? v + rank : v)) : fallback;
      const data = Float64Array.from(dims.slice(bound(at.get('start'), 0), bound(at.get('end'), rank)));
      this.constants.set(out, { dims: [data.length], data });
      return true;
    }
    if (!FOLDABLE_OPS.has(node.opType ?? '')) return false;
    const given = inputs.map((i) => (i === '' ? undefined : this.constants.get(i)));
    if (inputs.some((i, k) => i !== '' && !given[k])) return false; // an activation: not shape arithmetic
    const at = attrs(node, this.source);
    try {
      this.constants.set(
        out,
        foldConstant({
          opType: node.opType ?? '',
          inputs: given,
          int: (name, fallback) => (typeof at.get(name) === 'number' ? (at.get(name) as number) : fallback),
          ints: (name) => (Array.isArray(at.get(name)) ? (at.get(name) as number[]) : undefined),
          tensor: (name) => {
            const v = at.get(name);
            return v && typeof v === 'object' && !Array.isArray(v) ? (v as Constant) : undefined;
          },
        }),
      );
    } catch (error) {
      this.fail(node, `cannot fold constant: ${error instanceof Error ? error.message : String(error)}`);
    }
    return true;
  }

  private pool(node: onnx.INodeProto, kind: 'max' | 'avg'): void {
    const at = attrs(node, this.source);
    if (num(at.get('ceil_mode') as number | undefined) !== 0) this.fail(node, 'ceil_mode=1 is not supported');
    const autoPad = this.str(at, 'auto_pad', 'NOTSET');
    if (autoPad !== 'NOTSET' && autoPad !== 'VALID') this.fail(node, `auto_pad ${autoPad} is not supported`);
    if (this.ints(at, 'dilations', [1, 1]).some((d) => d !== 1))
      this.fail(node, 'dilated pooling is not supported');
    const x = this.value(node, node.input?.[0]);
    const k = this.ints(at, 'kernel_shape', []);
    if (k.length !== 2) this.fail(node, `kernel_shape [${k.join(', ')}] is not 2-D`);
    const s = this.ints(at, 'strides', [1, 1]);
    const p = this.ints(at, 'pads', [0, 0, 0, 0]);
    const o = { kernel: [k[0]!, k[1]!], stride: [s[0]!, s[1]!], pads: [p[0]!, p[1]!, p[2]!, p[3]!] } as const;
    if (kind === 'max') this.declare(node, 'maxpool', (name) => this.g.maxPool(name, x, o));
    else {
      // ONNX's count_include_pad defaults to 0 (PyTorch's to true: its exporter writes it).
      const countIncludePad = num(at.get('count_include_pad') as number | undefined) === 1;
      this.declare(node, 'avgpool', (name) => this.g.avgPool2d(name, x, { ...o, countIncludePad }));
    }
  }

  private mul(node: onnx.INodeProto): void {
    const [ai, bi] = node.input ?? [];
    if ([ai, bi].some((i) => i !== undefined && this.constants.has(i)))
      this.fail(
        node,
        'multiplies by a constant; only activation x activation (e.g. squeeze-excite) is supported',
      );
    let x = this.value(node, ai);
    let gate = this.value(node, bi);
    // The per-channel operand goes second (the DSL broadcasts input 1 only).
    if (x.shape[2] * x.shape[3] === 1 && gate.shape[2] * gate.shape[3] > 1) [x, gate] = [gate, x];
    this.declare(node, 'mul', (name) => this.g.mul(name, x, gate));
  }

  private node(node: onnx.INodeProto): void {
    const inputs = node.input ?? [];
    const a = (): Map<string, AttrValue> => attrs(node, this.source);
    if (this.fold(node)) return;
    switch (node.opType) {
      case 'Constant': {
        const v = a().get('value');
        if (!v || typeof v !== 'object' || Array.isArray(v))
          this.fail(node, 'only tensor-valued Constants are supported');
        this.constants.set(node.output?.[0] ?? '', v as Constant);
        return;
      }
      case 'Identity': {
        const src = inputs[0] ?? '';
        const c = this.constants.get(src);
        if (c) this.constants.set(node.output?.[0] ?? '', c);
        else this.values.set(node.output?.[0] ?? '', this.value(node, src));
        return;
      }
      case 'Conv':
        this.conv(node, false);
        return;
      case 'ConvTranspose':
        this.conv(node, true);
        return;
      case 'BatchNormalization':
        this.batchNorm(node);
        return;
      case 'Relu': {
        const x = this.value(node, inputs[0]);
        this.declare(node, 'relu', (name) => this.g.relu(name, x));
        return;
      }
      case 'Clip':
        this.clip(node);
        return;
      case 'Sigmoid': {
        const x = this.value(node, inputs[0]);
        this.declare(node, 'sigmoid', (name) => this.g.sigmoid(name, x));
        return;
      }
      case 'HardSigmoid': {
        const at = a();
        const alpha = typeof at.get('alpha') === 'number' ? (at.get('alpha') as number) : 0.2;
        const beta = typeof at.get('beta') === 'number' ? (at.get('beta') as number) : 0.5;
        if (Math.abs(alpha - 1 / 6) > 1e-6 || Math.abs(beta - 0.5) > 1e-6)
          this.fail(node, `HardSigmoid(alpha ${alpha}, beta ${beta}) is not PyTorch's relu6(x + 3) / 6`);
        const x = this.value(node, inputs[0]);
        this.declare(node, 'hardsigmoid', (name) => this.g.hardSigmoid(name, x));
        return;
      }
      case 'HardSwish': {
        const x = this.value(node, inputs[0]);
        this.declare(node, 'hardswish', (name) => this.g.hardSwish(name, x));
        return;
      }
      case 'Mul':
        this.mul(node);
        return;
      case 'GlobalAveragePool': {
        const x = this.value(node, inputs[0]);
        this.declare(node, 'gap', (name) => this.g.globalAvgPool(name, x));
        return;
      }
      case 'ReduceMean': {
        const at = a();
        const axes = (
          this.ints(at, 'axes', []).length > 0
            ? this.ints(at, 'axes', [])
            : inputs[1]
              ? [...this.constant(node, inputs[1], 'axes').data]
              : []
        ).map((v) => (v < 0 ? v + 4 : v));
        const keep = num(at.get('keepdims') as number | undefined) !== 0 || !at.has('keepdims');
        if (!keep || [...axes].sort().join(',') !== '2,3')
          this.fail(
            node,
            `ReduceMean over axes [${axes.join(', ')}] (keepdims ${keep ? 1 : 0}): only the mean over H and W with keepdims is supported`,
          );
        const x = this.value(node, inputs[0]);
        this.declare(node, 'gap', (name) => this.g.globalAvgPool(name, x));
        return;
      }
      case 'AveragePool':
        this.pool(node, 'avg');
        return;
      case 'Resize':
      case 'Upsample':
        this.resize(node);
        return;
      case 'Add':
      case 'Sum': {
        const xs = inputs.map((i) => this.value(node, i));
        this.declare(node, 'add', (name) => this.g.add(name, ...xs));
        return;
      }
      case 'Concat': {
        const axis = num(a().get('axis') as number | undefined);
        if (axis !== 1 && axis !== -3)
          this.fail(node, `concatenates along axis ${axis}; only channels (1) are supported`);
        const xs = inputs.map((i) => this.value(node, i));
        this.declare(node, 'concat', (name) => this.g.concat(name, ...xs));
        return;
      }
      case 'MaxPool':
        this.pool(node, 'max');
        return;
      case 'DepthToSpace': {
        const at = a();
        if (at.get('mode') !== 'CRD' || num(at.get('blocksize') as number | undefined) !== 2) {
          this.fail(
            node,
            'only DepthToSpace blocksize 2, mode CRD (PyTorch PixelShuffle) is part of the family',
          );
        }
        const x = this.value(node, inputs[0]);
        this.declare(node, 'shuffle', (name) => this.g.pixelShuffle(name, x));
        return;
      }
      default:
        this.fail(node, 'this op has no DSL equivalent');
    }
  }

  run(): { model: Model; describe: (n: Node) => string } {
    const graph = this.model.graph;
    if (!graph) throw new FormatError(this.source, 'not an ONNX model (no graph)');
    for (const t of graph.initializer ?? []) this.constants.set(t.name ?? '', decodeTensor(t, this.source));
    const realInputs = (graph.input ?? []).filter((i) => !this.constants.has(i.name ?? ''));
    if (realInputs.length !== 1)
      throw new FormatError(
        this.source,
        `the graph has ${realInputs.length} non-constant inputs; imported networks have one image input`,
      );
    const input = realInputs[0]!;
    const dims = input.type?.tensorType?.shape?.dim ?? [];
    const shape = dims.map((d) =>
      d.dimValue !== null && d.dimValue !== undefined ? num(d.dimValue as Long) : 0,
    );
    if (shape.length !== 4)
      throw new FormatError(
        this.source,
        `input ${quote(input.name ?? '')} has rank ${shape.length}, expected NCHW`,
      );
    // Dynamic dims: batch 1, 3 channels, FastDepth's 224.
    const fixed: [number, number, number, number] = [
      shape[0] || 1,
      shape[1] || 3,
      shape[2] || 224,
      shape[3] || 224,
    ];
    this.values.set(input.name ?? '', this.g.input('input', fixed));
    const available = new Set([...this.values.keys(), ...this.constants.keys()]);
    for (const node of topological(graph.node ?? [], available, this.source)) {
      try {
        this.node(node);
      } catch (error) {
        if (!(error instanceof NodeProblem || error instanceof Downstream)) throw error;
        if (error instanceof NodeProblem) this.problems.push(error.message);
        for (const o of node.output ?? []) this.failed.add(o);
      }
    }
    if (this.problems.length > 0) {
      const listed = this.problems.slice(0, MAX_LISTED_PROBLEMS).join('; ');
      const more = this.problems.length - MAX_LISTED_PROBLEMS;
      throw new FormatError(
        this.source,
        `${this.problems.length} node${this.problems.length === 1 ? '' : 's'} cannot be imported: ${listed}${more > 0 ? `; and ${more} more` : ''}`,
      );
    }
    const outputs = graph.output ?? [];
    if (outputs.length !== 1)
      throw new FormatError(
        this.source,
        `the graph has ${outputs.length} outputs; imported networks have one output`,
      );
    const out = this.values.get(outputs[0]!.name ?? '');
    if (!out)
      throw new FormatError(
        this.source,
        `output ${quote(outputs[0]!.name ?? '')} is not computed by the graph`,
      );
    this.g.output('output', out);
    const descriptions = this.descriptions;
    return {
      // PyTorch writes nn.Hardswish as x * HardSigmoid(x) before opset 14: one op again.
      model: { graph: fuseHardSwish(this.g.build()), weights: this.weights },
      describe: (n) => descriptions.get(n.name) ?? quote(n.name),
    };
  }
}

function decodeModel(bytes: Uint8Array, source: string): onnx.ModelProto {
  let model: onnx.ModelProto;
  try {
    model = proto.ModelProto.decode(bytes);
  } catch (error) {
    throw new FormatError(
      source,
      `not an ONNX model (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  if (!model.graph) throw new FormatError(source, 'not an ONNX model (no graph)');
  return model;
}

/** FastDepth's widths from a recovered graph's full convolutions (see the TFLite importer). */
function fastdepthWidths(graph: Graph): FastDepthWidths | undefined {
  const full = graph.nodes.flatMap((n) =>
    n.op === 'conv2d' && n.attrs.groups === 1 ? [n.attrs.outChannels] : [],
  );
  const depthwise = graph.nodes.filter((n) => n.op === 'conv2d' && n.attrs.groups > 1).length;
  if (full.length !== 20 || depthwise !== 18) return undefined;
  return { encoder: full.slice(0, 14), decoder: full.slice(14, 19) };
}

function sameWidths(a: FastDepthWidths, b: FastDepthWidths): boolean {
  const eq = (x: readonly number[], y: readonly number[]): boolean =>
    x.length === y.length && x.every((v, i) => v === y[i]);
  return eq(a.encoder, b.encoder) && eq(a.decoder, b.decoder);
}

/** A graph name from a file name: `nets/my-net.v2.onnx` -> `my-net_v2`. */
function nameFromFile(source: string): string {
  const base = basename(source).replace(/\.onnx$/i, '');
  const name = base.replace(/[^A-Za-z0-9_-]+/g, '_').replace(/^[_-]+|[_-]+$/g, '');
  return /^[A-Za-z]/.test(name) ? name : `onnx_${name || 'model'}`;
}

/**
 * Imports an ONNX model. A FastDepth-shaped file is matched against FastDepth (widths inferred);
 * with `options.arch` or `options.graph`, against that architecture, layer by layer; any other
 * network becomes its own graph (`standalone`), named `options.name` or after the file.
 */
export function importOnnx(bytes: Uint8Array, source: string, options: OnnxImportOptions = {}): OnnxImport {
  const recovered = new OnnxRecoverer(decodeModel(bytes, source), source).run();
  const input = recovered.model.graph.nodes[0]!;
  const inputSize =
    input.op === 'input' ? ([input.attrs.shape[2], input.attrs.shape[3]] as const) : undefined;
  const size = inputSize ? { inputSize } : {};
  let graph: Graph;
  let archName: string;
  try {
    if (options.graph) {
      graph = options.graph;
      archName = archNameOf(graph, source, options.arch);
    } else if (options.arch !== undefined) {
      archName = options.arch;
      graph = buildArch(options.arch, size);
    } else {
      const widths = fastdepthWidths(recovered.model.graph);
      if (!widths) {
        const name = options.name ?? nameFromFile(source);
        if (!isGraphName(name))
          throw new FormatError(source, `option "name": ${GRAPH_NAME_RULE}, found ${quote(name)}`);
        const graph: Graph = { ...recovered.model.graph, name, meta: { importedFrom: basename(source) } };
        return {
          model: { graph, weights: recovered.model.weights },
          archName: name,
          foldedBatchNorm: false,
          standalone: true,
        };
      }
      archName = sameWidths(widths, FASTDEPTH_PRUNED_WIDTHS) ? 'fastdepth-pruned' : 'fastdepth';
      graph = sameWidths(widths, FASTDEPTH_WIDTHS)
        ? buildArch('fastdepth', size)
        : fastdepth({ widths, name: archName, ...size });
    }
  } catch (error) {
    if (error instanceof FormatError) throw error;
    if (error instanceof FastDepthError) throw new FormatError(source, error.message);
    throw error;
  }
  const { weights, identityBatchNorms } = matchModel(graph, recovered.model, {
    source,
    archName,
    describe: recovered.describe,
  });
  return {
    model: { graph, weights },
    archName,
    foldedBatchNorm: identityBatchNorms.length > 0,
    standalone: false,
  };
}
