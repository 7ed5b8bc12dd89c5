/**
 * Unpooling x2 in the int8 build (the UpConv / UpProj decoders): each input pixel goes to the
 * top-left of its 2x2 cell, every other output pixel holds the zero point (the output carries
 * the input's parameters, so the inserted zeros are exactly 0). A fused activation clamps the
 * copied values; the zero point is inside every activation's range already.
 */
import type { Expr, Fn } from '../kernels/builder.js';
import type { Buffer, UnpoolStage } from '../plan.js';
import { copyPixelI8 } from './bytes.js';
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
  // One input pixel's padded channels, 8 bytes at a time (both buffers have pad8(C) per pixel).
  const copy = copyPixelI8(f, gi.pix, ip, op, c.lo, c.hi);
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
