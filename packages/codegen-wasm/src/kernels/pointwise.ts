/**
 * Pointwise (1x1) convolution of one row: a small GEMM, pixels x input channels times input
 * channels x output channels. The register block is 4 pixels x 8 output channels: 8 v128
 * accumulators, and per input channel 4 broadcast loads (v128.load32_splat) and 2 weight loads
 * for 8 multiply-adds. Weights are packed [block of 8 outputs][input channel][8] so the weight
 * pointer walks forward, one input channel per loop iteration (see `KU`).
 * Leftover pixels (width not a multiple of 4) go through the same code with a 1-3 pixel block;
 * a last block of 4 output channels (padded count = 4 mod 8) gets its own copy.
 */
import type binaryen from 'binaryen';
import type { EpilogueWriter } from './epilogue.js';
import type { Expr, Fn } from './builder.js';

/**
 * Input channels per inner-loop iteration. 1, not 4: V8 (TurboFan) keeps loads in program order
 * but schedules the arithmetic after them, so an unrolled body has all its broadcasts and weight
 * vectors live at once and spills (measured: 4x unroll 29 GFLOP/s, no unroll 49 GFLOP/s on a
 * 120->56 pointwise conv at 56x56). One step keeps 8 accumulators + 4 broadcasts + 2 weights in
 * the 16 xmm registers.
 */
const KU = 1;

export interface GemmRow {
  /** Local holding the address of pixel 0, channel 0 of the input row. */
  readonly inRow: number;
  /** Bytes between input pixels. */
  readonly pix: number;
  /** Pixels in the row. */
  readonly n: number;
  /** Input channels (padded to 4). */
  readonly k: number;
  /** Output channels padded to 4. */
  readonly coutP: number;
  /** Absolute byte addresses of the packed weights and the padded bias. */
  readonly wAddr: number;
  readonly bAddr: number;
  /** Local holding the conv output row. */
  readonly y: number;
  readonly epi: EpilogueWriter;
  /**
   * Locals holding a column range [x0, x1) (a thread's share of a row, see `schedule.ts`): x0
   * a multiple of 4, x1 a multiple of 4 or `n`. Absent: the whole row.
   */
  readonly cols?: { readonly x0: number; readonly x1: number };
}

/** Locals one GEMM row needs; allocate once per function. */
export interface GemmLocals {
  readonly cb: number;
  readonly x: number;
  readonly ip: number;
  readonly wp: number;
  readonly wb: number;
  readonly kk: number;
  /** End of the 4-pixel blocks of a column range. */
  readonly xe: number;
  readonly acc: number[];
  readonly xs: number[];
  readonly w: number[];
}

export function gemmLocals(f: Fn): GemmLocals {
  return {
    cb: f.i32Local(),
    x: f.i32Local(),
    ip: f.i32Local(),
    wp: f.i32Local(),
    wb: f.i32Local(),
    kk: f.i32Local(),
    xe: f.i32Local(),
    acc: Array.from({ length: 8 }, () => f.v128Local()),
    xs: Array.from({ length: 4 }, () => f.v128Local()),
    w: Array.from({ length: 2 }, () => f.v128Local()),
  };
}

/**
 * One register block: `P` pixels from x, `nb` (4 or 8) output channels whose weights start at
 * local `wb`, channel index `c0()`.
 */
function microKernel(
  f: Fn,
  g: GemmRow,
  L: GemmLocals,
  P: number,
  nb: number,
  c0: () => Expr,
  bias: () => Expr,
): Expr[] {
  const nv = nb / 4;
  const acc = (p: number, j: number): number => L.acc[p * nv + j]!;
  const body: Expr[] = [
    f.set(L.ip, f.add(f.get(g.inRow), f.mul(f.get(L.x), f.c(g.pix)))),
    f.set(L.wp, f.get(L.wb)),
  ];
  // Accumulators start at the bias: the epilogue then has no add for it.
  for (let p = 0; p < P; p++)
    for (let j = 0; j < nv; j++) body.push(f.set(acc(p, j), f.load(bias(), j * 16)));
  const step: Expr[] = [];
  for (let u = 0; u < KU; u++) {
    for (let j = 0; j < nv; j++) step.push(f.set(L.w[j]!, f.load(f.get(L.wp), (u * nb + j * 4) * 4)));
    for (let p = 0; p < P; p++) {
      step.push(f.set(L.xs[p]!, f.splat(f.get(L.ip), p * g.pix + u * 4)));
      for (let j = 0; j < nv; j++)
        step.push(f.set(acc(p, j), f.madd(f.get(L.xs[p]!), f.get(L.w[j]!), f.get(acc(p, j)))));
    }
  }
  step.push(f.bump(L.ip, 4 * KU), f.bump(L.wp, KU * nb * 4));
  body.push(f.repeat(L.kk, g.k / KU, step));
  body.push(
    ...g.epi.setup(
      () => f.get(g.y),
      () => f.get(L.x),
      c0,
    ),
  );
  for (let p = 0; p < P; p++)
    for (let j = 0; j < nv; j++) body.push(...g.epi.store(f.get(acc(p, j)), p, j * 4));
  return body;
}

/** All output channels of one row, for pixels [0, n). */
export function gemmRow(f: Fn, g: GemmRow, L: GemmLocals): binaryen.ExpressionRef {
  const out: Expr[] = [];
  const full = Math.floor(g.coutP / 8);
  const half = g.coutP % 8 === 4;
  const n4 = g.n - (g.n % 4);
  const cols = g.cols;
  const pixels = (nb: number, c0: () => Expr, bias: () => Expr): Expr[] => {
    const r: Expr[] = [];
    if (cols === undefined) {
      if (n4 > 0) r.push(f.loop(L.x, f.c(0), () => f.c(n4), 4, microKernel(f, g, L, 4, nb, c0, bias)));
      // The leftover pixels (width mod 4) as one narrower block, not one pixel at a time.
      if (n4 < g.n) r.push(f.set(L.x, f.c(n4)), ...microKernel(f, g, L, g.n - n4, nb, c0, bias));
      return r;
    }
    if (n4 > 0)
      r.push(f.loop(L.x, f.get(cols.x0), () => f.get(L.xe), 4, microKernel(f, g, L, 4, nb, c0, bias)));
    // The leftover block belongs to the range that ends the row.
    if (n4 < g.n)
      r.push(
        f.m.if(
          f.m.i32.eq(f.get(cols.x1), f.c(g.n)),
          f.block([f.set(L.x, f.c(n4)), ...microKernel(f, g, L, g.n - n4, nb, c0, bias)]),
        ),
      );
    return r;
  };
  if (cols !== undefined)
    out.push(f.set(L.xe, f.m.select(f.m.i32.eq(f.get(cols.x1), f.c(g.n)), f.c(n4), f.get(cols.x1))));
  if (full > 0) {
    out.push(f.set(L.wb, f.c(g.wAddr)));
    out.push(
      f.loop(L.cb, f.c(0), () => f.c(full * 8), 8, [
        ...pixels(
          8,
          () => f.get(L.cb),
          () => f.add(f.c(g.bAddr), f.mul(f.get(L.cb), f.c(4))),
        ),
        f.bump(L.wb, g.k * 8 * 4),
      ]),
    );
  }
  if (half) {
    out.push(f.set(L.wb, f.c(g.wAddr + full * g.k * 8 * 4)));
    out.push(
      ...pixels(
        4,
        () => f.c(full * 8),
        () => f.c(g.bAddr + full * 8 * 4),
      ),
    );
  }
  return f.block(out);
}
