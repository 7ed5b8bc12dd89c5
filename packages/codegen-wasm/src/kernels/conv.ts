/**
 * Dense convolution (groups 1) with any kernel, stride, pad and dilation: the first conv of the
 * encoder (3x3 stride 2 on 3 channels), and any full KxK conv. Register block: 4 output pixels x
 * 8 output channels, like the pointwise GEMM. The inner loop walks (tap, input channel) pairs,
 * one per iteration, reading each pair's input displacement from a small table packed with the
 * weights: one loop for any kernel shape, and for few input channels (the RGB input: 3) no
 * multiply by the padding channel (27 steps for the first conv, not 36). Unrolling the taps
 * instead made V8 hoist all the loads of the block and spill (12 GFLOP/s against 30+).
 */
import { pad4, type ConvGeom, type Buffer } from '../plan.js';
import { geomOf } from '../layout.js';
import type { Expr, Fn } from './builder.js';
import type { EpilogueWriter } from './epilogue.js';

/** Input channels at or below this are packed unpadded (the padding lane is skipped). */
export const UNROLL_CIN = 8;

export function denseCinEff(g: ConvGeom): number {
  return g.cin <= UNROLL_CIN ? g.cin : pad4(g.cin);
}

/** Byte displacement of each (tap, input channel) step from the block's top-left input. */
export function denseOffsets(g: ConvGeom, input: Buffer): Int32Array {
  const gi = geomOf(input);
  const cinEff = denseCinEff(g);
  const out = new Int32Array(g.kh * g.kw * cinEff);
  let i = 0;
  for (let ky = 0; ky < g.kh; ky++)
    for (let kx = 0; kx < g.kw; kx++)
      for (let ci = 0; ci < cinEff; ci++) out[i++] = ky * g.dh * gi.rs + kx * g.dw * gi.pix + ci * 4;
  return out;
}

export function convRows(
  f: Fn,
  c: {
    in: Buffer;
    g: ConvGeom;
    wAddr: number;
    bAddr: number;
    tAddr: number;
    epi: EpilogueWriter;
    r0: number;
    r1: number;
  },
): Expr {
  const m = f.m;
  const { g } = c;
  const gi = geomOf(c.in);
  const cinEff = denseCinEff(g);
  const taps = g.kh * g.kw;
  const coutP = pad4(g.cout);
  const y = f.i32Local();
  const x = f.i32Local();
  const cb = f.i32Local();
  const rowBase = f.i32Local();
  const ib = f.i32Local();
  const ic = f.i32Local();
  const tp = f.i32Local();
  const wp = f.i32Local();
  const kk = f.i32Local();
  const acc = Array.from({ length: 8 }, () => f.v128Local());
  const xs = Array.from({ length: 4 }, () => f.v128Local());
  const w = [f.v128Local(), f.v128Local()];
  const blockFloats = (nb: number): number => taps * cinEff * nb;

  const micro = (P: number, nb: number, c0: () => Expr, wStart: () => Expr): Expr[] => {
    const nv = nb / 4;
    const a = (p: number, j: number): number => acc[p * nv + j]!;
    const body: Expr[] = [
      f.set(ib, f.add(f.get(rowBase), f.mul(f.get(x), f.c(g.sw * gi.pix)))),
      f.set(wp, wStart()),
      f.set(tp, f.c(c.tAddr)),
    ];
    for (let p = 0; p < P; p++)
      for (let j = 0; j < nv; j++)
        body.push(f.set(a(p, j), f.load(f.add(f.c(c.bAddr), f.mul(c0(), f.c(4))), j * 16)));
    // One (tap, input channel) per iteration: its input displacement comes from the table.
    const step: Expr[] = [f.set(ic, f.add(f.get(ib), m.i32.load(0, 4, f.get(tp))))];
    for (let j = 0; j < nv; j++) step.push(f.set(w[j]!, f.load(f.get(wp), j * 16)));
    for (let p = 0; p < P; p++) {
      step.push(f.set(xs[p]!, f.splat(f.get(ic), p * g.sw * gi.pix)));
      for (let j = 0; j < nv; j++)
        step.push(f.set(a(p, j), f.madd(f.get(xs[p]!), f.get(w[j]!), f.get(a(p, j)))));
    }
    step.push(f.bump(tp, 4), f.bump(wp, nb * 4));
    body.push(f.repeat(kk, taps * cinEff, step));
    body.push(
      ...c.epi.setup(
        () => f.get(y),
        () => f.get(x),
        c0,
      ),
    );
    for (let p = 0; p < P; p++)
      for (let j = 0; j < nv; j++) body.push(...c.epi.store(f.get(a(p, j)), p, j * 4));
    return body;
  };

  const full = Math.floor(coutP / 8);
  const half = coutP % 8 === 4;
  const channels = (P: number): Expr[] => {
    const r: Expr[] = [];
    if (full > 0)
      r.push(
        f.loop(
          cb,
          f.c(0),
          () => f.c(full * 8),
          8,
          micro(
            P,
            8,
            () => f.get(cb),
            () => f.add(f.c(c.wAddr), f.mul(f.get(cb), f.c(blockFloats(1) * 4))),
          ),
        ),
      );
    if (half)
      r.push(
        ...micro(
          P,
          4,
          () => f.c(full * 8),
          () => f.c(c.wAddr + full * blockFloats(8) * 4),
        ),
      );
    return r;
  };
  const n4 = g.ow - (g.ow % 4);
  const row: Expr[] = [
    f.set(rowBase, f.add(f.c(gi.origin - g.pt * gi.rs - g.pl * gi.pix), f.mul(f.get(y), f.c(g.sh * gi.rs)))),
  ];
  if (n4 > 0) row.push(f.loop(x, f.c(0), () => f.c(n4), 4, channels(4)));
  // The leftover pixels (width mod 4) as one narrower block, not one pixel at a time.
  if (n4 < g.ow) row.push(f.set(x, f.c(n4)), ...channels(g.ow - n4));
  return f.loop(y, f.get(c.r0), () => f.get(c.r1), 1, row);
}
