/**
 * Quantised graphs: TFLite's int8 scheme as plain data beside a graph.
 *
 * A quantised model is a BatchNorm-free graph (convolutions carry their biases, as after
 * `foldBatchNorm`) whose `quantization` annotation gives every tensor's affine parameters,
 * and integer weights: int8 convolution weights (symmetric, one scale per output channel or
 * one per tensor) and int32 biases whose scale is `inputScale * weightScale[c]` with zero
 * point 0. A real value r is represented by q with `r = scale * (q - zeroPoint)`.
 *
 * Tensors are keyed by the name of the layer that produces them. Ops that do not change the
 * quantised values' meaning (relu, relu6, clip, nearest or bilinear upsample/resize, max and
 * average pools, global average pool, unpool, output) carry their input's parameters exactly (a
 * bilinear value is an integer mix of four, TFLite's or XNNPACK's, `quant/bilinear.ts`; an average is the rounded
 * mean of the raw integers, TFLite's AVERAGE_POOL_2D requirement), so relu is a clamp at the zero
 * point, clip(min, max) a clamp at the quantised bounds like relu6's, and a conv followed by
 * relu6 computes the same integers fused or not (TFLite fuses them into one tensor). A channel
 * concat's inputs all carry the concat's parameters (TFLite's CONCATENATION restriction), so it
 * copies integers too.
 *
 * Sigmoid and hardSigmoid output scale 1/256 and zero point -128 (TFLite's LOGISTIC requirement:
 * [0, 1) in 256 steps); they and hardSwish (calibrated output) are 256-entry tables of the float
 * function (`quant/lut.ts`). mul (elementwise, or a (N, C, 1, 1) factor broadcast over H and W:
 * squeeze-excite) has calibrated output parameters and requantises the product of the centred
 * integers, TFLite's MUL.
 */
import type { Graph } from '../ir.js';

/** Per-tensor affine int8 parameters: real = scale * (q - zeroPoint), q in [-128, 127]. */
export interface QuantParams {
  /** A positive float32 value (as TFLite stores it). */
  readonly scale: number;
  /** An integer in [-128, 127]. */
  readonly zeroPoint: number;
}

/** The int8 annotation a graph may carry (`graph.quantization`). */
export interface GraphQuantization {
  /**
   * `int8`: TFLite's full-integer scheme (int8 activations per tensor, int8 weights symmetric
   * per output channel, int32 biases, int32 accumulation, fixed-point requantisation with
   * TFLite's reference rounding). The reference executor (`executeQuantized`) defines it.
   */
  readonly scheme: 'int8';
  /** Activation parameters of every layer's output, by layer name (inputs included). */
  readonly tensors: Readonly<Record<string, QuantParams>>;
  /**
   * Weight scales of every convolution, by layer name: one float32 per output channel, or a
   * single one for the whole tensor. Weight zero points are 0.
   */
  readonly weightScales: Readonly<Record<string, readonly number[]>>;
  /**
   * How the integers are requantised (absent: `'tflite'`). The int32 accumulators are the same
   * either way; see `IntegerArithmetic`.
   */
  readonly arithmetic?: IntegerArithmetic;
}

/**
 * The requantisation arithmetic of an int8 graph:
 * - `tflite`: TFLite's reference kernels (fixed-point multiplier and shift, `fixed-point.ts`),
 *   what the file format specifies;
 * - `xnnpack`: XNNPACK's kernels (float32 per-channel scales with round-half-even for
 *   convolutions, 21-bit multipliers for ADD, `xnnpack.ts`; Q11 bilinear weights, `bilinear.ts`),
 *   what TFLite's default CPU delegate and LiteRT.js compute. The two differ by one step on a small share of values per layer.
 */
export type IntegerArithmetic = 'tflite' | 'xnnpack';

/** Every `IntegerArithmetic`, in the order CLIs list them. */
export const INTEGER_ARITHMETICS: readonly IntegerArithmetic[] = ['tflite', 'xnnpack'];

/** An int8 tensor (convolution weights, in the float weights' layout: OIHW). */
export interface TensorI8 {
  readonly dtype: 'int8';
  readonly shape: readonly number[];
  readonly data: Int8Array;
}

/** An int32 tensor (convolution biases in units of `inputScale * weightScale[c]`). */
export interface TensorI32 {
  readonly dtype: 'int32';
  readonly shape: readonly number[];
  readonly data: Int32Array;
}

/** An integer weight tensor: int8 weights or int32 biases, tagged by `dtype`. */
export type QuantTensor = TensorI8 | TensorI32;

/** Integer weights of a quantised model: `${conv}.weight` int8 and `${conv}.bias` int32. */
export type QuantWeightMap = ReadonlyMap<string, QuantTensor>;

/** A graph carrying `quantization`, with its integer weights. */
export interface QuantizedModel {
  readonly graph: Graph & { readonly quantization: GraphQuantization };
  readonly weights: QuantWeightMap;
}

/** Lowest int8 value. */
export const INT8_MIN = -128;
/** Highest int8 value. */
export const INT8_MAX = 127;
