/**
 * TFLite's integer arithmetic, exactly as its reference kernels compute it
 * (tensorflow/lite/kernels/internal/common.h and quantization_util.cc, without
 * TFLITE_SINGLE_ROUNDING): a real multiplier M becomes an int32 `multiplier` in [2^30, 2^31)
 * and a power-of-two `shift`, and `acc * M` is computed as a rounding doubling high multiply
 * followed by a rounding right shift. Every int8 kernel of the project (the reference executor,
 * the wasm engine) must give these integers bit for bit.
 */

const TWO_31 = 2 ** 31;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/** A real multiplier as TFLite's (multiplier, shift) pair: M = multiplier * 2^(shift - 31). */
export interface QuantizedMultiplier {
  /** int32 in [2^30, 2^31), or 0 for M = 0. */
  readonly multiplier: number;
  /** Power of two: positive shifts left before the multiply, negative shifts right after. */
  readonly shift: number;
}

/** C's `std::round`: halves away from zero. */
export function roundHalfAwayFromZero(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

/** `std::frexp`: x = fraction * 2^exponent with |fraction| in [0.5, 1). */
function frexp(x: number): [number, number] {
  if (x === 0 || !Number.isFinite(x)) return [x, 0];
  let exponent = Math.max(-1073, Math.floor(Math.log2(Math.abs(x))) + 1);
  let fraction = x * 2 ** -exponent;
  // log2 can be off by one near powers of two; renormalise into [0.5, 1).
  while (Math.abs(fraction) < 0.5) {
    fraction *= 2;
    exponent -= 1;
  }
  while (Math.abs(fraction) >= 1) {
    fraction /= 2;
    exponent += 1;
  }
  return [fraction, exponent];
}

/** TFLite `QuantizeMultiplier` (double in, int32 multiplier + shift out). */
export function quantizeMultiplier(real: number): QuantizedMultiplier {
  if (!(real >= 0) || !Number.isFinite(real))
    throw new RangeError(`quantizeMultiplier: multiplier ${real} is not a finite non-negative number`);
  if (real === 0) return { multiplier: 0, shift: 0 };
  const [q, e] = frexp(real);
  let shift = e;
  let fixed = roundHalfAwayFromZero(q * TWO_31);
  if (fixed === TWO_31) {
    fixed /= 2;
    shift += 1;
  }
  if (shift < -31) return { multiplier: 0, shift: 0 };
  return { multiplier: fixed, shift };
}

/**
 * `SaturatingRoundingDoublingHighMul(a, b)`: the high 32 bits of 2ab, rounded to nearest
 * (the nudge) and truncated toward zero like C++'s int64 division, as int32. Exact for any
 * int32 a and b without BigInt: b is split into 16-bit halves so every partial product fits
 * a double's 53 bits, and the division by 2^31 is carried out on the parts.
 */
export function saturatingRoundingDoublingHighMul(a: number, b: number): number {
  if (a === INT32_MIN && b === INT32_MIN) return INT32_MAX;
  const bHigh = Math.floor(b / 65536);
  const bLow = b - bHigh * 65536; // [0, 65536)
  const hi = a * bHigh; // |hi| < 2^47: exact
  const lo = a * bLow; // |lo| < 2^47: exact
  // ab = hi * 2^16 + lo = hq * 2^31 + (hr * 2^16 + lo), with hi = hq * 2^15 + hr.
  const hq = Math.floor(hi / 32768);
  const hr = hi - hq * 32768;
  const nudge = a * b >= 0 ? 2 ** 30 : 1 - 2 ** 30;
  const rest = hr * 65536 + lo + nudge; // |rest| < 2^49: exact
  const restQ = Math.floor(rest / TWO_31);
  const floorQ = hq + restQ; // floor((ab + nudge) / 2^31)
  const remainder = rest - restQ * TWO_31; // [0, 2^31)
  return floorQ < 0 && remainder !== 0 ? floorQ + 1 : floorQ;
}

/** `RoundingDivideByPOT(x, exponent)`: x / 2^exponent rounded to nearest, halves away from zero. */
export function roundingDivideByPOT(x: number, exponent: number): number {
  if (exponent === 0) return x;
  const mask = (1 << exponent) - 1;
  const remainder = x & mask;
  const threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/** `MultiplyByQuantizedMultiplier(x, multiplier, shift)`: round(x * M) the TFLite way. */
export function multiplyByQuantizedMultiplier(x: number, m: QuantizedMultiplier): number {
  const left = m.shift > 0 ? m.shift : 0;
  const right = m.shift > 0 ? 0 : -m.shift;
  // int32 wrap-around of x << left, as the C++ computes it (in range for real networks).
  const shifted = left > 0 ? Math.imul(x, 1 << left) : x;
  return roundingDivideByPOT(saturatingRoundingDoublingHighMul(shifted, m.multiplier), right);
}

/** Clamps to [lo, hi]. */
export function clampInt(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}

/**
 * The integer interval of a clamp to real bounds [min, max] in `params`, TFLite's way
 * (`CalculateActivationRangeQuantizedImpl`, `QuantizedReluX`): each bound quantised as
 * `zeroPoint + round(f / scale)` with `f / scale` in float32 and halves away from zero, then
 * kept inside [-128, 127] (an infinite bound is the int8 limit). A clamp acts on the integers
 * only because its output carries its input's parameters, as relu, relu6 and clip do.
 */
export function clampRange(
  min: number,
  max: number,
  params: { readonly scale: number; readonly zeroPoint: number },
): readonly [number, number] {
  const q = (f: number): number =>
    clampInt(params.zeroPoint + roundHalfAwayFromZero(Math.fround(f / params.scale)), -128, 127);
  return [q(min), q(max)];
}

/**
 * TFLite `CalculateActivationRangeQuantized` for int8: the integer interval a fused
 * activation clamps to (`clampRange` of relu's [0, inf) and relu6's [0, 6]).
 */
export function activationRange(
  activation: 'none' | 'relu' | 'relu6',
  params: { readonly scale: number; readonly zeroPoint: number },
): readonly [number, number] {
  switch (activation) {
    case 'none':
      return [-128, 127];
    case 'relu':
      return clampRange(0, Infinity, params);
    case 'relu6':
      return clampRange(0, 6, params);
  }
}

/**
 * TFLite's rounded integer mean of int8 average pooling (`reference_integer_ops::AveragePool`):
 * `acc > 0 ? (acc + n / 2) / n : (acc - n / 2) / n` in C++ int32 arithmetic (truncating
 * division), i.e. `acc / n` rounded to nearest with halves away from zero.
 */
export function roundedDivide(acc: number, n: number): number {
  const half = Math.trunc(n / 2);
  return Math.trunc((acc > 0 ? acc + half : acc - half) / n);
}
