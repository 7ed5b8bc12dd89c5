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
import type { ConvGeom, Activation, Buffer } from '../plan.js';
import { pad4 } from '../plan.js';
import { geomOf } from '../layout.js';
import { activate } from './activation.js';
import type { Expr, Fn } from './builder.js';
import type { EpilogueWriter } from './epilogue.js';

export interface DwRow {
  readonly in: Buffer;
  readonly g: ConvGeom;
  readonly wAddr: number;
  readonly bAddr: number;
  /** Local: output row. */
  readonly y: number;
  /** Ring stages: local holding the address of the table of kernel-row addresses (see ring.ts). */
  readonly rowTable?: number;
  /** Either the scratch tile (local holding its address) with the activation, or an epilogue. */
  readonly dest: { readonly tile: number; readonly act: Activation } | { readonly epi: EpilogueWriter };
  /**
   * Locals holding a column range [x0, x1) (a thread's share of a row, see `schedule.ts`): x0
   * a multiple of 4, x1 a multiple of 4 or the width. Absent: the whole row.
   */
  readonly cols?: { readonly x0: number; readonly x1: number };
}

/** Widest depthwise kernel, and the most input columns one kernel row of a 4-pixel block reads. */
const MAX_K = 9;
const MAX_COLS = 3 * 2 + (MAX_K - 1) * 2 + 1;

export interface DwLocals {
  readonly x: number;
  readonly cv: number;
  readonly rowBase: number;
  readonly ib: number;
  readonly wp: number;
  readonly bp: number;
  readonly tp: number;
  readonly ir: number;
  readonly rt: number;
  readonly ky: number;
  /** End of the 4-pixel blocks of a column range. */
  readonly xe: number;
  readonly acc: number[];
  readonly w: number[];
  /** Input columns of one kernel row, by column index from the block's first. */
  readonly col: number[];
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
    ir: f.i32Local(),
    rt: f.i32Local(),
    ky: f.i32Local(),
    xe: f.i32Local(),
    acc: Array.from({ length: 4 }, () => f.v128Local()),
    w: Array.from({ length: MAX_K }, () => f.v128Local()),
    col: Array.from({ length: MAX_COLS }, () => f.v128Local()),
  };
}

export function dwRow(f: Fn, d: DwRow, L: DwLocals): Expr {
  const { g } = d;
  const gi = geomOf(d.in);
  const cp = pad4(g.cin);
  if (g.kw > MAX_K) throw new Error(`codegen-wasm: depthwise kernel width ${g.kw} > ${MAX_K}`);
  const n4 = g.ow - (g.ow % 4);

  const block = (P: number): Expr[] => {
    const body: Expr[] = [
      // Top-left tap of pixel x, channel vector 0 (ring: relative to each kernel row's address).
      f.set(L.ib, f.add(f.get(L.rowBase), f.mul(f.get(L.x), f.c(g.sw * gi.pix)))),
      f.set(L.wp, f.c(d.wAddr)),
      f.set(L.bp, f.c(d.bAddr)),
    ];
    if ('tile' in d.dest) body.push(f.set(L.tp, f.add(f.get(d.dest.tile), f.mul(f.get(L.x), f.c(cp * 4)))));
    const inner: Expr[] = [];
    for (let p = 0; p < P; p++) inner.push(f.set(L.acc[p]!, f.load(f.get(L.bp), 0)));
    // One kernel row per iteration: each distinct input column of the row is loaded once and
    // used by every (pixel, tap) that reads it (stride 1, 4 pixels, 5 taps: 8 loads for 20
    // multiply-adds). Unrolling all rows made V8 hoist every load and spill.
    const colOf = (p: number, kx: number): number => p * g.sw + kx * g.dw;
    const cols = new Set<number>();
    for (let kx = 0; kx < g.kw; kx++) for (let p = 0; p < P; p++) cols.add(colOf(p, kx));
    const row: Expr[] = [];
    for (let kx = 0; kx < g.kw; kx++) row.push(f.set(L.w[kx]!, f.load(f.get(L.wp), kx * 16)));
    for (const col of [...cols].sort((a, b) => a - b))
      row.push(f.set(L.col[col]!, f.load(f.get(L.ir), col * gi.pix)));
    for (let kx = 0; kx < g.kw; kx++)
      for (let p = 0; p < P; p++)
        row.push(f.set(L.acc[p]!, f.madd(f.get(L.col[colOf(p, kx)]!), f.get(L.w[kx]!), f.get(L.acc[p]!))));
    if (d.rowTable === undefined) {
      row.push(f.bump(L.ir, g.dh * gi.rs), f.bump(L.wp, g.kw * 16));
      inner.push(f.set(L.ir, f.get(L.ib)), f.repeat(L.ky, g.kh, row));
    } else {
      row.unshift(f.set(L.ir, f.add(f.m.i32.load(0, 4, f.get(L.rt)), f.get(L.ib))));
      row.push(f.bump(L.rt, 4), f.bump(L.wp, g.kw * 16));
      inner.push(f.set(L.rt, f.get(d.rowTable)), f.repeat(L.ky, g.kh, row));
    }
    if ('tile' in d.dest) {
      for (let p = 0; p < P; p++)
        inner.push(f.store(f.get(L.tp), p * cp * 4, activate(f, d.dest.act, f.get(L.acc[p]!))));
      inner.push(f.bump(L.tp, 16));
    } else {
      for (let p = 0; p < P; p++) inner.push(...d.dest.epi.store(f.get(L.acc[p]!), p, 0));
    }
    // The row loop has moved wp on to the next vector's weights.
    inner.push(f.bump(L.ib, 16), f.bump(L.bp, 16));
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
    d.rowTable === undefined
      ? f.set(
          L.rowBase,
          f.add(f.c(gi.origin - g.pt * gi.rs - g.pl * gi.pix), f.mul(f.get(d.y), f.c(g.sh * gi.rs))),
        )
      : f.set(L.rowBase, f.c(0)),
  ];
  const cols = d.cols;
  if (cols === undefined) {
    if (n4 > 0) out.push(f.loop(L.x, f.c(0), () => f.c(n4), 4, block(4)));
    // The leftover pixels (width mod 4) as one narrower block, not one pixel at a time.
    if (n4 < g.ow) out.push(f.set(L.x, f.c(n4)), ...block(g.ow - n4));
    return f.block(out);
  }
  const m = f.m;
  if (n4 > 0) {
    out.push(f.set(L.xe, m.select(m.i32.eq(f.get(cols.x1), f.c(g.ow)), f.c(n4), f.get(cols.x1))));
    out.push(f.loop(L.x, f.get(cols.x0), () => f.get(L.xe), 4, block(4)));
  }
  // The leftover block belongs to the range that ends the row.
  if (n4 < g.ow)
    out.push(m.if(m.i32.eq(f.get(cols.x1), f.c(g.ow)), f.block([f.set(L.x, f.c(n4)), ...block(g.ow - n4)])));
  return f.block(out);
}
