/**
 * Recovers a DSL graph from a parsed TFLite file: convolutions (PAD ops merged into their
 * padding), fused activations as relu/relu6 nodes, resizes, adds, concats, max pools.
 * Quantised constants are dequantised to float32 (w = scale[c] * (q - zero_point[c])) and
 * weights transposed to the DSL's layouts (conv OHWI -> OIHW, depthwise 1HWC -> (C,1,kh,kw)).
 * The result is a BN-free model whose convolutions carry the (BN-folded) biases; the importer
 * then matches it against an architecture of the family.
 */
import {
  FastDepthError,
  FormatError,
  GraphBuilder,
  type Model,
  type Pads,
  type Tensor,
  type TensorF32,
  halfToFloat,
} from '@fastdepth/graph-dsl';
import {
  elementBytes,
  type Activation,
  type TfliteFile,
  type TfliteOperator,
  type TfliteTensor,
} from './read.js';
import { Int8Recorder, type Int8Recording } from './int8.js';
import { BuiltinOperator, TensorType } from './schema.js';

/** What the recovery saw, for the import report. */
export interface TfliteRecovery {
  readonly model: Model;
  /** Count of each TFLite op (by name). */
  readonly opCounts: Readonly<Record<string, number>>;
  /** True when weights were stored quantised (int8/uint8). */
  readonly quantized: boolean;
  /** Input tensor: NHWC shape, type name, scale and zero point (when quantised). */
  readonly input: TensorSummary;
  readonly output: TensorSummary;
  /** The file's int8 quantisation under the recovered layer names (see `int8.ts`). */
  readonly int8: Int8Recording;
}

export interface TensorSummary {
  readonly name: string;
  readonly shape: readonly number[];
  readonly type: string;
  readonly scale?: number;
  readonly zeroPoint?: number;
}

const TYPE_NAMES = new Map<number, string>(Object.entries(TensorType).map(([k, v]) => [v, k.toLowerCase()]));

function summary(t: TfliteTensor): TensorSummary {
  const q = t.quantization;
  const base = { name: t.name, shape: t.shape, type: TYPE_NAMES.get(t.type) ?? `type${t.type}` };
  return q && q.scale.length === 1 ? { ...base, scale: q.scale[0]!, zeroPoint: q.zeroPoint[0] ?? 0 } : base;
}

/** A value flowing between operators: a DSL node, maybe behind a PAD not yet absorbed. */
interface Value {
  readonly tensor: Tensor;
  readonly pads?: Pads;
  /** Index of the PAD operator that produced `pads`, for errors. */
  readonly padOp?: number;
}

/** Reads a little-endian element of `type` at element index `i`. */
function rawElement(view: DataView, type: number, i: number): number {
  switch (type) {
    case TensorType.FLOAT32:
      return view.getFloat32(i * 4, true);
    case TensorType.INT32:
      return view.getInt32(i * 4, true);
    case TensorType.INT8:
      return view.getInt8(i);
    case TensorType.UINT8:
      return view.getUint8(i);
    case TensorType.INT16:
      return view.getInt16(i * 2, true);
    case TensorType.INT64:
      return Number(view.getBigInt64(i * 8, true));
    case TensorType.FLOAT16:
      return halfToFloat(view.getUint16(i * 2, true));
    default:
      return Number.NaN;
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** TensorFlow's SAME padding for one axis: [before, after]. */
function samePads(size: number, kernel: number, stride: number, dilation: number): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

class Recoverer {
  private readonly g = new GraphBuilder('tflite');
  private readonly values = new Map<number, Value>();
  /** Constant tensors produced by DEQUANTIZE of another constant: output -> input. */
  private readonly dequantizedFrom = new Map<number, number>();
  private readonly weights = new Map<string, TensorF32>();
  private readonly opCounts: Record<string, number> = {};
  private quantized = false;
  private readonly int8 = new Int8Recorder();

  constructor(
    private readonly file: TfliteFile,
    private readonly source: string,
  ) {}

  private fail(op: TfliteOperator | undefined, detail: string): never {
    throw new FormatError(this.source, op ? `operator ${op.index} (${op.opName}): ${detail}` : detail);
  }

  private tensor(index: number, op?: TfliteOperator): TfliteTensor {
    const t = this.file.tensors[index];
    if (!t) this.fail(op, `refers to missing tensor ${index}`);
    return t;
  }

  private isConstant(index: number): boolean {
    return this.dequantizedFrom.has(index) || this.tensor(index).data !== null;
  }

  /** A constant as float32, dequantised per channel along its quantized dimension. */
  private constant(
    index: number,
    op: TfliteOperator,
  ): { shape: readonly number[]; data: Float32Array; t: TfliteTensor } {
    const from = this.dequantizedFrom.get(index);
    const t = this.tensor(from ?? index, op);
    if (!t.data) this.fail(op, `input tensor "${t.name}" is not a constant`);
    const size = elementBytes(t.type);
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (size === undefined)
      this.fail(op, `constant "${t.name}" has unsupported type ${TYPE_NAMES.get(t.type) ?? t.type}`);
    if (t.data.length !== count * size) {
      this.fail(
        op,
        `constant "${t.name}" holds ${t.data.length} bytes, shape [${t.shape.join(', ')}] needs ${count * size}`,
      );
    }
    const view = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const data = new Float32Array(count);
    const q = t.quantization;
    const isFloat = t.type === TensorType.FLOAT32 || t.type === TensorType.FLOAT16;
    if (!q || isFloat) {
      for (let i = 0; i < count; i++) data[i] = rawElement(view, t.type, i);
      return { shape: t.shape, data, t };
    }
    this.quantized ||= t.type === TensorType.INT8 || t.type === TensorType.UINT8;
    const dim = q.dimension;
    const channels = q.scale.length;
    if (channels !== 1 && t.shape[dim] !== channels) {
      this.fail(
        op,
        `constant "${t.name}" has ${channels} scales but dimension ${dim} has size ${t.shape[dim]}`,
      );
    }
    // Elements of channel c along `dim` sit in runs of `inner` elements, every `channels * inner`.
    const inner = channels === 1 ? count : t.shape.slice(dim + 1).reduce((a, b) => a * b, 1);
    for (let i = 0; i < count; i++) {
      const c = channels === 1 ? 0 : Math.floor(i / inner) % channels;
      data[i] = q.scale[c]! * (rawElement(view, t.type, i) - (q.zeroPoint[c] ?? q.zeroPoint[0] ?? 0));
    }
    return { shape: t.shape, data, t };
  }

  /** Integer contents of a small int32/int64 constant (paddings, sizes). */
  private ints(index: number, op: TfliteOperator): number[] {
    const t = this.tensor(index, op);
    if (!t.data || (t.type !== TensorType.INT32 && t.type !== TensorType.INT64)) {
      this.fail(op, `expected an int32 constant for "${t.name}"`);
    }
    const size = t.type === TensorType.INT32 ? 4 : 8;
    const view = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    return Array.from({ length: t.data.length / size }, (_, i) => rawElement(view, t.type, i));
  }

  private value(index: number, op: TfliteOperator): Value {
    const v = this.values.get(index);
    if (!v)
      this.fail(
        op,
        `reads tensor "${this.tensor(index, op).name}", which no earlier operator produced (not an activation?)`,
      );
    return v;
  }

  /** An activation without a pending PAD (PAD is only absorbed by convolutions). */
  private plain(index: number, op: TfliteOperator): Tensor {
    const v = this.value(index, op);
    if (v.pads)
      this.fail(op, `reads the output of PAD operator ${v.padOp}; only convolutions can absorb a PAD`);
    return v.tensor;
  }

  /** Runs a GraphBuilder declaration, turning its errors into FormatErrors naming the operator. */
  private declare(op: TfliteOperator, f: () => Tensor): Tensor {
    try {
      return f();
    } catch (error) {
      if (error instanceof FastDepthError) this.fail(op, error.message);
      throw error;
    }
  }

  private activation(op: TfliteOperator, x: Tensor, act: Activation): Tensor {
    // A fused activation shares the op's output tensor, so the layer before it gets its parameters.
    const out = op.outputs[0];
    if (act !== 'none' && out !== undefined) this.int8.activation(x.name, this.tensor(out, op), op);
    switch (act) {
      case 'none':
        return x;
      case 'relu':
        return this.declare(op, () => this.g.relu(`op${op.index}_relu`, x));
      case 'relu6':
        return this.declare(op, () => this.g.relu6(`op${op.index}_relu6`, x));
    }
  }

  /** Records `t` as the value of the operator's output, checking the shape against the file. */
  private produce(op: TfliteOperator, t: Tensor, extra: Partial<Value> = {}): void {
    const out = op.outputs[0];
    if (out === undefined) this.fail(op, 'has no output');
    const expected = this.tensor(out, op).shape;
    const [n, c, h, w] = t.shape;
    const nhwc = [
      n,
      h + (extra.pads ? extra.pads[0] + extra.pads[2] : 0),
      w + (extra.pads ? extra.pads[1] + extra.pads[3] : 0),
      c,
    ];
    if (expected.length === 4 && !sameShape(expected, nhwc)) {
      this.fail(
        op,
        `recovered output shape [${nhwc.join(', ')}] (NHWC) differs from the file's [${expected.join(', ')}]`,
      );
    }
    const edge = op.code === BuiltinOperator.QUANTIZE || op.code === BuiltinOperator.DEQUANTIZE;
    this.int8.activation(t.name, this.tensor(out, op), op, edge);
    this.values.set(out, { tensor: t, ...extra });
  }

  private conv(op: TfliteOperator, depthwise: boolean): void {
    if (op.options.kind !== 'conv') this.fail(op, 'missing convolution options');
    const o = op.options.conv;
    const [xi, wi, bi] = op.inputs;
    if (xi === undefined || wi === undefined) this.fail(op, 'expects input and filter tensors');
    const x = this.value(xi, op);
    const w = this.constant(wi, op);
    if (w.shape.length !== 4) this.fail(op, `filter "${w.t.name}" has rank ${w.shape.length}, expected 4`);
    const [d0, kh, kw, d3] = w.shape as [number, number, number, number];
    const cin = x.tensor.shape[1];
    const [h, wd] = [x.tensor.shape[2], x.tensor.shape[3]];
    let pads: Pads = x.pads ?? [0, 0, 0, 0];
    if (o.padding === 'same') {
      if (x.pads) this.fail(op, 'SAME padding after an explicit PAD is not supported');
      const [t, b] = samePads(h, kh, o.stride[0], o.dilation[0]);
      const [l, r] = samePads(wd, kw, o.stride[1], o.dilation[1]);
      pads = [t, l, b, r];
    }
    const cout = depthwise ? d3 : d0;
    const groups = depthwise ? cin : cin / d3;
    if (depthwise && (d0 !== 1 || d3 % cin !== 0)) {
      this.fail(op, `depthwise filter shape [${w.shape.join(', ')}] does not fit ${cin} input channels`);
    }
    if (!depthwise && !Number.isInteger(groups))
      this.fail(op, `filter has ${d3} input channels, input has ${cin}`);
    // OHWI -> OIHW; depthwise 1HWC -> (C, 1, kh, kw).
    const cinG = depthwise ? 1 : d3;
    const data = new Float32Array(cout * cinG * kh * kw);
    for (let oc = 0; oc < cout; oc++) {
      for (let i = 0; i < cinG; i++) {
        for (let y = 0; y < kh; y++) {
          for (let xx = 0; xx < kw; xx++) {
            const src = depthwise ? (y * kw + xx) * d3 + oc : ((oc * kh + y) * kw + xx) * d3 + i;
            data[((oc * cinG + i) * kh + y) * kw + xx] = w.data[src]!;
          }
        }
      }
    }
    const name = `op${op.index}_${depthwise ? 'dwconv' : 'conv'}`;
    let bias: Float32Array = new Float32Array(cout);
    if (bi !== undefined && bi >= 0) {
      const b = this.constant(bi, op);
      if (b.data.length !== cout)
        this.fail(op, `bias "${b.t.name}" has ${b.data.length} values for ${cout} output channels`);
      bias = b.data;
      if (!b.t.quantization && b.t.type === TensorType.INT32)
        this.fail(op, `int32 bias "${b.t.name}" has no quantisation scale`);
    }
    const y = this.declare(op, () =>
      this.g.conv2d(name, x.tensor, {
        outChannels: cout,
        kernel: [kh, kw],
        stride: o.stride,
        pads,
        dilation: o.dilation,
        groups,
        bias: true,
      }),
    );
    this.weights.set(`${name}.weight`, { shape: [cout, cinG, kh, kw], data });
    this.weights.set(`${name}.bias`, { shape: [cout], data: bias });
    const k = cinG * kh * kw;
    this.int8.conv(
      name,
      op,
      this.tensor(xi, op),
      w.t,
      bi !== undefined && bi >= 0 ? this.tensor(this.dequantizedFrom.get(bi) ?? bi, op) : undefined,
      [cout, cinG, kh, kw],
      (i) => {
        const [oc, i0, y, xx] = [
          Math.floor(i / k),
          Math.floor(i / (kh * kw)) % cinG,
          Math.floor(i / kw) % kh,
          i % kw,
        ];
        return depthwise ? (y * kw + xx) * d3 + oc : ((oc * kh + y) * kw + xx) * d3 + i0;
      },
    );
    this.produce(op, this.activation(op, y, o.activation));
  }

  private pad(op: TfliteOperator): void {
    const [xi, pi] = op.inputs;
    if (xi === undefined || pi === undefined) this.fail(op, 'expects input and paddings tensors');
    const x = this.value(xi, op);
    if (x.pads) this.fail(op, 'PAD of a PAD is not supported');
    const p = this.ints(pi, op);
    if (p.length !== 8) this.fail(op, `paddings must be 4x2, found ${p.length} values`);
    const [nb, na, t, b, l, r, cb, ca] = p as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    if (nb || na || cb || ca) this.fail(op, 'pads the batch or channel axis');
    this.produce(op, x.tensor, { pads: [t, l, b, r], padOp: op.index });
  }

  private resize(op: TfliteOperator, mode: 'nearest' | 'bilinear'): void {
    if (op.options.kind !== 'resize') this.fail(op, 'missing resize options');
    const [xi, si] = op.inputs;
    if (xi === undefined || si === undefined) this.fail(op, 'expects input and size tensors');
    const x = this.plain(xi, op);
    const size = this.ints(si, op);
    const [, , h, w] = x.shape;
    if (size[0] !== 2 * h || size[1] !== 2 * w) {
      this.fail(op, `resizes ${h}x${w} to ${size.join('x')}; only x2 upsampling is part of the family`);
    }
    const { alignCorners, halfPixelCenters } = op.options;
    if (alignCorners) this.fail(op, 'align_corners=true is not part of the family');
    // Nearest x2 picks floor(y/2) with or without half-pixel centres; bilinear needs them to
    // equal PyTorch's align_corners=False.
    if (mode === 'bilinear' && !halfPixelCenters)
      this.fail(op, 'bilinear resize without half_pixel_centers differs from PyTorch');
    this.produce(
      op,
      this.declare(op, () => this.g.upsample(`op${op.index}_up`, x, mode)),
    );
  }

  private operator(op: TfliteOperator): void {
    this.opCounts[op.opName] = (this.opCounts[op.opName] ?? 0) + 1;
    switch (op.code) {
      case BuiltinOperator.QUANTIZE:
      case BuiltinOperator.DEQUANTIZE: {
        const [xi] = op.inputs;
        const out = op.outputs[0];
        if (xi === undefined || out === undefined) this.fail(op, 'expects one input and one output');
        if (this.isConstant(xi)) this.dequantizedFrom.set(out, this.dequantizedFrom.get(xi) ?? xi);
        // On activations these only change the storage type; the float graph passes through.
        else this.produce(op, this.plain(xi, op));
        return;
      }
      case BuiltinOperator.PAD:
        this.pad(op);
        return;
      case BuiltinOperator.CONV_2D:
        this.conv(op, false);
        return;
      case BuiltinOperator.DEPTHWISE_CONV_2D:
        this.conv(op, true);
        return;
      case BuiltinOperator.RELU:
      case BuiltinOperator.RELU6: {
        const x = this.plain(op.inputs[0] ?? -1, op);
        this.produce(op, this.activation(op, x, op.code === BuiltinOperator.RELU ? 'relu' : 'relu6'));
        return;
      }
      case BuiltinOperator.ADD: {
        if (op.options.kind !== 'add') this.fail(op, 'missing add options');
        const act = op.options.activation;
        if (op.inputs.some((i) => this.isConstant(i)))
          this.fail(op, 'adds a constant; only activation + activation is part of the family');
        const xs = op.inputs.map((i) => this.plain(i, op));
        const y = this.declare(op, () => this.g.add(`op${op.index}_add`, ...xs));
        this.produce(op, this.activation(op, y, act));
        return;
      }
      case BuiltinOperator.CONCATENATION: {
        if (op.options.kind !== 'concat') this.fail(op, 'missing concatenation options');
        const { axis, activation } = op.options;
        if (axis !== 3 && axis !== -1)
          this.fail(op, `concatenates along axis ${axis}; only channels (3) are supported`);
        const xs = op.inputs.map((i) => this.plain(i, op));
        const y = this.declare(op, () => this.g.concat(`op${op.index}_concat`, ...xs));
        this.produce(op, this.activation(op, y, activation));
        return;
      }
      case BuiltinOperator.RESIZE_NEAREST_NEIGHBOR:
        this.resize(op, 'nearest');
        return;
      case BuiltinOperator.RESIZE_BILINEAR:
        this.resize(op, 'bilinear');
        return;
      case BuiltinOperator.MAX_POOL_2D: {
        if (op.options.kind !== 'pool') this.fail(op, 'missing pool options');
        const o = op.options;
        const x = this.plain(op.inputs[0] ?? -1, op);
        const [t, b] = o.padding === 'same' ? samePads(x.shape[2], o.filter[0], o.stride[0], 1) : [0, 0];
        const [l, r] = o.padding === 'same' ? samePads(x.shape[3], o.filter[1], o.stride[1], 1) : [0, 0];
        const y = this.declare(op, () =>
          this.g.maxPool(`op${op.index}_maxpool`, x, {
            kernel: o.filter,
            stride: o.stride,
            pads: [t, l, b, r],
          }),
        );
        this.produce(op, this.activation(op, y, o.activation));
        return;
      }
      default:
        this.fail(op, 'this op is not part of any FastDepth-family network');
    }
  }

  run(): TfliteRecovery {
    const { file } = this;
    if (file.inputs.length !== 1)
      this.fail(undefined, `the model has ${file.inputs.length} inputs; FastDepth has one image input`);
    if (file.outputs.length !== 1)
      this.fail(undefined, `the model has ${file.outputs.length} outputs; FastDepth has one depth output`);
    const inT = this.tensor(file.inputs[0]!);
    if (inT.shape.length !== 4)
      this.fail(undefined, `input "${inT.name}" has shape [${inT.shape.join(', ')}], expected NHWC`);
    const [n, h, w, c] = inT.shape as [number, number, number, number];
    this.values.set(inT.index, { tensor: this.g.input('input', [n, c, h, w]) });
    for (const op of file.operators) this.operator(op);
    const outT = this.tensor(file.outputs[0]!);
    const last = this.values.get(outT.index);
    if (!last) this.fail(undefined, `output "${outT.name}" is not produced by any operator`);
    if (last.pads) this.fail(undefined, 'the output is a PAD');
    this.g.output('output', last.tensor);
    return {
      model: { graph: this.g.build(), weights: this.weights },
      opCounts: this.opCounts,
      quantized: this.quantized,
      input: summary(inT),
      output: summary(outT),
      int8: this.int8.result(),
    };
  }
}

/** Recovers the float32, BN-folded DSL model a TFLite file computes. */
export function recoverTflite(file: TfliteFile, source: string): TfliteRecovery {
  return new Recoverer(file, source).run();
}
