/**
 * Dense convolution (groups 1) with any kernel, stride, pad and dilation: the first conv of the
 * encoder (3x3 stride 2 on 3 channels), and any full KxK conv. Register block: 4 output pixels x
 * 8 output channels, like the pointwise GEMM, with the taps unrolled (each tap's displacement is a
 * constant load offset) and, for few input channels (the RGB input: 3), the channels unrolled
 * too, so the first conv is 27 straight-line broadcast/multiply-add steps per block with no
 * multiply by the padding channel. Wider inputs loop over channel vectors, 4 channels per step.
 */
import { pad4, type ConvGeom, type Buffer } from '../plan.js';
import { geomOf } from '../layout.js';
import type { Expr, Fn } from './builder.js';
import type { EpilogueWriter } from './epilogue.js';

/** Input channels at or below this are unrolled per tap (and packed unpadded). */
export const UNROLL_CIN = 8;

export function denseCinEff(g: ConvGeom): number {
  return g.cin <= UNROLL_CIN ? g.cin : pad4(g.cin);
}

export function convRows(
  f: Fn,
  c: { in: Buffer; g: ConvGeom; wAddr: number; bAddr: number; epi: EpilogueWriter; r0: number; r1: number },
): Expr {
  const { g } = c;
  const gi = geomOf(c.in);
  const cinEff = denseCinEff(g);
  const unrolled = g.cin <= UNROLL_CIN;
  const taps = g.kh * g.kw;
  const coutP = pad4(g.cout);
  const y = f.i32Local();
  const x = f.i32Local();
  const cb = f.i32Local();
  const rowBase = f.i32Local();
  const ib = f.i32Local();
  const ic = f.i32Local();
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
    ];
    for (let p = 0; p < P; p++)
      for (let j = 0; j < nv; j++)
        body.push(f.set(a(p, j), f.load(f.add(f.c(c.bAddr), f.mul(c0(), f.c(4))), j * 16)));
    // One step: input channel `ci` of tap `tapOff`, weights at wp + woff.
    const step = (ptr: number, inOff: number, woff: number): Expr[] => {
      const s: Expr[] = [];
      for (let j = 0; j < nv; j++) s.push(f.set(w[j]!, f.load(f.get(wp), woff + j * 16)));
      for (let p = 0; p < P; p++) {
        s.push(f.set(xs[p]!, f.splat(f.get(ptr), inOff + p * g.sw * gi.pix)));
        for (let j = 0; j < nv; j++)
          s.push(f.set(a(p, j), f.madd(f.get(xs[p]!), f.get(w[j]!), f.get(a(p, j)))));
      }
      return s;
    };
    for (let ky = 0; ky < g.kh; ky++) {
      for (let kx = 0; kx < g.kw; kx++) {
        const tapOff = ky * g.dh * gi.rs + kx * g.dw * gi.pix;
        if (unrolled) {
          for (let ci = 0; ci < cinEff; ci++) body.push(...step(ib, tapOff + ci * 4, ci * nb * 4));
          body.push(f.bump(wp, cinEff * nb * 4));
        } else {
          const inner: Expr[] = [];
          for (let u = 0; u < 4; u++) inner.push(...step(ic, tapOff + u * 4, u * nb * 4));
          inner.push(f.bump(ic, 16), f.bump(wp, 4 * nb * 4));
          body.push(f.set(ic, f.get(ib)), f.repeat(kk, cinEff / 4, inner));
        }
      }
    }
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
  if (n4 < g.ow) row.push(f.loop(x, f.c(n4), () => f.c(g.ow), 1, channels(1)));
  return f.loop(y, f.get(c.r0), () => f.get(c.r1), 1, row);
}
