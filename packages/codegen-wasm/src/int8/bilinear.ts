/**
 * Bilinear resize (align_corners false: the BLConv decoders' x2, or any size) in the int8 build:
 * TFLite's integer RESIZE_BILINEAR with half-pixel centres, as graph-dsl's `executeQuantized`
 * defines it. Along each axis the source position is `o * s + s / 2 - 512` in 1/1024 steps
 * (`s = (1024 * in + out / 2) / out`, C++ truncating division: `i32.div_s`), read from the rows
 * (columns) `max(pos / 1024, 0)` and `min((pos + 1023) / 1024, in - 1)` with weights
 * `1024 - frac` and `frac`, `frac = pos - 1024 * lower`. The four taps are summed in 1/2^20 and
 * rounded half away from zero (`(sum ± 2^19) / 2^20`, truncating). The stage acts on the raw
 * integers: its output carries its input's parameters (the weights sum to 2^20), and a fused
 * activation is a clamp.
 *
 * Under the `xnnpack` arithmetic it is XNNPACK's `resize-bilinear-nhwc-s8` instead (graph-dsl's
 * `resizeBilinearInt8Xnnpack`, read from `xnn_indirection_init_resize_bilinear2d_hwc_q11` and the
 * `s8-ibilinear` microkernels): per axis, in f32 ops (wasm has no fused multiply-add, so each
 * step rounds as XNNPACK's wasm build does), the source position
 * `p = min(max(o * scale + offset, 0), in - 1)` with `scale = in / out` and
 * `offset = scale / 2 - 1/2` (float32 constants), the rows (columns) `trunc(p)` and
 * `min(trunc(p) + 1, in - 1)`, and the upper one's Q11 weight `nearest((p - trunc(p)) * 2048)`
 * (`f32.nearest`: lrintf's half to even). The four taps are weighted in 1/2^22 (each weight a
 * product of two Q11 ones, the same integer as XNNPACK's horizontal-then-vertical form) and the
 * sum shifted: `(sum + 2^21) >> 22`, `i32x4.shr_s` (half up).
 *
 * Ranges: |value| <= 128 and each axis's two weights are at most 1536 in magnitude with a sum of
 * 1024 (at most 2048 with a sum of 2048 under xnnpack), so every partial sum stays within 2^29:
 * i32x4 lanes suffice. Eight channels per step
 * (`v128.load8x8_s` of each tap, two i32x4 halves); the padded channels of the output pixel get
 * the padded input channels' mix, which no int8 kernel reads as values.
 */
import binaryen from 'binaryen';
import { bilinearScale10, xnnpackBilinearScale, type IntegerArithmetic } from '@fastdepth/graph-dsl';
import type { Expr, Fn } from '../kernels/builder.js';
import type { BilinearStage } from '../plan.js';
import { geomI8, type ClampedRangeArgs } from './plan.js';
import { i32Splat, narrow8 } from './requant.js';

/**
 * Rows [r0, r1) and columns [x0, x1) (locals) of a bilinear resize writing `out`, clamped to
 * [lo, hi], in `arithmetic`'s integers.
 */
export function bilinearRowsI8(
  f: Fn,
  c: ClampedRangeArgs<BilinearStage>,
  arithmetic: IntegerArithmetic = 'tflite',
): Expr {
  const xnnpack = arithmetic === 'xnnpack';
  /** The weights of an axis sum to this: 1024 (tflite) or 2048 (xnnpack's Q11). */
  const one = xnnpack ? 2048 : 1024;
  const m = f.m;
  const src = c.stage.in;
  const gi = geomI8(src);
  const go = geomI8(c.out);
  const i32 = (): number => f.i32Local();
  const v128 = (): number => f.v128Local();
  const [y, x, top, bottom, wb, left, right, wr, op, pos] = [
    i32(),
    i32(),
    i32(),
    i32(),
    i32(),
    i32(),
    i32(),
    i32(),
    i32(),
    i32(),
  ];
  const [wtl, wtr, wbl, wbr, lo, hi] = [v128(), v128(), v128(), v128(), v128(), v128()];
  const fpos = f.local(binaryen.f32);

  /**
   * Sets `lower` and `upper` to the source indices of output coordinate `o` along an axis, and
   * `frac` to the upper one's weight (ComputeInterpolationValues, integer, half-pixel).
   */
  const tfliteAxis = (
    o: number,
    inSize: number,
    outSize: number,
    lower: number,
    upper: number,
    frac: number,
  ): Expr[] => {
    const s = bilinearScale10(inSize, outSize);
    return [
      f.set(pos, f.add(f.mul(f.get(o), f.c(s)), f.c(Math.trunc(s / 2) - 512))),
      f.set(lower, m.i32.div_s(f.get(pos), f.c(1024))),
      // binaryen.js: select(condition, ifTrue, ifFalse).
      f.set(lower, m.select(m.i32.gt_s(f.get(lower), f.c(0)), f.get(lower), f.c(0))),
      f.set(upper, m.i32.div_s(f.add(f.get(pos), f.c(1023)), f.c(1024))),
      f.set(upper, m.select(m.i32.lt_s(f.get(upper), f.c(inSize - 1)), f.get(upper), f.c(inSize - 1))),
      f.set(frac, m.i32.sub(f.get(pos), f.mul(f.get(lower), f.c(1024)))),
    ];
  };
  /**
   * The same under xnnpack (`xnn_indirection_init_resize_bilinear2d_hwc_q11`, half-pixel):
   * `frac` is the upper index's Q11 weight.
   */
  const xnnpackAxis = (
    o: number,
    inSize: number,
    outSize: number,
    lower: number,
    upper: number,
    frac: number,
  ): Expr[] => {
    const { scale, offset } = xnnpackBilinearScale(inSize, outSize);
    const position = m.f32.add(
      m.f32.mul(m.f32.convert_s.i32(f.get(o)), m.f32.const(scale)),
      m.f32.const(offset),
    );
    return [
      m.local.set(fpos, m.f32.min(m.f32.max(position, m.f32.const(0)), m.f32.const(inSize - 1))),
      f.set(lower, m.i32.trunc_s.f32(m.local.get(fpos, binaryen.f32))),
      f.set(upper, f.add(f.get(lower), f.c(1))),
      f.set(upper, m.select(m.i32.lt_s(f.get(upper), f.c(inSize - 1)), f.get(upper), f.c(inSize - 1))),
      f.set(
        frac,
        m.i32.trunc_s.f32(
          m.f32.nearest(
            m.f32.mul(
              m.f32.sub(m.local.get(fpos, binaryen.f32), m.f32.convert_s.i32(f.get(lower))),
              m.f32.const(2048),
            ),
          ),
        ),
      ),
    ];
  };
  const axis = xnnpack ? xnnpackAxis : tfliteAxis;
  const splatProduct = (a: Expr, b: Expr): Expr => m.i32x4.splat(f.mul(a, b));
  const near = (w: number): Expr => m.i32.sub(f.c(one), f.get(w));

  // Half away from zero, then truncation toward zero: a = sum ± 2^19, (a + (a < 0 ? 2^20 - 1 : 0)) >> 20.
  // Two locals for all the rounding steps (each value is a fresh expression: binaryen trees
  // share no nodes).
  const [sum, a] = [v128(), v128()];
  const tfliteRound = (value: Expr): Expr => {
    const bias = m.i32x4.sub(
      m.v128.and(m.i32x4.gt_s(f.get(sum), i32Splat(f, 0)), i32Splat(f, 1 << 20)),
      i32Splat(f, 1 << 19),
    );
    return m.block(
      null,
      [
        f.set(sum, value),
        f.set(a, m.i32x4.add(f.get(sum), bias)),
        m.i32x4.shr_s(
          m.i32x4.add(f.get(a), m.v128.and(m.i32x4.shr_s(f.get(a), f.c(31)), i32Splat(f, (1 << 20) - 1))),
          f.c(20),
        ),
      ],
      binaryen.v128,
    );
  };
  // XNNPACK's: `(acc + 2^21) >> 22`, an arithmetic shift (half up).
  const xnnpackRound = (value: Expr): Expr =>
    m.i32x4.shr_s(m.i32x4.add(value, i32Splat(f, 1 << 21)), f.c(22));
  const round = xnnpack ? xnnpackRound : tfliteRound;
  const clamped = (v: Expr): Expr => m.i32x4.min_s(m.i32x4.max_s(v, f.get(lo)), f.get(hi));

  const pixel: Expr[] = [
    ...axis(x, src.w, c.stage.cols, left, right, wr),
    f.set(left, f.mul(f.get(left), f.c(gi.pix))),
    f.set(right, f.mul(f.get(right), f.c(gi.pix))),
    f.set(wtl, splatProduct(near(wb), near(wr))),
    f.set(wtr, splatProduct(near(wb), f.get(wr))),
    f.set(wbl, splatProduct(f.get(wb), near(wr))),
    f.set(wbr, splatProduct(f.get(wb), f.get(wr))),
    f.set(op, f.add(f.c(go.origin), f.add(f.mul(f.get(y), f.c(go.rs)), f.mul(f.get(x), f.c(go.pix))))),
  ];
  const tap = (row: number, col: number, ch: number): Expr =>
    m.v128.load8x8_s(ch, 1, f.add(f.get(row), f.get(col)));
  const half = (v: Expr, high: boolean): Expr =>
    high ? m.i32x4.extend_high_i16x8_s(v) : m.i32x4.extend_low_i16x8_s(v);
  for (let ch = 0; ch < go.pix; ch += 8) {
    const [tl, tr, bl, br] = [f.v128Local(), f.v128Local(), f.v128Local(), f.v128Local()];
    const mix = (high: boolean): Expr =>
      clamped(
        round(
          m.i32x4.add(
            m.i32x4.add(
              m.i32x4.mul(half(f.get(tl), high), f.get(wtl)),
              m.i32x4.mul(half(f.get(tr), high), f.get(wtr)),
            ),
            m.i32x4.add(
              m.i32x4.mul(half(f.get(bl), high), f.get(wbl)),
              m.i32x4.mul(half(f.get(br), high), f.get(wbr)),
            ),
          ),
        ),
      );
    pixel.push(
      f.set(tl, tap(top, left, ch)),
      f.set(tr, tap(top, right, ch)),
      f.set(bl, tap(bottom, left, ch)),
      f.set(br, tap(bottom, right, ch)),
      m.v128.store64_lane(ch, 1, 0, f.get(op), narrow8(f, mix(false), mix(true))),
    );
  }
  const row: Expr[] = [
    ...axis(y, src.h, c.stage.rows, top, bottom, wb),
    f.set(top, f.add(f.c(gi.origin), f.mul(f.get(top), f.c(gi.rs)))),
    f.set(bottom, f.add(f.c(gi.origin), f.mul(f.get(bottom), f.c(gi.rs)))),
    f.loop(x, f.get(c.x0), () => f.get(c.x1), 1, pixel),
  ];
  return m.block(null, [
    f.set(lo, i32Splat(f, c.lo)),
    f.set(hi, i32Splat(f, c.hi)),
    f.loop(y, f.get(c.r0), () => f.get(c.r1), 1, row),
  ]);
}
