/**
 * Table lookups in the int8 build (sigmoid, hardSigmoid, hardSwish): every integer of the input
 * replaced by its entry in the layer's 256-byte table, graph-dsl's `lookupTable` computed at emit
 * time (a clamp after the lookup folded in) and stored by the module's data segment, so the
 * integers are `executeQuantized`'s by construction. A lookup right after a conv is part of the
 * conv's epilogue (`EpilogueI8`, the same `TableLookup` on its requantised values); any other is
 * a stage of its own (`lutRowsI8`).
 *
 * 16 bytes at a time with `i8x16.swizzle`, which looks 16 lanes up in a 16-byte table and gives
 * 0 for an index of 16 or more: the index is `q + 128` (`q ^ 0x80`), and the table's k-th 16 bytes
 * (in 16 locals, loaded once per call) answer the lanes where `index - 16 k` (wrapping) is below
 * 16; the 16 answers are or-ed together. A row's columns [x0, x1) are contiguous bytes (pad8(C)
 * per pixel, so a multiple of 8): 16-byte steps, then one 8-byte step, never past the columns of
 * this call (other threads write the rest of the row). The padded channels look up padding,
 * which no int8 kernel reads as values.
 */
import binaryen from 'binaryen';
import type { Expr, Fn } from '../kernels/builder.js';
import type { Buffer, Int8MapStage } from '../plan.js';
import { geomI8 } from './plan.js';

/** A 256-byte table held in 16 v128 locals for `lookup` (see the file comment). */
export class TableLookup {
  private readonly parts: number[];
  private readonly idx: number;

  constructor(
    private readonly f: Fn,
    /** Absolute address of the table. */
    private readonly table: number,
  ) {
    this.parts = Array.from({ length: 16 }, () => f.v128Local());
    this.idx = f.v128Local();
  }

  /** Loads the table into its locals (once, before any `lookup`). */
  load(): Expr[] {
    const m = this.f.m;
    return this.parts.map((p, k) => this.f.set(p, m.v128.load(16 * k, 1, this.f.c(this.table))));
  }

  /** The table entries of the 16 int8 values `v`. */
  lookup(v: Expr): Expr {
    const { f, parts, idx } = this;
    const m = f.m;
    const steps: Expr[] = [f.set(idx, m.v128.xor(v, m.i8x16.splat(f.c(0x80))))];
    let acc = m.i8x16.swizzle(f.get(parts[0]!), f.get(idx));
    for (let k = 1; k < 16; k++)
      acc = m.v128.or(
        acc,
        m.i8x16.swizzle(f.get(parts[k]!), m.i8x16.sub(f.get(idx), m.i8x16.splat(f.c(16 * k)))),
      );
    return m.block(null, [...steps, acc], binaryen.v128);
  }
}

/** Rows [r0, r1) and columns [x0, x1) (locals) of a table-lookup stage writing `out`; the table at `table`. */
export function lutRowsI8(
  f: Fn,
  c: { stage: Int8MapStage; out: Buffer; table: number; r0: number; r1: number; x0: number; x1: number },
): Expr {
  const m = f.m;
  const [gi, go] = [geomI8(c.stage.in), geomI8(c.out)];
  const [y, ip, op, end] = [f.i32Local(), f.i32Local(), f.i32Local(), f.i32Local()];
  const table = new TableLookup(f, c.table);
  const lookup = (v: Expr): Expr => table.lookup(v);
  const at = (g: ReturnType<typeof geomI8>): Expr =>
    f.add(f.c(g.origin), f.add(f.mul(f.get(y), f.c(g.rs)), f.mul(f.get(c.x0), f.c(g.pix))));
  const brk = f.label('lut_row');
  const top = f.label('lut_top');
  const row: Expr[] = [
    f.set(ip, at(gi)),
    f.set(op, at(go)),
    f.set(end, f.add(f.get(ip), f.mul(m.i32.sub(f.get(c.x1), f.get(c.x0)), f.c(gi.pix)))),
    // 16 bytes while 16 remain.
    m.block(brk, [
      m.loop(
        top,
        m.block(null, [
          m.br(brk, m.i32.gt_s(f.add(f.get(ip), f.c(16)), f.get(end))),
          m.v128.store(0, 1, f.get(op), lookup(m.v128.load(0, 1, f.get(ip)))),
          f.bump(ip, 16),
          f.bump(op, 16),
          m.br(top),
        ]),
      ),
    ]),
    // The last 8 bytes of an odd number of 8-byte pixels' worth.
    m.if(
      m.i32.lt_s(f.get(ip), f.get(end)),
      m.v128.store64_lane(0, 1, 0, f.get(op), lookup(m.v128.load64_zero(0, 1, f.get(ip)))),
    ),
  ];
  return m.block(null, [...table.load(), f.loop(y, f.get(c.r0), () => f.get(c.r1), 1, row)]);
}
