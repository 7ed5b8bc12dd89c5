/**
 * Pooling in the int8 build; every output carries its input's scale and zero point, so no
 * requantisation.
 *
 * Max pooling: `i8x16.max_s` over the window, 16 channels at a time (8 for the last vector when
 * the padded channel count is 8 modulo 16), then the clamp of a fused activation, stored int8
 * NHWC: the integers are compared as they are. Window taps in the padding read the input's halo,
 * which holds -128 for a buffer a padded max pool reads (`planInt8`), so they never win; every
 * window has at least one position inside the input.
 *
 * Average and global average pooling: TFLite's AVERAGE_POOL_2D as graph-dsl's `executeQuantized`
 * computes it, the window's raw integers summed in i32 lanes (8 channels per step) and divided
 * with `roundedDivide`'s rounding (`(acc ± n/2) / n` truncating). Taps in the padding read the
 * halo, so the sum is corrected by `outside * (zp - halo)` when padded taps count as the zero
 * point (`countIncludePad`, divisor the kernel area) and by `-outside * halo` when they do not
 * count (divisor the taps inside), `outside` and `inside` computed per output pixel. The division
 * is a float32 one: the rounded sum `a` and `n` are exact in float32 (|a| < 2^24), and for
 * n < 2^17 a quotient that is not an integer stays more than float32's rounding error away from
 * every integer, so truncating `f32(a / n)` gives C++'s `a / n` (n is checked at emit time).
 */
import { GraphError } from '@fastdepth/graph-dsl';
import binaryen from 'binaryen';
import type { AvgPoolStage, Buffer, GapStage, MaxPoolStage } from '../plan.js';
import type { Expr, Fn } from '../kernels/builder.js';
import { clampI8x16 } from './bytes.js';
import { geomI8 } from './plan.js';
import { i32Splat, narrow8 } from './requant.js';

/**
 * For output pixel (y, x) (locals) of a max or average pool stage: `ip` = the window's top-left tap
 * (in the halo where the window starts in the padding), `op` = the output pixel.
 */
function windowPointers(
  f: Fn,
  c: {
    stage: MaxPoolStage;
    gi: ReturnType<typeof geomI8>;
    go: ReturnType<typeof geomI8>;
    y: number;
    x: number;
    ip: number;
    op: number;
  },
): Expr[] {
  const { stage: s, gi, go, y, x } = c;
  return [
    f.set(
      c.ip,
      f.add(
        f.c(gi.origin - s.pt * gi.rs - s.pl * gi.pix),
        f.add(f.mul(f.get(y), f.c(s.sh * gi.rs)), f.mul(f.get(x), f.c(s.sw * gi.pix))),
      ),
    ),
    f.set(c.op, f.add(f.c(go.origin), f.add(f.mul(f.get(y), f.c(go.rs)), f.mul(f.get(x), f.c(go.pix))))),
  ];
}

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
  const clamp = (e: Expr): Expr => clampI8x16(f, e, c.lo, c.hi);
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
      ...windowPointers(f, { stage: s, gi, go, y, x, ip, op }),
      ...pixel,
    ]),
  ]);
}

/** Most values an int8 average may divide by: the float32 division is exact below 2^17. */
const MAX_AVERAGE_COUNT = 65536;

/**
 * `acc / n` rounded half away from zero (`roundedDivide`) on 4 lanes, then clamped to [lo, hi]:
 * `half` holds n >> 1 and `n` f32(n) in every lane; `t` is scratch.
 */
function roundedDivideI8(
  f: Fn,
  acc: Expr,
  v: { t: number; half: number; n: number },
  lo: number,
  hi: number,
): Expr {
  const m = f.m;
  // a = acc + (acc > 0 ? half : -half); a true i32x4.gt_s is -1, so (mask & 2 half) - half.
  const a = m.i32x4.sub(
    m.i32x4.add(
      f.get(v.t),
      m.v128.and(m.i32x4.gt_s(f.get(v.t), f.zero()), m.i32x4.add(f.get(v.half), f.get(v.half))),
    ),
    f.get(v.half),
  );
  const q = m.i32x4.trunc_sat_f32x4_s(m.f32x4.div(m.f32x4.convert_i32x4_s(a), f.get(v.n)));
  return m.block(
    null,
    [f.set(v.t, acc), m.i32x4.min_s(m.i32x4.max_s(q, i32Splat(f, lo)), i32Splat(f, hi))],
    binaryen.v128,
  );
}

function checkCount(layer: string, n: number): void {
  if (n > MAX_AVERAGE_COUNT)
    throw new GraphError(
      layer,
      `int8 wasm target: an average over ${n} values (at most ${MAX_AVERAGE_COUNT})`,
    );
}

/**
 * Rows [r0, r1) and columns [x0, x1) (locals) of an average pool writing `out`, clamped to
 * [lo, hi]; `zp` is the tensor's zero point (what a counted padded tap adds), `halo` what the
 * input's halo holds.
 */
export function avgPoolRowsI8(
  f: Fn,
  c: {
    stage: AvgPoolStage;
    out: Buffer;
    lo: number;
    hi: number;
    zp: number;
    halo: number;
    r0: number;
    r1: number;
    x0: number;
    x1: number;
  },
): Expr {
  const m = f.m;
  const s = c.stage;
  const gi = geomI8(s.in);
  const go = geomI8(c.out);
  const area = s.kh * s.kw;
  checkCount(s.name, area);
  const i32 = (): number => f.i32Local();
  const [y, x, ip, op, rowsIn, inside, corr] = [i32(), i32(), i32(), i32(), i32(), i32(), i32()];
  const v = { t: f.v128Local(), half: f.v128Local(), n: f.v128Local() };
  const [sumLo, sumHi, tap] = [f.v128Local(), f.v128Local(), f.v128Local()];
  const taps: number[] = [];
  for (let ky = 0; ky < s.kh; ky++) for (let kx = 0; kx < s.kw; kx++) taps.push(ky * gi.rs + kx * gi.pix);
  const min = (a: Expr, b: Expr): Expr => {
    const t = i32();
    return m.block(null, [f.set(t, a), m.select(m.i32.lt_s(f.get(t), b), f.get(t), b)], binaryen.i32);
  };
  const max0 = (a: Expr): Expr => {
    const t = i32();
    return m.block(
      null,
      [f.set(t, a), m.select(m.i32.gt_s(f.get(t), f.c(0)), f.get(t), f.c(0))],
      binaryen.i32,
    );
  };
  /** Taps of a window axis inside the input: min(start + k, size) - max(start, 0). */
  const insideAxis = (o: number, stride: number, pad: number, k: number, size: number): Expr =>
    m.i32.sub(
      min(f.add(f.mul(f.get(o), f.c(stride)), f.c(k - pad)), f.c(size)),
      max0(m.i32.sub(f.mul(f.get(o), f.c(stride)), f.c(pad))),
    );
  const count = s.countIncludePad ? f.c(area) : f.get(inside);
  // The halo's taps: each reads `halo`; counted ones should add zp, the others nothing.
  const outside = m.i32.sub(f.c(area), f.get(inside));
  const pixel: Expr[] = [
    f.set(inside, f.mul(f.get(rowsIn), insideAxis(x, s.sw, s.pl, s.kw, s.in.w))),
    f.set(corr, f.mul(outside, f.c(s.countIncludePad ? c.zp - c.halo : -c.halo))),
    f.set(v.half, m.i32x4.splat(m.i32.shr_u(count, f.c(1)))),
    f.set(v.n, m.f32x4.splat(m.f32.convert_s.i32(s.countIncludePad ? f.c(area) : f.get(inside)))),
    ...windowPointers(f, { stage: s, gi, go, y, x, ip, op }),
  ];
  for (let ch = 0; ch < go.pix; ch += 8) {
    pixel.push(f.set(sumLo, m.i32x4.splat(f.get(corr))), f.set(sumHi, m.i32x4.splat(f.get(corr))));
    for (const off of taps)
      pixel.push(
        f.set(tap, m.v128.load8x8_s(off + ch, 1, f.get(ip))),
        f.set(sumLo, m.i32x4.add(f.get(sumLo), m.i32x4.extend_low_i16x8_s(f.get(tap)))),
        f.set(sumHi, m.i32x4.add(f.get(sumHi), m.i32x4.extend_high_i16x8_s(f.get(tap)))),
      );
    pixel.push(
      m.v128.store64_lane(
        ch,
        1,
        0,
        f.get(op),
        narrow8(
          f,
          roundedDivideI8(f, f.get(sumLo), v, c.lo, c.hi),
          roundedDivideI8(f, f.get(sumHi), v, c.lo, c.hi),
        ),
      ),
    );
  }
  return f.loop(y, f.get(c.r0), () => f.get(c.r1), 1, [
    f.set(rowsIn, insideAxis(y, s.sh, s.pt, s.kh, s.in.h)),
    f.loop(x, f.get(c.x0), () => f.get(c.x1), 1, pixel),
  ]);
}

/**
 * Rows [r0, r1) (locals; the stage has one) of a global average pool writing `out`'s single
 * pixel, clamped to [lo, hi]: per 8 channels the sum over every input pixel, divided by H * W.
 */
export function gapRowsI8(
  f: Fn,
  c: { stage: GapStage; out: Buffer; lo: number; hi: number; r0: number; r1: number },
): Expr {
  const m = f.m;
  const s = c.stage;
  const gi = geomI8(s.in);
  const go = geomI8(c.out);
  const n = s.in.h * s.in.w;
  checkCount(s.name, n);
  const [y, py, px, ch, ip] = [f.i32Local(), f.i32Local(), f.i32Local(), f.i32Local(), f.i32Local()];
  const v = { t: f.v128Local(), half: f.v128Local(), n: f.v128Local() };
  const [sumLo, sumHi, tap] = [f.v128Local(), f.v128Local(), f.v128Local()];
  return f.loop(y, f.get(c.r0), () => f.get(c.r1), 1, [
    f.set(v.half, i32Splat(f, n >> 1)),
    f.set(v.n, f.f32x4(n)),
    f.loop(ch, f.c(0), () => f.c(go.pix), 8, [
      f.set(sumLo, f.zero()),
      f.set(sumHi, f.zero()),
      f.loop(py, f.c(0), () => f.c(s.in.h), 1, [
        f.set(ip, f.add(f.c(gi.origin), f.add(f.mul(f.get(py), f.c(gi.rs)), f.get(ch)))),
        f.loop(px, f.c(0), () => f.c(s.in.w), 1, [
          f.set(tap, m.v128.load8x8_s(0, 1, f.get(ip))),
          f.set(sumLo, m.i32x4.add(f.get(sumLo), m.i32x4.extend_low_i16x8_s(f.get(tap)))),
          f.set(sumHi, m.i32x4.add(f.get(sumHi), m.i32x4.extend_high_i16x8_s(f.get(tap)))),
          f.bump(ip, gi.pix),
        ]),
      ]),
      m.v128.store64_lane(
        0,
        1,
        0,
        f.add(f.c(go.origin), f.get(ch)),
        narrow8(
          f,
          roundedDivideI8(f, f.get(sumLo), v, c.lo, c.hi),
          roundedDivideI8(f, f.get(sumHi), v, c.lo, c.hi),
        ),
      ),
    ]),
  ]);
}
