/**
 * What an int8 TFLite file says beyond its float meaning: each activation's scale and zero point
 * and each convolution's integer weights, recorded while `recover.ts` rebuilds the graph, under
 * the recovered graph's layer names. The importer then moves them onto the architecture's names
 * (`importTfliteQuantized`).
 *
 * The first thing that does not fit the project's int8 scheme (a uint8 activation inside the
 * graph, asymmetric weights, a bias whose scale is not input scale times weight scale, a
 * requantising QUANTIZE) is kept as `problem`: the float import does not care, the int8 import
 * reports it.
 */
import type { QuantParams, QuantTensor } from '@fastdepth/graph-dsl';
import type { TfliteOperator, TfliteTensor } from './read.js';
import { TensorType } from './schema.js';

export interface Int8Recording {
  /** Activation parameters by recovered layer name. */
  readonly tensors: ReadonlyMap<string, QuantParams>;
  /** `${layer}.weight` (int8, OIHW) and `${layer}.bias` (int32) by recovered layer name. */
  readonly weights: ReadonlyMap<string, QuantTensor>;
  /** Weight scales by recovered conv name. */
  readonly weightScales: ReadonlyMap<string, readonly number[]>;
  /** The first reason the file is not int8 in the project's scheme, or undefined. */
  readonly problem: string | undefined;
}

/** TFLite's own tolerance for a bias scale against input scale * filter scale (kernel_util.cc). */
const BIAS_SCALE_TOLERANCE = 1e-6;

export class Int8Recorder {
  private readonly tensors = new Map<string, QuantParams>();
  private readonly weights = new Map<string, QuantTensor>();
  private readonly weightScales = new Map<string, readonly number[]>();
  private problem: string | undefined;

  private note(op: TfliteOperator | undefined, detail: string): void {
    this.problem ??= op ? `operator ${op.index} (${op.opName}): ${detail}` : detail;
  }

  /** Per-tensor parameters of an activation tensor, or undefined (noted) when it has none. */
  private params(t: TfliteTensor, op: TfliteOperator | undefined): QuantParams | undefined {
    const q = t.quantization;
    if (!q || q.scale.length !== 1) {
      this.note(op, `tensor "${t.name}" has no per-tensor quantisation`);
      return undefined;
    }
    return { scale: q.scale[0]!, zeroPoint: q.zeroPoint[0] ?? 0 };
  }

  /**
   * `layer` (a recovered node) computes tensor `t`. Int8 tensors give the layer its parameters;
   * uint8 ones are only accepted at the graph's edges (the QUANTIZE ops around an int8 graph),
   * where `edge` is set and they must be the same values shifted by 128.
   */
  activation(layer: string, t: TfliteTensor, op: TfliteOperator | undefined, edge = false): void {
    if (t.type === TensorType.UINT8 && edge) {
      const p = this.params(t, op);
      const known = this.tensors.get(layer);
      if (p && known && (p.scale !== known.scale || p.zeroPoint !== known.zeroPoint + 128))
        this.note(op, `converting to uint8 "${t.name}" changes the values (a requantising QUANTIZE)`);
      return;
    }
    if (t.type !== TensorType.INT8) {
      this.note(op, `activation "${t.name}" is not int8`);
      return;
    }
    const p = this.params(t, op);
    if (!p) return;
    const known = this.tensors.get(layer);
    if (known && (known.scale !== p.scale || known.zeroPoint !== p.zeroPoint)) {
      // An int8 -> int8 QUANTIZE rescales: the graph has no layer for that.
      this.note(op, `tensor "${t.name}" requantises its input (scale ${known.scale} -> ${p.scale})`);
      return;
    }
    this.tensors.set(layer, p);
  }

  /**
   * A convolution's integer weights: `filter` int8 symmetric (zero points 0), one scale per
   * output channel or one, already transposed by `toOIHW` (index in OIHW -> index in the file);
   * `bias` int32 with scale input scale * filter scale.
   */
  conv(
    layer: string,
    op: TfliteOperator,
    input: TfliteTensor,
    filter: TfliteTensor,
    bias: TfliteTensor | undefined,
    shape: readonly [number, number, number, number],
    toFileIndex: (oihw: number) => number,
  ): void {
    const q = filter.quantization;
    if (filter.type !== TensorType.INT8 || !filter.data || !q) {
      this.note(op, `filter "${filter.name}" is not int8`);
      return;
    }
    if (q.zeroPoint.some((z) => z !== 0)) {
      this.note(op, `filter "${filter.name}" has non-zero zero points (the scheme's weights are symmetric)`);
      return;
    }
    const cout = shape[0];
    if (q.scale.length !== 1 && q.scale.length !== cout) {
      this.note(op, `filter "${filter.name}" has ${q.scale.length} scales for ${cout} output channels`);
      return;
    }
    const count = shape.reduce((a, b) => a * b, 1);
    const raw = new Int8Array(filter.data.buffer, filter.data.byteOffset, filter.data.byteLength);
    const data = Int8Array.from({ length: count }, (_, i) => raw[toFileIndex(i)]!);
    this.weights.set(`${layer}.weight`, { dtype: 'int8', shape, data });
    this.weightScales.set(layer, [...q.scale]);
    const inScale = input.quantization?.scale[0];
    let biasData = new Int32Array(cout);
    if (bias) {
      const bq = bias.quantization;
      if (bias.type !== TensorType.INT32 || !bias.data || !bq || inScale === undefined) {
        this.note(op, `bias "${bias.name}" is not int32 with a scale`);
        return;
      }
      for (let c = 0; c < cout; c++) {
        const expected = inScale * q.scale[q.scale.length === 1 ? 0 : c]!;
        const found = bq.scale[bq.scale.length === 1 ? 0 : c]!;
        if (Math.abs(expected - found) > BIAS_SCALE_TOLERANCE * Math.min(expected, found)) {
          this.note(
            op,
            `bias "${bias.name}" channel ${c} has scale ${found}, not input scale * filter scale (${expected})`,
          );
          return;
        }
      }
      const view = new DataView(bias.data.buffer, bias.data.byteOffset, bias.data.byteLength);
      biasData = Int32Array.from({ length: cout }, (_, c) => view.getInt32(c * 4, true));
    }
    this.weights.set(`${layer}.bias`, { dtype: 'int32', shape: [cout], data: biasData });
  }

  result(): Int8Recording {
    return {
      tensors: this.tensors,
      weights: this.weights,
      weightScales: this.weightScales,
      problem: this.problem,
    };
  }
}
