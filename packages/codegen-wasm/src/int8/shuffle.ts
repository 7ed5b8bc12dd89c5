/**
 * Pixel shuffle (depth to space, PyTorch's channel order: the `shuffle` decoders) in the int8
 * build: output pixel (y, x), channel c is input channel c r^2 + (y % r) r + x % r of input pixel
 * (y / r, x / r). The output carries the input's parameters, so the stage moves integers, clamped
 * by a fused activation. In NHWC one output pixel gathers every r^2-th byte of one input pixel:
 * a byte loop over the channels (the padded output channels are left as they are: no int8
 * kernel reads them as values).
 */
import binaryen from 'binaryen';
import type { Expr, Fn } from '../kernels/builder.js';
import type { ShuffleStage } from '../plan.js';
import { geomI8, type ClampedRangeArgs } from './plan.js';

/** Rows [r0, r1) and columns [x0, x1) (locals) of a pixel shuffle writing `out`, clamped to [lo, hi]. */
export function shuffleRowsI8(f: Fn, c: ClampedRangeArgs<ShuffleStage>): Expr {
  const m = f.m;
  const r = c.stage.block;
  const gi = geomI8(c.stage.in);
  const go = geomI8(c.out);
  const [y, x, ch, ip, op, v] = [
    f.i32Local(),
    f.i32Local(),
    f.i32Local(),
    f.i32Local(),
    f.i32Local(),
    f.i32Local(),
  ];
  const div = (e: Expr): Expr => m.i32.div_u(e, f.c(r));
  const rem = (e: Expr): Expr => m.i32.rem_u(e, f.c(r));
  let value: Expr = m.i32.load8_s(0, 1, f.add(f.get(ip), f.mul(f.get(ch), f.c(r * r))));
  if (c.lo > -128 || c.hi < 127) {
    // binaryen.js: select(condition, ifTrue, ifFalse).
    const clamp = (e: Expr, bound: number, keep: (a: Expr, b: Expr) => Expr): Expr =>
      m.block(null, [f.set(v, e), m.select(keep(f.get(v), f.c(bound)), f.get(v), f.c(bound))], binaryen.i32);
    if (c.lo > -128) value = clamp(value, c.lo, (a, b) => m.i32.gt_s(a, b));
    if (c.hi < 127) value = clamp(value, c.hi, (a, b) => m.i32.lt_s(a, b));
  }
  const pixel: Expr[] = [
    f.set(
      ip,
      f.add(
        f.c(gi.origin),
        f.add(
          f.add(f.mul(div(f.get(y)), f.c(gi.rs)), f.mul(div(f.get(x)), f.c(gi.pix))),
          f.add(f.mul(rem(f.get(y)), f.c(r)), rem(f.get(x))),
        ),
      ),
    ),
    f.set(op, f.add(f.c(go.origin), f.add(f.mul(f.get(y), f.c(go.rs)), f.mul(f.get(x), f.c(go.pix))))),
    f.loop(ch, f.c(0), () => f.c(c.out.c), 1, [m.i32.store8(0, 1, f.add(f.get(op), f.get(ch)), value)]),
  ];
  return f.loop(y, f.get(c.r0), () => f.get(c.r1), 1, [f.loop(x, f.get(c.x0), () => f.get(c.x1), 1, pixel)]);
}
