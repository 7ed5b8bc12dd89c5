/**
 * Byte moves shared by the int8 stages whose output carries their input's parameters (unpool,
 * nearest resize, max pool): integers are copied or compared, never requantised, so a fused
 * activation is only a clamp of the bytes.
 */
import type { Expr, Fn } from '../kernels/builder.js';

/** `v` (16 int8 lanes) clamped to [lo, hi]; the full int8 range emits no instruction. */
export function clampI8x16(f: Fn, v: Expr, lo: number, hi: number): Expr {
  let r = v;
  if (lo > -128) r = f.m.i8x16.max_s(r, f.m.i8x16.splat(f.c(lo)));
  if (hi < 127) r = f.m.i8x16.min_s(r, f.m.i8x16.splat(f.c(hi)));
  return r;
}

/**
 * Copies one pixel's `pixelBytes` (a multiple of 8: pad8(C)) from the address in local `ip` to
 * the one in local `op`, 8 bytes at a time, clamped to [lo, hi] when that is narrower than int8.
 */
export function copyPixelI8(
  f: Fn,
  pixelBytes: number,
  ip: number,
  op: number,
  lo: number,
  hi: number,
): Expr[] {
  const m = f.m;
  const clamped = lo > -128 || hi < 127;
  const copy: Expr[] = [];
  for (let b = 0; b < pixelBytes; b += 8)
    copy.push(
      clamped
        ? m.v128.store64_lane(b, 1, 0, f.get(op), clampI8x16(f, m.v128.load64_zero(b, 1, f.get(ip)), lo, hi))
        : m.i64.store(b, 1, f.get(op), m.i64.load(b, 1, f.get(ip))),
    );
  return copy;
}
