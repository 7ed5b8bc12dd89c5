/**
 * Nearest resize in the int8 build, to any size (a `resize` op, or an upsample that no conv
 * epilogue takes): PyTorch's nearest, align_corners false, output (y, x) = input (src(y),
 * src(x)) with graph-dsl's `nearestSourceIndex`. The output carries the input's parameters
 * (`executeQuantized` gathers integers), so the stage moves bytes, clamped by a fused
 * activation.
 *
 * The source index is computed as ATen (and `nearestSourceIndex`) does, in float32: the scale
 * in / out rounded to float32 at emit time, `f32.mul` by the output index (the exact product of
 * two 24-bit values rounded once to float32 is `Math.fround(dst * scale)`), truncated (floor,
 * all values being non-negative) and kept below `in`; out = in and out = 2 in take ATen's exact
 * shortcuts. Computing it rather than tabulating it keeps the weights file as it is, and it
 * costs one multiply per output row and column against a pixel's worth of byte moves.
 *
 * One output pixel copies its input pixel's pad8(C) bytes 8 at a time (both buffers have the
 * same channels); the padded channels carry padding, which no int8 kernel reads as values.
 * Columns [x0, x1) are whole pixels of this call's own, so threads splitting a row never write
 * each other's bytes.
 */
import binaryen from 'binaryen';
import type { Expr, Fn } from '../kernels/builder.js';
import type { NearestStage } from '../plan.js';
import { copyPixelI8 } from './bytes.js';
import { geomI8, type ClampedRangeArgs } from './plan.js';

/** Rows [r0, r1) and columns [x0, x1) (locals) of a nearest resize writing `out`, clamped to [lo, hi]. */
export function nearestRowsI8(f: Fn, c: ClampedRangeArgs<NearestStage>): Expr {
  const m = f.m;
  const s = c.stage;
  const gi = geomI8(s.in);
  const go = geomI8(c.out);
  if (gi.pix !== go.pix)
    throw new Error(`codegen-wasm int8: nearest resize ${s.name} changes the channels (a planner bug)`);
  const [y, x, t, ipRow, ip, op] = [
    f.i32Local(),
    f.i32Local(),
    f.i32Local(),
    f.i32Local(),
    f.i32Local(),
    f.i32Local(),
  ];
  /** `nearestSourceIndex(d, inSize, outSize)` of the output index in local `d`. */
  const source = (d: number, inSize: number, outSize: number): Expr => {
    if (outSize === inSize) return f.get(d);
    if (outSize === 2 * inSize) return m.i32.shr_u(f.get(d), f.c(1));
    const scale = Math.fround(inSize / outSize);
    return m.block(
      null,
      [
        f.set(t, m.i32.trunc_u.f32(m.f32.mul(m.f32.convert_u.i32(f.get(d)), m.f32.const(scale)))),
        // binaryen.js: select(condition, ifTrue, ifFalse).
        m.select(m.i32.lt_u(f.get(t), f.c(inSize - 1)), f.get(t), f.c(inSize - 1)),
      ],
      binaryen.i32,
    );
  };
  const copy = copyPixelI8(f, gi.pix, ip, op, c.lo, c.hi);
  return f.loop(y, f.get(c.r0), () => f.get(c.r1), 1, [
    f.set(ipRow, f.add(f.c(gi.origin), f.mul(source(y, s.in.h, s.rows), f.c(gi.rs)))),
    f.set(op, f.add(f.c(go.origin), f.add(f.mul(f.get(y), f.c(go.rs)), f.mul(f.get(c.x0), f.c(go.pix))))),
    f.loop(x, f.get(c.x0), () => f.get(c.x1), 1, [
      f.set(ip, f.add(f.get(ipRow), f.mul(source(x, s.in.w, s.cols), f.c(gi.pix)))),
      ...copy,
      f.bump(op, go.pix),
    ]),
  ]);
}
