/**
 * Nearest x2 upsampling and the skip add fused into the reads of the depthwise conv that follows
 * (FastDepth's decoder: `dw(up(y) + skip)`). The 4x larger sum is never stored: before each
 * output row, the stage builds the input rows it does not have yet, each exactly once per
 * thread, into a ring of `kh` rows in the thread's scratch (laid out like a haloed buffer, halo
 * columns zeroed with each row: the scratch held other stages' data), and writes a table of the `kh` row addresses the depthwise kernel walks. Rows
 * outside the image are zero rows (the conv's padding). Per value: one load of `y` (shared by
 * two columns), one of `skip`, an add and a store, instead of a 4x write and re-read through
 * memory.
 */
import type { Buffer, ConvGeom, Ring } from '../plan.js';
import { geomOf } from '../layout.js';
import type { Expr, Fn } from './builder.js';

export interface RingLocals {
  readonly next: number;
  readonly iy: number;
  readonly last: number;
  readonly dst: number;
  readonly py: number;
  readonly ps: number;
  readonly ux: number;
  readonly cv: number;
  readonly v: number;
  readonly ky: number;
  readonly tp: number;
}

export function ringLocals(f: Fn): RingLocals {
  return {
    next: f.i32Local(),
    iy: f.i32Local(),
    last: f.i32Local(),
    dst: f.i32Local(),
    py: f.i32Local(),
    ps: f.i32Local(),
    ux: f.i32Local(),
    cv: f.i32Local(),
    v: f.v128Local(),
    ky: f.i32Local(),
    tp: f.i32Local(),
  };
}

/** Sets `next` so the first row prepared fills every row it needs. */
export function ringStart(f: Fn, L: RingLocals): Expr {
  return f.set(L.next, f.c(-0x40000000));
}

/**
 * Makes sure the ring holds every input row output row `y` reads, and writes their addresses
 * (column -pl) into the table. `ring` and `table` are locals holding this thread's addresses.
 */
export function ringPrepare(
  f: Fn,
  r: { in: Buffer; ring: Ring; g: ConvGeom; y: number; ringAddr: number; tableAddr: number },
  L: RingLocals,
): Expr {
  const m = f.m;
  const { g } = r;
  const gv = geomOf(r.in);
  const gy = geomOf(r.ring.y);
  const gs = r.ring.skip ? geomOf(r.ring.skip) : undefined;
  const kh = g.kh;
  const H = r.in.h;
  const vecs = r.in.cp / 4;
  // Ring slot of input row `iy` (iy >= -pt): (iy + kh * K) mod kh with K making it non-negative.
  const bias = kh * (g.pt + 1);
  const slotAddr = (iy: () => Expr): Expr =>
    f.add(f.get(r.ringAddr), f.mul(m.i32.rem_u(f.add(iy(), f.c(bias)), f.c(kh)), f.c(gv.rs)));

  // One input row: up(y)[iy] + skip[iy], two output columns per y column.
  const pair: Expr[] = [];
  for (let dx = 0; dx < 2; dx++) {
    let v = f.get(L.v);
    if (gs) v = m.f32x4.add(v, f.load(f.get(L.ps), dx * gs.pix));
    pair.push(f.store(f.get(L.dst), dx * gv.pix, v));
  }
  const fillRow = m.if(
    m.i32.or(m.i32.lt_s(f.get(L.iy), f.c(0)), m.i32.ge_s(f.get(L.iy), f.c(H))),
    // Outside the image: the conv's zero padding.
    m.memory.fill(
      slotAddr(() => f.get(L.iy)),
      f.c(0),
      f.c(gv.rs),
    ),
    f.block([
      f.set(
        L.dst,
        slotAddr(() => f.get(L.iy)),
      ),
      // Zero halo columns: the scratch region held other stages' rows before this one.
      m.memory.fill(f.get(L.dst), f.c(0), f.c(r.in.halo * gv.pix)),
      m.memory.fill(f.add(f.get(L.dst), f.c((r.in.halo + r.in.w) * gv.pix)), f.c(0), f.c(r.in.halo * gv.pix)),
      f.bump(L.dst, r.in.halo * gv.pix),
      f.set(L.py, f.add(f.c(gy.origin), f.mul(m.i32.shr_s(f.get(L.iy), f.c(1)), f.c(gy.rs)))),
      ...(gs ? [f.set(L.ps, f.add(f.c(gs.origin), f.mul(f.get(L.iy), f.c(gs.rs))))] : []),
      f.loop(L.ux, f.c(0), () => f.c(r.ring.y.w), 1, [
        f.repeat(L.cv, vecs, [
          f.set(L.v, f.load(f.get(L.py), 0)),
          ...pair,
          f.bump(L.py, 16),
          f.bump(L.dst, 16),
          ...(gs ? [f.bump(L.ps, 16)] : []),
        ]),
        // Next y column; dst and skip move on by one more pixel (two columns per y column).
        f.bump(L.py, gy.pix - vecs * 16),
        f.bump(L.dst, 2 * gv.pix - vecs * 16),
        ...(gs ? [f.bump(L.ps, 2 * gs.pix - vecs * 16)] : []),
      ]),
    ]),
  );
  const first = (): Expr => m.i32.sub(f.mul(f.get(r.y), f.c(g.sh)), f.c(g.pt));
  return f.block([
    f.set(L.last, f.add(first(), f.c((kh - 1) * g.dh))),
    // Rows from max(next, first) to last, each once (binaryen's select takes the condition first).
    f.set(L.iy, m.select(m.i32.gt_s(f.get(L.next), first()), f.get(L.next), first())),
    f.loop(L.iy, f.get(L.iy), () => f.add(f.get(L.last), f.c(1)), 1, [fillRow]),
    f.set(L.next, f.add(f.get(L.last), f.c(1))),
    // Row table: address of column -pl of each kernel row.
    f.set(L.tp, f.get(r.tableAddr)),
    f.set(L.iy, first()),
    f.repeat(L.ky, kh, [
      m.i32.store(
        0,
        4,
        f.get(L.tp),
        f.add(
          slotAddr(() => f.get(L.iy)),
          f.c((r.in.halo - g.pl) * gv.pix),
        ),
      ),
      f.bump(L.tp, 4),
      f.bump(L.iy, g.dh),
    ]),
  ]);
}
