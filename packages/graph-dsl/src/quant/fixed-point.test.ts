import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../weights.js';
import {
  activationRange,
  multiplyByQuantizedMultiplier,
  quantizeMultiplier,
  roundingDivideByPOT,
  saturatingRoundingDoublingHighMul,
} from './fixed-point.js';

// The C++ of TFLite's common.h / gemmlowp, transcribed with BigInt: the reference the
// BigInt-free implementation must match on every input.
const I32_MIN = -(2n ** 31n);
const I32_MAX = 2n ** 31n - 1n;
function srdhmRef(a: number, b: number): number {
  if (a === -(2 ** 31) && b === -(2 ** 31)) return Number(I32_MAX);
  const ab = BigInt(a) * BigInt(b);
  const nudge = ab >= 0n ? 1n << 30n : 1n - (1n << 30n);
  // C++ int64 division truncates toward zero; BigInt division does too.
  const q = (ab + nudge) / (1n << 31n);
  return Number(q < I32_MIN ? I32_MIN : q > I32_MAX ? I32_MAX : q);
}
function rdbpotRef(x: number, e: number): number {
  const mask = (1n << BigInt(e)) - 1n;
  const bx = BigInt(x);
  const remainder = bx & mask;
  const threshold = (mask >> 1n) + (bx < 0n ? 1n : 0n);
  return Number((bx >> BigInt(e)) + (remainder > threshold ? 1n : 0n));
}

describe('TFLite fixed-point arithmetic', () => {
  it('SaturatingRoundingDoublingHighMul equals the int64 reference, edges included', () => {
    const rng = new SeededRandom(7);
    const int32 = (): number => Math.floor(rng.uniform() * 2 ** 32) - 2 ** 31;
    const edges = [-(2 ** 31), 2 ** 31 - 1, 0, 1, -1, 2 ** 30, -(2 ** 30), 12345, -12345];
    for (const a of edges)
      for (const b of edges) expect(saturatingRoundingDoublingHighMul(a, b)).toBe(srdhmRef(a, b));
    for (let i = 0; i < 20000; i++) {
      const a = i % 2 ? int32() : Math.floor(int32() / 65536); // accumulators are often small
      const b = 2 ** 30 + Math.floor(rng.uniform() * 2 ** 30); // multipliers lie in [2^30, 2^31)
      expect(saturatingRoundingDoublingHighMul(a, b)).toBe(srdhmRef(a, b));
    }
  });

  it('RoundingDivideByPOT rounds halves away from zero', () => {
    expect(roundingDivideByPOT(5, 1)).toBe(3);
    expect(roundingDivideByPOT(-5, 1)).toBe(-3);
    expect(roundingDivideByPOT(-6, 2)).toBe(-2); // -1.5 -> -2
    expect(roundingDivideByPOT(6, 2)).toBe(2); // 1.5 -> 2
    const rng = new SeededRandom(3);
    for (let i = 0; i < 5000; i++) {
      const x = Math.floor(rng.uniform() * 2 ** 32) - 2 ** 31;
      const e = 1 + Math.floor(rng.uniform() * 30);
      expect(roundingDivideByPOT(x, e)).toBe(rdbpotRef(x, e));
    }
  });

  it('QuantizeMultiplier gives a multiplier in [2^30, 2^31) with M = m * 2^(shift - 31)', () => {
    for (const real of [0.5, 0.75, 1e-3, 0.0001234, 1.5, 3.999, 2 ** -20]) {
      const { multiplier, shift } = quantizeMultiplier(real);
      expect(multiplier).toBeGreaterThanOrEqual(2 ** 30);
      expect(multiplier).toBeLessThan(2 ** 31);
      expect(Math.abs(multiplier * 2 ** (shift - 31) - real) / real).toBeLessThan(2 ** -30);
    }
    // A fraction that rounds up to 2^31 is renormalised (TFLite's q_fixed == 1 << 31 case).
    expect(quantizeMultiplier(1 - 2 ** -40)).toEqual({ multiplier: 2 ** 30, shift: 1 });
    expect(quantizeMultiplier(0)).toEqual({ multiplier: 0, shift: 0 });
    expect(() => quantizeMultiplier(-1)).toThrow(RangeError);
  });

  it('MultiplyByQuantizedMultiplier approximates x * M to the nearest integer', () => {
    const m = quantizeMultiplier(0.0123);
    for (const x of [0, 1, -1, 1000, -1000, 123456, -98765]) {
      expect(Math.abs(multiplyByQuantizedMultiplier(x, m) - x * 0.0123)).toBeLessThanOrEqual(0.5 + 1e-6);
    }
    const up = quantizeMultiplier(3.25); // shift > 0: shifted left before the multiply
    expect(multiplyByQuantizedMultiplier(100, up)).toBe(325);
  });

  it('activation ranges are the quantised 0 and 6, within int8', () => {
    expect(activationRange('none', { scale: 0.1, zeroPoint: 3 })).toEqual([-128, 127]);
    expect(activationRange('relu', { scale: 0.1, zeroPoint: -128 })).toEqual([-128, 127]);
    expect(activationRange('relu', { scale: 0.1, zeroPoint: 5 })).toEqual([5, 127]);
    expect(activationRange('relu6', { scale: 6 / 255, zeroPoint: -128 })).toEqual([-128, 127]);
    expect(activationRange('relu6', { scale: 0.05, zeroPoint: -128 })).toEqual([-128, -8]);
  });
});
