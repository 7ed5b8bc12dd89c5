/**
 * The int8 MUL in the int8 build (squeeze-excite's rescaling, or an elementwise product): for each
 * pixel, 8 channels at a time, the centred operands `q - zp` (|.| <= 255, i16 lanes) multiplied
 * into int32 (`i32x4.extmul_*_i16x8_s`, |p| <= 255^2) and requantised with one multiplier for all
 * channels (TFLite's `MultiplyByQuantizedMultiplier`, or XNNPACK's float32 scale rounded half to
 * even: `requantize` with constant vectors), the output zero point added and a fused clamp
 * applied, as graph-dsl's `executeQuantized` computes it. A (1, 1) factor buffer is read at its
 * single pixel for every output pixel (per channel); otherwise at the same pixel.
 */
import type { Expr, Fn } from '../kernels/builder.js';
import type { Buffer, Int8MapStage } from '../plan.js';
import { geomI8, type MulQuant } from './plan.js';
import { narrow8, requantize, requantLocals, uniformConstants } from './requant.js';

/** Rows [r0, r1) and columns [x0, x1) (locals) of a mul stage: `out = stage.in * stage.mul`. */
export function mulRowsI8(
  f: Fn,
  c: { stage: Int8MapStage; out: Buffer; mul: MulQuant; r0: number; r1: number; x0: number; x1: number },
): Expr {
  const m = f.m;
  const factor = c.stage.mul!;
  const perChannel = factor.h === 1 && factor.w === 1;
  const [ga, gs, go] = [geomI8(c.stage.in), geomI8(factor), geomI8(c.out)];
  const [y, x, ap, sp, op] = [f.i32Local(), f.i32Local(), f.i32Local(), f.i32Local(), f.i32Local()];
  const [da, ds, lo] = [f.v128Local(), f.v128Local(), f.v128Local()];
  const L = requantLocals(f);
  const constants = uniformConstants(f, c.mul.requant);
  const at = (g: ReturnType<typeof geomI8>): Expr =>
    f.add(f.c(g.origin), f.add(f.mul(f.get(y), f.c(g.rs)), f.mul(f.get(x), f.c(g.pix))));
  const pixel: Expr[] = [
    f.set(ap, at(ga)),
    f.set(sp, perChannel ? f.c(gs.origin) : at(gs)),
    f.set(op, at(go)),
  ];
  const centred = (ptr: number, ch: number, zp: number): Expr =>
    m.i16x8.sub(m.v128.load8x8_s(ch, 1, f.get(ptr)), m.i16x8.splat(f.c(zp)));
  for (let ch = 0; ch < go.pix; ch += 8) {
    pixel.push(
      f.set(da, centred(ap, ch, c.mul.zpIn)),
      f.set(ds, centred(sp, ch, c.mul.zpMul)),
      f.set(lo, requantize(f, m.i32x4.extmul_low_i16x8_s(f.get(da), f.get(ds)), c.mul.requant, constants, L)),
      m.v128.store64_lane(
        ch,
        1,
        0,
        f.get(op),
        narrow8(
          f,
          f.get(lo),
          requantize(f, m.i32x4.extmul_high_i16x8_s(f.get(da), f.get(ds)), c.mul.requant, constants, L),
        ),
      ),
    );
  }
  return f.loop(y, f.get(c.r0), () => f.get(c.r1), 1, [f.loop(x, f.get(c.x0), () => f.get(c.x1), 1, pixel)]);
}
