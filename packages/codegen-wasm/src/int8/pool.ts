/**
 * Max pooling in the int8 build: `i8x16.max_s` over the window, 16 channels at a time (8 for
 * the last vector when the padded channel count is 8 modulo 16), then the clamp of a fused
 * activation, stored int8 NHWC. The output carries the input's scale and zero point, so no
 * requantisation: the integers are compared as they are. Window taps in the padding read the
 * input's halo, which holds -128 for a buffer a padded max pool reads (`planInt8`), so they never
 * win; every window has at least one position inside the input.
 */
import type { Buffer, MaxPoolStage } from '../plan.js';
import type { Expr, Fn } from '../kernels/builder.js';
import { geomI8 } from './plan.js';

/** Rows [r0, r1) (locals) of a max pool stage writing `out`, clamped to [lo, hi]. */
export function maxPoolRowsI8(
  f: Fn,
  c: { stage: MaxPoolStage; out: Buffer; lo: number; hi: number; r0: number; r1: number },
): Expr {
  const m = f.m;
  const s = c.stage;
  const gi = geomI8(s.in);
  const go = geomI8(c.out);
  const [y, x, ip, op, ch] = [f.i32Local(), f.i32Local(), f.i32Local(), f.i32Local(), f.i32Local()];
  const v = f.v128Local();
  const taps: number[] = [];
  for (let ky = 0; ky < s.kh; ky++) for (let kx = 0; kx < s.kw; kx++) taps.push(ky * gi.rs + kx * gi.pix);
  const clamp = (e: Expr): Expr => {
    let r = e;
    if (c.lo > -128) r = m.i8x16.max_s(r, m.i8x16.splat(f.c(c.lo)));
    if (c.hi < 127) r = m.i8x16.min_s(r, m.i8x16.splat(f.c(c.hi)));
    return r;
  };
  /** The window's maximum of the 16 (or 8) channels at byte `at` of each tap from `base()`. */
  const windowMax = (base: () => Expr, at: number, narrow: boolean): Expr[] => {
    const load = (off: number): Expr =>
      narrow ? m.v128.load64_zero(at + off, 1, base()) : m.v128.load(at + off, 1, base());
    return [
      f.set(v, load(taps[0]!)),
      ...taps.slice(1).map((off) => f.set(v, m.i8x16.max_s(f.get(v), load(off)))),
    ];
  };
  const wide = Math.floor(gi.cp / 16);
  const pixel: Expr[] = [
    // 16 channels at a time; `ch` is the byte offset of the vector in the pixel.
    f.loop(ch, f.c(0), () => f.c(wide * 16), 16, [
      ...windowMax(() => f.add(f.get(ip), f.get(ch)), 0, false),
      m.v128.store(0, 1, f.add(f.get(op), f.get(ch)), clamp(f.get(v))),
    ]),
  ];
  if (gi.cp % 16 !== 0) {
    pixel.push(
      ...windowMax(() => f.get(ip), wide * 16, true),
      m.v128.store64_lane(wide * 16, 1, 0, f.get(op), clamp(f.get(v))),
    );
  }
  return f.loop(y, f.get(c.r0), () => f.get(c.r1), 1, [
    f.loop(x, f.c(0), () => f.c(s.cols), 1, [
      // Top-left tap of the window (in the halo where the window starts in the padding).
      f.set(
        ip,
        f.add(
          f.c(gi.origin - s.pt * gi.rs - s.pl * gi.pix),
          f.add(f.mul(f.get(y), f.c(s.sh * gi.rs)), f.mul(f.get(x), f.c(s.sw * gi.pix))),
        ),
      ),
      f.set(op, f.add(f.c(go.origin), f.add(f.mul(f.get(y), f.c(go.rs)), f.mul(f.get(x), f.c(go.pix))))),
      ...pixel,
    ]),
  ]);
}
