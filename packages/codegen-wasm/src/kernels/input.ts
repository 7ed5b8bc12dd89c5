/**
 * The first stage: the NCHW float32 input (what every other engine takes) to the channels-last,
 * padded, haloed layout the kernels read. Channel planes are gathered into one v128 per pixel
 * (3 channels + a zero lane for RGB).
 */
import type { Buffer } from '../plan.js';
import { geomOf, type Layout } from '../layout.js';
import type { Expr, Fn } from './builder.js';

export function inputRows(f: Fn, c: { out: Buffer; layout: Layout; r0: number; r1: number }): Expr {
  const m = f.m;
  const b = c.out;
  const go = geomOf(b);
  const plane = b.h * b.w * 4;
  const y = f.i32Local();
  const x = f.i32Local();
  const ip = f.i32Local();
  const op = f.i32Local();
  const pixel: Expr[] = [
    f.set(
      ip,
      f.add(f.c(c.layout.input.byteOffset), f.mul(f.add(f.mul(f.get(y), f.c(b.w)), f.get(x)), f.c(4))),
    ),
    f.set(op, f.add(f.c(go.origin), f.add(f.mul(f.get(y), f.c(go.rs)), f.mul(f.get(x), f.c(go.pix))))),
  ];
  for (let cv = 0; cv < b.cp / 4; cv++) {
    let v = f.zero();
    for (let l = 0; l < 4 && cv * 4 + l < b.c; l++)
      v = m.f32x4.replace_lane(v, l, m.f32.load((cv * 4 + l) * plane, 4, f.get(ip)));
    pixel.push(f.store(f.get(op), cv * 16, v));
  }
  return f.loop(y, f.get(c.r0), () => f.get(c.r1), 1, [f.loop(x, f.c(0), () => f.c(b.w), 1, pixel)]);
}
