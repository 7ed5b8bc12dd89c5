/**
 * Unpooling x2 in the int8 build (the UpConv / UpProj decoders): each input pixel goes to the
 * top-left of its 2x2 cell, every other output pixel holds the zero point (the output carries
 * the input's parameters, so the inserted zeros are exactly 0). A fused activation clamps the
 * copied values; the zero point is inside every activation's range already.
 */
import type { Expr, Fn } from '../kernels/builder.js';
import type { Buffer, UnpoolStage } from '../plan.js';
import { geomI8 } from './plan.js';

/** Rows [r0, r1) (locals) of an unpool stage writing `out` (zero point `zp`), clamped to [lo, hi]. */
export function unpoolRowsI8(
  f: Fn,
  c: { stage: UnpoolStage; out: Buffer; zp: number; lo: number; hi: number; r0: number; r1: number },
): Expr {
  const m = f.m;
  const s = c.stage;
  const gi = geomI8(s.in);
  const go = geomI8(c.out);
  const sc = s.scale;
  const [y, x, ip, op] = [f.i32Local(), f.i32Local(), f.i32Local(), f.i32Local()];
  const clamp = (e: Expr): Expr => {
    let r = e;
    if (c.lo > -128) r = m.i8x16.max_s(r, m.i8x16.splat(f.c(c.lo)));
    if (c.hi < 127) r = m.i8x16.min_s(r, m.i8x16.splat(f.c(c.hi)));
    return r;
  };
  // One input pixel's padded channels, 8 bytes at a time (both buffers have pad8(C) per pixel).
  const copy: Expr[] = [];
  for (let b = 0; b < gi.pix; b += 8)
    copy.push(
      c.lo > -128 || c.hi < 127
        ? m.v128.store64_lane(b, 1, 0, f.get(op), clamp(m.v128.load64_zero(b, 1, f.get(ip))))
        : m.i64.store(b, 1, f.get(op), m.i64.load(b, 1, f.get(ip))),
    );
  const rowAt = (): Expr => f.add(f.c(go.origin), f.mul(f.get(y), f.c(go.rs)));
  return f.loop(y, f.get(c.r0), () => f.get(c.r1), 1, [
    m.memory.fill(rowAt(), f.c(c.zp & 0xff), f.c(s.cols * go.pix)),
    m.if(
      m.i32.eqz(m.i32.rem_u(f.get(y), f.c(sc))),
      f.block([
        f.set(ip, f.add(f.c(gi.origin), f.mul(m.i32.div_u(f.get(y), f.c(sc)), f.c(gi.rs)))),
        f.set(op, rowAt()),
        f.loop(x, f.c(0), () => f.c(s.in.w), 1, [...copy, f.bump(ip, gi.pix), f.bump(op, sc * go.pix)]),
      ]),
    ),
  ]);
}
