/**
 * Depthwise convolution, channels-last, vectorised over channels: for a block of 4 output
 * pixels and one vector of 4 channels, each tap loads its 4 weights once and multiplies them into
 * 4 accumulators. Every tap's displacement (ky * row stride + kx * pixel stride) is a constant
 * load offset from one base pointer; the input's zero halo covers the pads, so there are no
 * bounds checks.
 *
 * `dwRow` writes one row either through the epilogue (a depthwise conv on its own) or into the
 * thread's scratch tile (fused with the pointwise conv that reads it: `dwpw` stages run
 * `dwRow` then `gemmRow` on the tile, so the depthwise output never reaches a buffer).
 */
import type { ConvGeom, Act, Buffer } from '../plan.js';
import { pad4 } from '../plan.js';
import { geomOf } from '../layout.js';
import { activate, type Expr, type Fn } from './builder.js';
import type { EpilogueWriter } from './epilogue.js';

export interface DwRow {
  readonly in: Buffer;
  readonly g: ConvGeom;
  readonly wAddr: number;
  readonly bAddr: number;
  /** Local: output row. */
  readonly y: number;
  /** Either the scratch tile (local holding its address) with the activation, or an epilogue. */
  readonly dest: { readonly tile: number; readonly act: Act } | { readonly epi: EpilogueWriter };
}

export interface DwLocals {
  readonly x: number;
  readonly cv: number;
  readonly rowBase: number;
  readonly ib: number;
  readonly wp: number;
  readonly bp: number;
  readonly tp: number;
  readonly acc: number[];
  readonly w: number;
}

export function dwLocals(f: Fn): DwLocals {
  return {
    x: f.i32Local(),
    cv: f.i32Local(),
    rowBase: f.i32Local(),
    ib: f.i32Local(),
    wp: f.i32Local(),
    bp: f.i32Local(),
    tp: f.i32Local(),
    acc: Array.from({ length: 4 }, () => f.v128Local()),
    w: f.v128Local(),
  };
}

export function dwRow(f: Fn, d: DwRow, L: DwLocals): Expr {
  const { g } = d;
  const gi = geomOf(d.in);
  const cp = pad4(g.cin);
  const taps = g.kh * g.kw;
  const n4 = g.ow - (g.ow % 4);

  const block = (P: number): Expr[] => {
    const body: Expr[] = [
      // Top-left tap of pixel x, channel vector 0.
      f.set(L.ib, f.add(f.get(L.rowBase), f.mul(f.get(L.x), f.c(g.sw * gi.pix)))),
      f.set(L.wp, f.c(d.wAddr)),
      f.set(L.bp, f.c(d.bAddr)),
    ];
    if ('tile' in d.dest) body.push(f.set(L.tp, f.add(f.get(d.dest.tile), f.mul(f.get(L.x), f.c(cp * 4)))));
    const inner: Expr[] = [];
    for (let p = 0; p < P; p++) inner.push(f.set(L.acc[p]!, f.load(f.get(L.bp), 0)));
    for (let ky = 0; ky < g.kh; ky++) {
      for (let kx = 0; kx < g.kw; kx++) {
        const t = ky * g.kw + kx;
        inner.push(f.set(L.w, f.load(f.get(L.wp), t * 16)));
        for (let p = 0; p < P; p++) {
          const off = ky * g.dh * gi.rs + (kx * g.dw + p * g.sw) * gi.pix;
          inner.push(f.set(L.acc[p]!, f.madd(f.load(f.get(L.ib), off), f.get(L.w), f.get(L.acc[p]!))));
        }
      }
    }
    if ('tile' in d.dest) {
      for (let p = 0; p < P; p++)
        inner.push(f.store(f.get(L.tp), p * cp * 4, activate(f, d.dest.act, f.get(L.acc[p]!))));
      inner.push(f.bump(L.tp, 16));
    } else {
      for (let p = 0; p < P; p++) inner.push(...d.dest.epi.store(f.get(L.acc[p]!), p, 0));
    }
    inner.push(f.bump(L.ib, 16), f.bump(L.wp, taps * 16), f.bump(L.bp, 16));
    if ('epi' in d.dest) {
      const epi = d.dest.epi;
      // The epilogue is re-pointed at each vector of 4 channels.
      inner.unshift(
        ...epi.setup(
          () => f.get(d.y),
          () => f.get(L.x),
          () => f.mul(f.get(L.cv), f.c(4)),
        ),
      );
    }
    body.push(f.loop(L.cv, f.c(0), () => f.c(cp / 4), 1, inner));
    return body;
  };

  const out: Expr[] = [
    f.set(
      L.rowBase,
      f.add(f.c(gi.origin - g.pt * gi.rs - g.pl * gi.pix), f.mul(f.get(d.y), f.c(g.sh * gi.rs))),
    ),
  ];
  if (n4 > 0) out.push(f.loop(L.x, f.c(0), () => f.c(n4), 4, block(4)));
  if (n4 < g.ow) out.push(f.loop(L.x, f.c(n4), () => f.c(g.ow), 1, block(1)));
  return f.block(out);
}
