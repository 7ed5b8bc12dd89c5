/**
 * TFLite's requantisation (`MultiplyByQuantizedMultiplier`: a saturating rounding doubling high
 * multiply, then a rounding divide by a power of two) on four int32 lanes at once, each lane with
 * its own multiplier and shift (per-output-channel weight scales), bit-exact with
 * `@fastdepth/graph-dsl`'s `multiplyByQuantizedMultiplier`.
 *
 * Two identities make it a short branch-free SIMD sequence:
 * - `SaturatingRoundingDoublingHighMul(a, M) = (a*M + 2^30) >> 31` (floor, in int64) for every
 *   a when M > 0: for a*M < 0, TFLite's nudge 1 - 2^30 followed by a division truncating toward
 *   zero lands on the same integer. The saturating case needs a = M = INT32_MIN and never
 *   arises (multipliers are in [2^30, 2^31)). The product is `i64x2.extmul_{low,high}_i32x4_s`;
 *   bits 31..62 of the sum are the same for a logical and an arithmetic shift, so the cheap
 *   `i64x2.shr_u` (one psrlq) is used, and a shuffle gathers the low words.
 * - `RoundingDivideByPOT(x, e) = floor((x + 2^(e-1) - [x < 0]) / 2^e)` for e >= 1 (halves away
 *   from zero), and the per-lane floor division by 2^e is the high part of an int64 product,
 *   `floor(r * 2^(30-e) / 2^30)`: SIMD has no per-lane shift, but has a per-lane multiply.
 *
 * Positive shifts (M > 1) multiply the lane by 2^shift first, wrapping like TFLite's int32 shift.
 * Per-lane constants live in memory, three to five v128 per 4 channels (`Requant.quadBytes`).
 *
 * XNNPACK's arithmetic (`arithmetic: 'xnnpack'` of the graph, graph-dsl `xnnpackRequantize`) is
 * the float32 form: `clamp(rne(f32(acc) * scale_c) + zp, lo, hi)`, one v128 of scales per 4
 * channels, in six instructions with XNNPACK's magic bias (see `requantizeXnnpack`).
 */
import binaryen from 'binaryen';
import {
  GraphError,
  quantizeMultiplier,
  type IntegerArithmetic,
  type QuantizedMultiplier,
} from '@fastdepth/graph-dsl';
import type { Expr, Fn } from '../kernels/builder.js';

/** Bytes of requantisation constants per 4 channels at most: multiplier, 2^(30-e), rounding, mask, 2^left. */
const REQUANT_QUAD_BYTES = 80;

/** Per-channel requantisation of one stage: constants for the packed blob, and what code to emit. */
export interface Requant {
  /** Which requantisation the code computes (the graph's `quantization.arithmetic`). */
  readonly arithmetic: IntegerArithmetic;
  /**
   * xnnpack: float32 scales (their bits), one v128 per 4 channels (`slot` [0]); tflite: as below.
   * int32 constants, `quadBytes` per 4 channels (channels padded with neutral lanes): the
   * vectors of `slot` order; the mask and 2^left vectors only when some channel needs them.
   */
  readonly table: Int32Array;
  readonly quadBytes: number;
  /** Position (in v128) of constant i (0 multiplier ... 4 2^left) inside a quad; -1 if absent. */
  readonly slot: readonly number[];
  /** Some channel has a positive shift (multiply by 2^left first). */
  readonly anyLeft: boolean;
  /** Some channel has e = 0 (no rounding divide: the sign term must be masked). */
  readonly anyNoDivide: boolean;
  /** Output zero point and clamp bounds (activation range). */
  readonly zp: number;
  readonly lo: number;
  readonly hi: number;
}

/**
 * The constants of `multipliers` (one per channel; `channels` padded lanes get multiplier 0).
 * `accBound` bounds |acc| per channel (or for all): checked so no intermediate of the SIMD
 * sequence can overflow where TFLite's does not; `layer` names the layer in errors.
 */
export function makeRequant(
  multipliers: readonly QuantizedMultiplier[],
  paddedChannels: number,
  out: { zp: number; lo: number; hi: number },
  accBound: number | readonly number[],
  layer: string,
): Requant {
  const quads = Math.ceil(paddedChannels / 4);
  const table = new Int32Array(quads * (REQUANT_QUAD_BYTES / 4));
  let anyLeft = false;
  let anyNoDivide = false;
  for (let c = 0; c < quads * 4; c++) {
    const m = multipliers[c] ?? { multiplier: 0, shift: 0 };
    const left = m.shift > 0 ? m.shift : 0;
    let e = m.shift > 0 ? 0 : -m.shift;
    let mult = m.multiplier;
    // With a left shift e is 0 and the rounding add is skipped: the int32 wrap of the shift is
    // TFLite's own. With e >= 1 the rounding add must not overflow: |x| <= |acc|, 2^(e-1) <= 2^29.
    // x = SRDHM(acc, M) has |x| <= |acc| * M / 2^31 + 1.
    const bound = typeof accBound === 'number' ? accBound : (accBound[c] ?? 0);
    if (e >= 1 && e <= 30 && Math.ceil((bound * mult) / 2 ** 31) + 1 + 2 ** (e - 1) >= 2 ** 31)
      throw new GraphError(layer, `int8 requantisation: accumulators up to ${bound} overflow int32`);
    // e > 30: |x| < 2^30 after the high multiply, so RoundingDivideByPOT gives 0 exactly.
    if (e > 30) {
      mult = 0;
      e = 0;
    }
    if (left > 0) anyLeft = true;
    if (e === 0) anyNoDivide = true;
    const base = Math.floor(c / 4) * 20 + (c % 4);
    table[base] = mult;
    table[base + 4] = 2 ** (30 - e);
    table[base + 8] = e >= 1 ? 2 ** (e - 1) : 0;
    table[base + 12] = e >= 1 ? -1 : 0;
    table[base + 16] = (2 ** left) | 0;
  }
  // Keep only the vectors the code reads (the table is part of the weights download).
  const keep = [true, true, true, anyNoDivide, anyLeft];
  const slot: number[] = [];
  let n = 0;
  for (const k of keep) slot.push(k ? n++ : -1);
  const compact = new Int32Array(quads * n * 4);
  for (let qd = 0; qd < quads; qd++)
    for (let i = 0; i < 5; i++)
      if (slot[i]! >= 0)
        compact.set(table.subarray(qd * 20 + i * 4, qd * 20 + i * 4 + 4), (qd * n + slot[i]!) * 4);
  return {
    arithmetic: 'tflite',
    table: compact,
    quadBytes: n * 16,
    slot,
    anyLeft,
    anyNoDivide,
    zp: out.zp,
    lo: out.lo,
    hi: out.hi,
  };
}

/**
 * XNNPACK's requantisation of one stage: the float32 per-channel `scales` (graph-dsl
 * `xnnpackConvScales`), padded lanes with scale 0 (they requantise to the zero point).
 */
export function makeRequantXnnpack(
  scales: Float32Array,
  paddedChannels: number,
  out: { zp: number; lo: number; hi: number },
): Requant {
  const quads = Math.ceil(paddedChannels / 4);
  const table = new Float32Array(quads * 4);
  table.set(scales.subarray(0, Math.min(scales.length, quads * 4)));
  return {
    arithmetic: 'xnnpack',
    table: new Int32Array(table.buffer),
    quadBytes: 16,
    slot: [0],
    anyLeft: false,
    anyNoDivide: false,
    zp: out.zp,
    lo: out.lo,
    hi: out.hi,
  };
}

/** Bits of the float32 1.5 * 2^23 (12582912): XNNPACK's magic bias. */
const MAGIC_BIAS = 12582912;
const MAGIC_BIAS_BITS = 0x4b400000;

/**
 * `clamp(rne(f32(f32(v) * scale)) + zp, lo, hi)` on 4 lanes, as XNNPACK's fp32 wasmsimd kernels
 * compute it: x = f32(v) * scale (`convert_i32x4_s` rounds as `Math.fround`), then
 * y = f32(x + 1.5 * 2^23): for |x| < 2^22 the sum lies in [2^23, 2^24), where float32 steps
 * are 1, so y = 1.5 * 2^23 + rne(x) (the bias is even: ties land on the same parity) and y's
 * bits are `MAGIC_BIAS_BITS + rne(x)`. Beyond 2^22 those bits are still monotone in x and past
 * the clamp bounds (negative y gives a negative int32), so clamping the bits to
 * `MAGIC_BIAS_BITS + [lo - zp, hi - zp]` and subtracting `MAGIC_BIAS_BITS - zp` is exact for
 * every int32 accumulator, with no saturating conversion.
 */
export function requantizeXnnpack(f: Fn, v: Expr, q: Requant, tableAt: (i: number) => Expr): Expr {
  const m = f.m;
  const x = m.f32x4.mul(m.f32x4.convert_i32x4_s(v), tableAt(0));
  const y = m.f32x4.add(x, m.f32x4.splat(m.f32.const(MAGIC_BIAS)));
  const clamped = m.i32x4.min_s(
    m.i32x4.max_s(y, i32Splat(f, MAGIC_BIAS_BITS + q.lo - q.zp)),
    i32Splat(f, MAGIC_BIAS_BITS + q.hi - q.zp),
  );
  return m.i32x4.sub(clamped, i32Splat(f, MAGIC_BIAS_BITS - q.zp));
}

/** Per-channel multipliers of a conv: double(sIn) * double(sW[c]) / double(sOut), TFLite's way. */
export function convMultipliers(
  sIn: number,
  weightScales: readonly number[],
  sOut: number,
  channels: number,
): QuantizedMultiplier[] {
  return Array.from({ length: channels }, (_, c) =>
    quantizeMultiplier((sIn * (weightScales.length === 1 ? weightScales[0]! : weightScales[c]!)) / sOut),
  );
}

/** An i64x2 constant with both lanes `v` (as 16 little-endian bytes). */
const i64Const = (f: Fn, v: bigint): Expr => {
  const bytes: number[] = [];
  for (let lane = 0; lane < 2; lane++)
    for (let b = 0n; b < 8n; b++) bytes.push(Number((v >> (8n * b)) & 0xffn));
  return f.m.v128.const(bytes);
};

/** Gathers the low 32-bit word of each int64 lane of lo (lanes 0, 1) and hi (lanes 2, 3). */
function lowWords(f: Fn, lo: Expr, hi: Expr): Expr {
  return f.m.i8x16.shuffle(lo, hi, [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27]);
}

/** Locals the sequence needs (allocate once per function). */
export interface RequantLocals {
  readonly a: number;
  readonly k: number;
}
export function requantLocals(f: Fn): RequantLocals {
  return { a: f.v128Local(), k: f.v128Local() };
}

/**
 * `multiplyByQuantizedMultiplier(v, m_c)` on 4 lanes, without zero point or clamp. `constant(i)`
 * gives the i-th constant vector of the 4 channels (0 multiplier, 1 2^(30-e), 2 rounding,
 * 3 mask, 4 2^left): a load from the table, or a v128.const for tensor-wide values.
 */
export function mulByQuantized(
  f: Fn,
  v: Expr,
  constant: (i: number) => Expr,
  flags: { anyLeft: boolean; anyNoDivide: boolean },
  L: RequantLocals,
): Expr {
  const m = f.m;
  const steps: Expr[] = [];
  steps.push(f.set(L.a, flags.anyLeft ? m.i32x4.mul(v, constant(4)) : v));
  // x = (a * M + 2^30) >> 31, per lane.
  steps.push(f.set(L.k, constant(0)));
  const half = (low: boolean): Expr =>
    m.i64x2.shr_u(
      m.i64x2.add(
        low
          ? m.i64x2.extmul_low_i32x4_s(f.get(L.a), f.get(L.k))
          : m.i64x2.extmul_high_i32x4_s(f.get(L.a), f.get(L.k)),
        i64Const(f, 1n << 30n),
      ),
      f.c(31),
    );
  steps.push(f.set(L.a, lowWords(f, half(true), half(false))));
  // r = x + 2^(e-1) - [x < 0] (lanes with e = 0: r = x).
  let sign = m.i32x4.shr_s(f.get(L.a), f.c(31));
  if (flags.anyNoDivide) sign = m.v128.and(sign, constant(3));
  steps.push(f.set(L.a, m.i32x4.add(m.i32x4.add(f.get(L.a), constant(2)), sign)));
  // floor(r / 2^e) = (r * 2^(30-e)) >> 30.
  steps.push(f.set(L.k, constant(1)));
  const div = (low: boolean): Expr =>
    m.i64x2.shr_u(
      low
        ? m.i64x2.extmul_low_i32x4_s(f.get(L.a), f.get(L.k))
        : m.i64x2.extmul_high_i32x4_s(f.get(L.a), f.get(L.k)),
      f.c(30),
    );
  return m.block(null, [...steps, lowWords(f, div(true), div(false))], binaryen.v128);
}

/** i32x4 x 2 (8 channels) -> 8 int8 values (saturated) in the low half of a v128. */
export function narrow8(f: Fn, lo: Expr, hi: Expr): Expr {
  const m = f.m;
  const w = f.v128Local();
  return m.block(
    null,
    [f.set(w, m.i16x8.narrow_i32x4_s(lo, hi)), m.i8x16.narrow_i16x8_s(f.get(w), f.get(w))],
    binaryen.v128,
  );
}

/** i32x4 splat constant. */
export function i32Splat(f: Fn, v: number): Expr {
  return f.m.i32x4.splat(f.c(v));
}

/**
 * The full per-channel requantisation in `q`'s arithmetic: multiply, + zero point, clamp to
 * [lo, hi] (i32x4 out).
 */
export function requantize(f: Fn, v: Expr, q: Requant, tableAt: (i: number) => Expr, L: RequantLocals): Expr {
  if (q.arithmetic === 'xnnpack') return requantizeXnnpack(f, v, q, tableAt);
  const m = f.m;
  const y = m.i32x4.add(mulByQuantized(f, v, tableAt, q, L), i32Splat(f, q.zp));
  return m.i32x4.min_s(m.i32x4.max_s(y, i32Splat(f, q.lo)), i32Splat(f, q.hi));
}

/**
 * `tableAt` for `requantize` of a tensor-wide requantisation (every lane the same: `makeRequant`
 * or `makeRequantXnnpack` of four equal channels): each constant vector as a `v128.const`.
 */
export function uniformConstants(f: Fn, q: Requant): (i: number) => Expr {
  return (i) => {
    const at = q.slot[i]!;
    return f.m.v128.const([...new Uint8Array(q.table.buffer, q.table.byteOffset + at * 16, 16)]);
  };
}
