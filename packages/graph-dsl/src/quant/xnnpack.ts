/**
 * XNNPACK's int8 arithmetic (the CPU kernels of the TFLite XNNPACK delegate, so of LiteRT.js and
 * of TFLite on most CPUs), as the `'xnnpack'` choice of `GraphQuantization.arithmetic`. The
 * integer accumulators are TFLite's (XNNPACK folds the input zero point into the bias and pads
 * with the zero point: the same int32 values); what differs is the requantisation:
 *
 * - conv / depthwise conv (`qs8_qc8w` fp32 kernels): a per-channel float32 scale
 *   `(s_in * s_w[c]) / s_out`, computed in float32 in that order when the operator is created;
 *   `out = clamp(rne(f32(f32(acc) * scale)) + zp_out, lo, hi)` with rne = round half to even
 *   (the wasm/SSE/NEON kernels add the magic bias 1.5 * 2^23; the same integers for every
 *   |x| < 2^22, and values beyond are clamped either way);
 * - ADD (`qs8_vadd`): float32 ratios `s_a / s_out`, `s_b / s_out`; a shift `20 - exponent(max
 *   ratio)` and 21-bit integer multipliers `rne(ratio * 2^shift)`; `acc = bias + a * m_a + b * m_b`
 *   on the raw int8 values with `bias = 2^(shift - 1) - m_a * zp_a - m_b * zp_b`; then an
 *   arithmetic shift right (round half up) and `clamp(acc + zp_out)`;
 * - activation bounds (`xnn_qs8_quantize`): `lrintf(clamp(f32(f / scale) + zp, -128, 127))`;
 * - MUL (`qs8_vmul` fp32): `(a - zp_a) * (b - zp_b)` requantised like a conv accumulator with the
 *   float32 scale `(s_a * s_b) / s_out` (the ARM builds' `rndnu` kernels round their own way);
 * - sigmoid and hard-swish: a 256-entry table of the float32 function on every int8 input,
 *   rounded half to even (`lut.ts`).
 *
 * Read from XNNPACK's `src/operators/convolution-nhwc.c` (requantisation scale),
 * `src/microparams-init.c` (`xnn_init_qs8_add_minmax_scalar_params`,
 * `xnn_init_qs8_mul_minmax_scalar_params`), `src/qs8-vmul/scalar.c.in`, `src/operators/
 * unary-elementwise-nc.c` with `src/reference/unary-elementwise.cc` (the tables), the `qs8-qc8w-gemm`,
 * `qs8-qc8w-igemm`, `qs8-qc8w-dwconv` fp32 wasmsimd kernels and `qs8-vadd` wasmsimd kernels,
 * and `src/xnnpack/requantization.h`; unchanged from 2024 through 2025 (what LiteRT.js 2.5.3
 * ships). Every function here is exact: float32 steps are `Math.fround` of a double operation,
 * which is the correctly rounded float32 result for + - * /.
 */
import { GraphError } from '../errors.js';
import { clampInt } from './fixed-point.js';
import { INT8_MAX, INT8_MIN, type QuantParams } from './ir.js';

const f32 = Math.fround;

/** Round half to even (IEEE `nearest`, C's `lrintf` in the default rounding mode). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x); // halves toward +infinity
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * XNNPACK's requantisation scale of one output channel, float32: `(sIn * sW) / sOut`. Throws a
 * `GraphError` naming `layer` when it is not below 256 (XNNPACK refuses such an operator).
 */
export function xnnpackConvScale(sIn: number, sW: number, sOut: number, layer: string): number {
  const scale = f32(f32(f32(sIn) * f32(sW)) / f32(sOut));
  if (!(scale < 256))
    throw new GraphError(
      layer,
      `xnnpack int8 arithmetic: requantisation scale ${scale} (input ${sIn} x weight ${sW} / output ${sOut}) is not below 256`,
    );
  return scale;
}

/** The per-channel scales of a conv (`weightScales` of one value or one per channel). */
export function xnnpackConvScales(
  sIn: number,
  weightScales: readonly number[],
  sOut: number,
  channels: number,
  layer: string,
): Float32Array {
  return Float32Array.from({ length: channels }, (_, c) =>
    xnnpackConvScale(sIn, weightScales[weightScales.length === 1 ? 0 : c]!, sOut, layer),
  );
}

/** XNNPACK fp32 requantisation of an int32 accumulator: `clamp(rne(f32(f32(acc) * scale)) + zp, lo, hi)`. */
export function xnnpackRequantize(
  acc: number,
  scale: number,
  zeroPoint: number,
  lo: number,
  hi: number,
): number {
  return clampInt(roundHalfEven(f32(f32(acc) * scale)) + zeroPoint, lo, hi);
}

/** `xnn_qs8_quantize`: a real bound in the int8 domain, `lrintf(clamp(f32(v / scale) + zp))`. */
export function xnnpackQuantizeBound(v: number, params: QuantParams): number {
  if (v === Infinity) return INT8_MAX;
  if (v === -Infinity) return INT8_MIN;
  const q = f32(f32(v / params.scale) + params.zeroPoint);
  return roundHalfEven(Math.min(Math.max(q, INT8_MIN), INT8_MAX));
}

/**
 * The integer interval of a clamp to real bounds [min, max] as XNNPACK computes it (each bound
 * through `xnn_qs8_quantize`): relu, relu6 and clip, whose outputs carry their input's parameters.
 */
export function xnnpackClampRange(min: number, max: number, params: QuantParams): readonly [number, number] {
  return [xnnpackQuantizeBound(min, params), xnnpackQuantizeBound(max, params)];
}

/** The clamp of a fused activation as XNNPACK computes it (relu: [0, +inf), relu6: [0, 6]). */
export function xnnpackActivationRange(
  activation: 'none' | 'relu' | 'relu6',
  params: QuantParams,
): readonly [number, number] {
  switch (activation) {
    case 'none':
      return [INT8_MIN, INT8_MAX];
    case 'relu':
      return xnnpackClampRange(0, Infinity, params);
    case 'relu6':
      return xnnpackClampRange(0, 6, params);
  }
}

/**
 * XNNPACK's requantisation scale of an int8 MUL (`xnn_init_qs8_mul_minmax_scalar_params`):
 * `f32(f32(s_a * s_b) / s_out)`; the product `(a - zp_a) * (b - zp_b)` is then requantised like
 * a conv accumulator (`xnnpackRequantize`, the `qs8-vmul` fp32 kernels). Throws a `GraphError`
 * naming `layer` outside XNNPACK's [2^-16, 2^8) (the delegate leaves such a MUL to TFLite).
 */
export function xnnpackMulScale(a: QuantParams, b: QuantParams, out: QuantParams, layer: string): number {
  const scale = f32(f32(f32(a.scale) * f32(b.scale)) / f32(out.scale));
  if (!(scale >= 2 ** -16 && scale < 2 ** 8))
    throw new GraphError(
      layer,
      `xnnpack int8 arithmetic: mul scale ${scale} (input ${a.scale} x input ${b.scale} / output ${out.scale}) is outside [2^-16, 2^8)`,
    );
  return scale;
}

/** The integer parameters of XNNPACK's int8 ADD (`xnn_init_qs8_add_minmax_scalar_params`). */
export interface XnnpackAddParams {
  /** Multipliers of the raw int8 inputs, |m| < 2^21 + 1. */
  readonly aMultiplier: number;
  readonly bMultiplier: number;
  /** Arithmetic right shift, in [12, 30]. */
  readonly shift: number;
  /** `2^(shift - 1) - aMultiplier * zp_a - bMultiplier * zp_b` (int32). */
  readonly bias: number;
  readonly outputZeroPoint: number;
}

const bits = new Uint32Array(1);
const asFloat = new Float32Array(bits.buffer);

/** The unbiased float32 exponent of a positive normal float32 value. */
function f32Exponent(v: number): number {
  asFloat[0] = v;
  return (bits[0]! >>> 23) - 127;
}

/**
 * XNNPACK's ADD parameters for inputs `a`, `b` and output `out`. Throws a `GraphError` naming
 * `layer` when an input-to-output scale ratio is outside XNNPACK's [2^-10, 2^8).
 */
export function xnnpackAddParams(
  a: QuantParams,
  b: QuantParams,
  out: QuantParams,
  layer: string,
): XnnpackAddParams {
  const aRatio = f32(f32(a.scale) / f32(out.scale));
  const bRatio = f32(f32(b.scale) / f32(out.scale));
  for (const [name, r] of [
    ['first', aRatio],
    ['second', bRatio],
  ] as const)
    if (!(r >= 2 ** -10 && r < 2 ** 8))
      throw new GraphError(
        layer,
        `xnnpack int8 arithmetic: the ${name} input's scale / output scale ${r} is outside [2^-10, 2^8)`,
      );
  const shift = 20 - f32Exponent(Math.max(aRatio, bRatio));
  // Adding shift to the exponent field is an exact multiplication by 2^shift (results stay normal).
  const aMultiplier = roundHalfEven(aRatio * 2 ** shift);
  const bMultiplier = roundHalfEven(bRatio * 2 ** shift);
  const bias = 2 ** (shift - 1) - aMultiplier * a.zeroPoint - bMultiplier * b.zeroPoint;
  return { aMultiplier, bMultiplier, shift, bias, outputZeroPoint: out.zeroPoint };
}

/** XNNPACK's int8 ADD of raw int8 values `qa`, `qb`: `clamp(((bias + qa*ma + qb*mb) >> shift) + zp, lo, hi)`. */
export function xnnpackAdd(
  qa: number,
  qb: number,
  p: XnnpackAddParams,
  lo = INT8_MIN,
  hi = INT8_MAX,
): number {
  // |acc| < 2^30: exact in a double, and Math.floor of the division is the arithmetic shift.
  const acc = p.bias + qa * p.aMultiplier + qb * p.bMultiplier;
  return clampInt(Math.floor(acc / 2 ** p.shift) + p.outputZeroPoint, lo, hi);
}
