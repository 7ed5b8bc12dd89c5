/**
 * Channel concatenation in the int8 build: every input carries the concat's scale and zero point
 * (TFLite's CONCATENATION restriction, `validateQuantizedModel`), so the stage copies integers,
 * each input's channels to its offset in the concat's NHWC pixels.
 *
 * Copies go 8 bytes at a time in channel order. A copy's last chunk may run past the input's
 * channels into the next input's first ones, which that input's own copy then overwrites, or
 * into the concat's padded channels, which no int8 kernel reads as values (their weights are
 * zero). A chunk that would leave the pixel (the last input at an offset that is not a multiple
 * of 8) ends in byte copies instead, so threads copying other columns never touch each other's
 * pixels.
 */
import type { Expr, Fn } from '../kernels/builder.js';
import type { ConcatStage } from '../plan.js';
import { geomI8, pad8 } from './plan.js';

/** Rows [r0, r1) and columns [x0, x1) (locals) of a concat stage. */
export function concatRowsI8(
  f: Fn,
  c: { stage: ConcatStage; r0: number; r1: number; x0: number; x1: number },
): Expr {
  const m = f.m;
  const go = geomI8(c.stage.out);
  const [y, x, ip, op] = [f.i32Local(), f.i32Local(), f.i32Local(), f.i32Local()];
  const pixel: Expr[] = [];
  for (const { buffer, offset } of c.stage.ins) {
    const gi = geomI8(buffer);
    pixel.push(
      f.set(ip, f.add(f.c(gi.origin), f.add(f.mul(f.get(y), f.c(gi.rs)), f.mul(f.get(x), f.c(gi.pix))))),
      f.set(
        op,
        f.add(f.c(go.origin + offset), f.add(f.mul(f.get(y), f.c(go.rs)), f.mul(f.get(x), f.c(go.pix)))),
      ),
    );
    const whole = offset + pad8(buffer.c) <= go.pix;
    const chunks = whole ? pad8(buffer.c) / 8 : Math.floor(buffer.c / 8);
    for (let k = 0; k < chunks; k++)
      pixel.push(m.i64.store(8 * k, 1, f.get(op), m.i64.load(8 * k, 1, f.get(ip))));
    if (!whole)
      for (let b = 8 * chunks; b < buffer.c; b++)
        pixel.push(m.i32.store8(b, 1, f.get(op), m.i32.load8_u(b, 1, f.get(ip))));
  }
  return f.loop(y, f.get(c.r0), () => f.get(c.r1), 1, [f.loop(x, f.get(c.x0), () => f.get(c.x1), 1, pixel)]);
}
