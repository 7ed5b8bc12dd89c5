/**
 * The graph output of the int8 build when no conv epilogue writes it: after a pool, a global
 * average pool, a resize, an unpool, a pixel shuffle, a map stage (mul, table lookup, a
 * standalone add), a concat, or a value that other layers read too. Those stages' kernels write
 * int8 NHWC buffers only; rather than give each of them a second, NCHW float store path (and its
 * tests), the planner lets the last stage write a buffer as any other and adds one map stage
 * that reads it and writes the two outputs a conv epilogue writes (`EpilogueI8`): the int8 NCHW
 * output (`LayoutI8.outputInt8`) and its dequantisation, float32 NCHW (`LayoutI8.output`), with
 * the same float32 arithmetic, `f32(q - zp) * f32(scale)`. The output's integers are its
 * input's (`executeQuantized` passes them through), so the copy is exact; it costs one pass
 * over the output, which is small next to the stage that computed it.
 *
 * Rows [r0, r1) and columns [x0, x1) of the output grid, as every map stage takes them: each
 * pixel's C bytes (not the padded channels) to their planes.
 */
import type { QuantParams } from '@fastdepth/graph-dsl';
import type { Expr, Fn } from '../kernels/builder.js';
import type { Int8MapStage } from '../plan.js';
import { geomI8, type LayoutI8 } from './plan.js';

/**
 * Rows [r0, r1) and columns [x0, x1) (locals) of the output copy stage `stage` (a map stage of
 * `stage.in` alone): its integers to the int8 output and, dequantised with `params`, to the
 * float32 output.
 */
export function outputRowsI8(
  f: Fn,
  c: {
    stage: Int8MapStage;
    layout: LayoutI8;
    params: QuantParams;
    r0: number;
    r1: number;
    x0: number;
    x1: number;
  },
): Expr {
  const m = f.m;
  const s = c.stage;
  const o = c.layout.output;
  if (s.in.c !== o.c || s.in.h !== o.h || s.in.w !== o.w)
    throw new Error(`codegen-wasm int8: output copy ${s.name} of another shape (a planner bug)`);
  const gi = geomI8(s.in);
  const plane = o.h * o.w;
  const [y, x, ch, ip, at, q] = [
    f.i32Local(),
    f.i32Local(),
    f.i32Local(),
    f.i32Local(),
    f.i32Local(),
    f.i32Local(),
  ];
  const channel: Expr[] = [
    f.set(q, m.i32.load8_s(0, 1, f.add(f.get(ip), f.get(ch)))),
    m.i32.store8(c.layout.outputInt8.byteOffset, 1, f.get(at), f.get(q)),
    m.f32.store(
      c.layout.output.byteOffset,
      4,
      f.mul(f.get(at), f.c(4)),
      m.f32.mul(
        m.f32.convert_s.i32(m.i32.sub(f.get(q), f.c(c.params.zeroPoint))),
        m.f32.const(c.params.scale),
      ),
    ),
    f.bump(at, plane),
  ];
  const pixel: Expr[] = [
    f.set(ip, f.add(f.c(gi.origin), f.add(f.mul(f.get(y), f.c(gi.rs)), f.mul(f.get(x), f.c(gi.pix))))),
    // NCHW: pixel y * W + x of plane 0, one plane further per channel.
    f.set(at, f.add(f.mul(f.get(y), f.c(o.w)), f.get(x))),
    f.loop(ch, f.c(0), () => f.c(s.in.c), 1, channel),
  ];
  return f.loop(y, f.get(c.r0), () => f.get(c.r1), 1, [f.loop(x, f.get(c.x0), () => f.get(c.x1), 1, pixel)]);
}
