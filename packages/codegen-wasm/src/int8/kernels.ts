/**
 * The int8 kernels: every conv accumulates in int32 lanes from int8 data widened to i16
 * (`v128.load8x8_s`), then the epilogue requantises per channel in registers (`requant.ts`),
 * clamps (fused ReLU/ReLU6/clip are clamps in the quantised domain), applies a fused nearest x2
 * (one value to a 2x2 block) and a fused skip ADD (TFLite's int8 rescaling, or XNNPACK's integer
 * ADD for graphs in its arithmetic) or a fused table lookup (sigmoid, hard-sigmoid, hard-swish:
 * `lut.ts`), and stores int8 NHWC, or the graph output as int8 and dequantised float32 NCHW.
 *
 * - pointwise: 4 pixels x 8 output channels; per pair of input channels one broadcast of
 *   (x[k], x[k+1]) per pixel and one `i32x4.dot_i16x8_s` per 4 outputs (16 MACs per dot pair);
 * - depthwise: 4 pixels x 8 channels, horizontal tap pairs on `i32x4.dot_i16x8_s` (usdot: groups of 4);
 * - dense (the first conv): per tap, input channels in pairs on `i32x4.dot_i16x8_s`, constant offsets;
 * - head (one output channel): dot products over channels, reduced with shuffles.
 */
import binaryen from 'binaryen';
import type { Buffer, ConvGeom, Epilogue, Int8Act, LutAct } from '../plan.js';
import type { Expr, Fn } from '../kernels/builder.js';
import { geomI8, pad8, type AddQuant, type LayoutI8 } from './plan.js';
import { QuantizedAdd } from './add.js';
import { TableLookup } from './lut.js';
import { i32Splat, narrow8, requantize, requantLocals, type Requant, type RequantLocals } from './requant.js';

const i8Splat = (f: Fn, v: number): Expr => f.m.i32x4.splat(f.c(v));

/**
 * How the pointwise GEMM multiplies int8 by int8:
 * - `i16`: both widened to i16, `i32x4.dot_i16x8_s` (plain SIMD; 8 MACs per instruction);
 * - `usdot`: `i32x4.relaxed_dot_i8x16_i7x16_add_s(w, x + 128, acc)`, 16 MACs with the add. The
 *   activation is made unsigned (x ^ 0x80 = x + 128, with 128 * sum(w) taken off the bias) because
 *   that is how x86 engines with AVX-VNNI lower the instruction (`vpdpbusd`: second operand
 *   unsigned, no intermediate saturation). It is exact only there: the relaxed builds check it in
 *   their start function and trap where the engine computes anything else (pmaddubsw's
 *   saturation, ARM's signed sdot), and runtime-web loads them only where its own probe passes;
 * - `usdot-emulated`: the same data flow with an exact plain-SIMD unsigned x signed dot, so the
 *   relaxed builds' layout, bias and tile arithmetic are tested bit for bit where the engine has no
 *   relaxed SIMD (Node 20).
 */
export type DotI8 = 'i16' | 'usdot' | 'usdot-emulated';

const lowLevel = binaryen as unknown as {
  _BinaryenSIMDTernary(module: number, op: number, a: Expr, b: Expr, c: Expr): Expr;
  _BinaryenRelaxedDotI8x16I7x16AddSToVecI32x4(): number;
};

/** sum over each 4-byte group of (signed w) x (unsigned x), plus `acc` (i32x4). */
export function usdot(f: Fn, mode: Exclude<DotI8, 'i16'>, w: Expr, x: Expr, acc: Expr): Expr {
  const m = f.m;
  if (mode === 'usdot')
    return lowLevel._BinaryenSIMDTernary(
      m.ptr,
      lowLevel._BinaryenRelaxedDotI8x16I7x16AddSToVecI32x4(),
      w,
      x,
      acc,
    );
  const [tw, tx, lo, hi] = [f.v128Local(), f.v128Local(), f.v128Local(), f.v128Local()];
  // i16 products (|w x| <= 128 * 255) summed in pairs by dot_i16x8_s, then pairs of pairs.
  return m.block(
    null,
    [
      f.set(tw, w),
      f.set(tx, x),
      f.set(
        lo,
        m.i32x4.dot_i16x8_s(m.i16x8.extend_low_i8x16_s(f.get(tw)), m.i16x8.extend_low_i8x16_u(f.get(tx))),
      ),
      f.set(
        hi,
        m.i32x4.dot_i16x8_s(m.i16x8.extend_high_i8x16_s(f.get(tw)), m.i16x8.extend_high_i8x16_u(f.get(tx))),
      ),
      m.i32x4.add(
        acc,
        m.i32x4.add(
          m.i8x16.shuffle(f.get(lo), f.get(hi), [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27]),
          m.i8x16.shuffle(f.get(lo), f.get(hi), [4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31]),
        ),
      ),
    ],
    binaryen.v128,
  );
}

/** Interleaves two tap (or input) pairs of 8 lanes into 4-byte groups: lanes 0-3 (LO), 4-7 (HI). */
const PAIRS_LO = [0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23];
const PAIRS_HI = [8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31];

/** The int8 epilogue of one stage (see the file comment). */
export class EpilogueI8 {
  private readonly outBase: number;
  private readonly addBase: number;
  private readonly qBase: number;
  private readonly yl: number;
  private readonly yh: number;
  private readonly t: number;
  /** One half of an output value (not `t`: the second half's ADD still reads the skip in `t`). */
  private readonly o: number;
  private readonly L: RequantLocals;
  /** The fused skip ADD's arithmetic, when the epilogue has one. */
  private readonly adder: QuantizedAdd | undefined;
  /**
   * A fused table lookup (sigmoid, hardSigmoid, hardSwish) of the requantised values, applied to
   * the 8 narrowed bytes before they are stored (no add or upsample is fused with one).
   */
  private readonly table: TableLookup | undefined;
  private readonly s: number;

  constructor(
    private readonly f: Fn,
    private readonly epi: Epilogue<Int8Act | LutAct>,
    private readonly q: Requant,
    /** Absolute address of the requantisation table (channel 0). */
    private readonly qAddr: number,
    add: AddQuant | undefined,
    private readonly output: { scale: number; zeroPoint: number } | undefined,
    private readonly layout: LayoutI8,
    /** Absolute address of a fused table lookup's 256 bytes (no add or upsample then). */
    lutAt?: number,
  ) {
    this.outBase = f.i32Local();
    this.addBase = f.i32Local();
    this.qBase = f.i32Local();
    this.yl = f.v128Local();
    this.yh = f.v128Local();
    this.t = f.v128Local();
    this.o = f.v128Local();
    this.L = requantLocals(f);
    this.adder = add ? new QuantizedAdd(f, add) : undefined;
    if (lutAt !== undefined && (add || epi.up))
      throw new Error('codegen-wasm int8: a fused table lookup with an add or an upsample (a planner bug)');
    this.table = lutAt === undefined ? undefined : new TableLookup(f, lutAt);
    this.s = epi.up ? 2 : 1;
  }

  /** What the stage runs once before its loops: loading a fused lookup's table into locals. */
  prologue(): Expr[] {
    return this.table ? this.table.load() : [];
  }

  /** Points the epilogue at conv output pixel (y, x), channel `c` (a multiple of 4). */
  setup(y: () => Expr, x: () => Expr, c: () => Expr): Expr[] {
    const { f, epi, s } = this;
    const out: Expr[] = [f.set(this.qBase, f.add(f.c(this.qAddr), f.mul(c(), f.c(this.q.quadBytes / 4))))];
    if (epi.out === 'output') {
      const o = this.layout.output;
      // Pixel index (s*y) * W + s*x; channel planes are added per lane in `store8`.
      out.push(
        f.set(
          this.outBase,
          f.add(f.add(f.mul(y(), f.c(s * o.w)), f.mul(x(), f.c(s))), f.mul(c(), f.c(o.h * o.w))),
        ),
      );
    } else {
      const g = geomI8(epi.out);
      out.push(
        f.set(
          this.outBase,
          f.add(f.c(g.origin), f.add(f.add(f.mul(y(), f.c(s * g.rs)), f.mul(x(), f.c(s * g.pix))), c())),
        ),
      );
    }
    if (epi.add) {
      const g = geomI8(epi.add);
      out.push(
        f.set(
          this.addBase,
          f.add(f.c(g.origin), f.add(f.add(f.mul(y(), f.c(s * g.rs)), f.mul(x(), f.c(s * g.pix))), c())),
        ),
      );
    }
    return out;
  }

  /**
   * Requantises and stores accumulators for conv pixel x+p, channels c..c+3 (`lo`) and c+4..c+7
   * (`hi`; absent for a head, whose lanes past 0 are padding).
   */
  store8(lo: Expr, hi: Expr | undefined, p: number): Expr[] {
    const { f, epi, s } = this;
    const m = f.m;
    const table = (quad: number) => (i: number) =>
      f.load(f.get(this.qBase), quad * this.q.quadBytes + this.q.slot[i]! * 16);
    const out: Expr[] = [f.set(this.yl, requantize(f, lo, this.q, table(0), this.L))];
    if (hi) out.push(f.set(this.yh, requantize(f, hi, this.q, table(1), this.L)));
    const adder = this.adder;
    if (epi.add && adder) {
      out.push(f.set(this.yl, adder.term1(f.get(this.yl))));
      out.push(f.set(this.yh, hi ? adder.term1(f.get(this.yh)) : f.get(this.yl)));
    }
    const positions: [number, number][] =
      s === 2
        ? [
            [0, 0],
            [0, 1],
            [1, 0],
            [1, 1],
          ]
        : [[0, 0]];
    for (const [dy, dx] of positions) {
      let vl = f.get(this.yl);
      let vh = hi ? f.get(this.yh) : f.get(this.yl);
      if (epi.add && adder) {
        const g = geomI8(epi.add);
        out.push(f.set(this.t, m.v128.load8x8_s(dy * g.rs + (p * s + dx) * g.pix, 1, f.get(this.addBase))));
        vl = adder.apply(vl, m.i32x4.extend_low_i16x8_s(f.get(this.t)));
        vh = adder.apply(vh, m.i32x4.extend_high_i16x8_s(f.get(this.t)));
      }
      if (epi.out === 'output') {
        const o = this.layout.output;
        const d = this.output!;
        const pixel = dy * o.w + p * s + dx;
        if (this.table) {
          // The looked-up bytes widened back to two i32x4 halves for the stores below.
          out.push(f.set(this.t, m.i16x8.extend_low_i8x16_s(this.table.lookup(narrow8(f, vl, vh)))));
          vl = m.i32x4.extend_low_i16x8_s(f.get(this.t));
          vh = m.i32x4.extend_high_i16x8_s(f.get(this.t));
        }
        const halves: Expr[] = hi || epi.add ? [vl, vh] : [vl];
        halves.forEach((v, half) => {
          out.push(f.set(this.o, v));
          const real = m.f32x4.mul(
            m.f32x4.convert_i32x4_s(m.i32x4.sub(f.get(this.o), i32Splat(f, d.zeroPoint))),
            m.f32x4.splat(m.f32.const(d.scale)),
          );
          const fv = f.v128Local();
          out.push(f.set(fv, real));
          for (let l = 0; l < 4; l++) {
            const plane = (half * 4 + l) * o.h * o.w;
            out.push(
              m.i32.store8(
                this.layout.outputInt8.byteOffset + pixel + plane,
                1,
                f.get(this.outBase),
                m.i32x4.extract_lane(f.get(this.o), l),
              ),
              m.f32.store(
                this.layout.output.byteOffset + (pixel + plane) * 4,
                4,
                f.mul(f.get(this.outBase), f.c(4)),
                m.f32x4.extract_lane(f.get(fv), l),
              ),
            );
          }
        });
      } else {
        const g = geomI8(epi.out);
        out.push(
          m.v128.store64_lane(
            dy * g.rs + (p * s + dx) * g.pix,
            1,
            0,
            f.get(this.outBase),
            this.table ? this.table.lookup(narrow8(f, vl, vh)) : narrow8(f, vl, vh),
          ),
        );
      }
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Pointwise GEMM

export interface GemmRowI8 {
  /** Local holding the address of pixel 0, channel 0 of the input row. */
  readonly inRow: number;
  readonly pix: number;
  readonly n: number;
  /** Input channels padded to 8. */
  readonly k: number;
  /**
   * The input is the dwpw row tile: i16 values for `i16`, bytes already made unsigned (x + 128)
   * for the usdot modes; otherwise the int8 activation buffer.
   */
  readonly wide: boolean;
  readonly dot: DotI8;
  readonly coutP: number;
  readonly wAddr: number;
  readonly bAddr: number;
  readonly y: number;
  readonly epi: EpilogueI8;
  /** Locals holding the pixel range [x0, x1) (the thread schedule's columns); absent: all. */
  readonly cols?: ColumnRange;
}

/**
 * A pixel range of a row for the thread schedule: x0 is a multiple of 4, x1 a multiple of 4 or
 * the row's width, so the 4-pixel blocks (and the leftover block, owned by the range that ends
 * the row) are the same as for a whole row and the results are bit-identical.
 */
export interface ColumnRange {
  readonly x0: number;
  readonly x1: number;
}

/** `body(xe)` loops over [x0, xe) in 4-pixel blocks; the leftover block where x1 ends the row. */
function columnBlocks(
  f: Fn,
  x: number,
  n: number,
  cols: ColumnRange | undefined,
  block: (P: number) => Expr[],
): Expr[] {
  const n4 = n - (n % 4);
  const out: Expr[] = [];
  if (cols === undefined) {
    if (n4 > 0) out.push(f.loop(x, f.c(0), () => f.c(n4), 4, block(4)));
    if (n4 < n) out.push(f.set(x, f.c(n4)), ...block(n - n4));
    return out;
  }
  const m = f.m;
  const xe = f.i32Local();
  out.push(f.set(xe, m.select(m.i32.eq(f.get(cols.x1), f.c(n)), f.c(n4), f.get(cols.x1))));
  if (n4 > 0) out.push(f.loop(x, f.get(cols.x0), () => f.get(xe), 4, block(4)));
  if (n4 < n)
    out.push(m.if(m.i32.eq(f.get(cols.x1), f.c(n)), f.block([f.set(x, f.c(n4)), ...block(n - n4)])));
  return out;
}

export interface GemmLocalsI8 {
  readonly cb: number;
  readonly x: number;
  readonly ip: number;
  readonly wp: number;
  readonly wb: number;
  readonly kk: number;
  readonly acc: number[];
  readonly xs: number[];
  readonly w: number[];
  readonly v: number[];
}

export function gemmLocalsI8(f: Fn): GemmLocalsI8 {
  return {
    cb: f.i32Local(),
    x: f.i32Local(),
    ip: f.i32Local(),
    wp: f.i32Local(),
    wb: f.i32Local(),
    kk: f.i32Local(),
    acc: Array.from({ length: 8 }, () => f.v128Local()),
    xs: Array.from({ length: 4 }, () => f.v128Local()),
    w: Array.from({ length: 2 }, () => f.v128Local()),
    v: Array.from({ length: 2 }, () => f.v128Local()),
  };
}

function gemmMicro(f: Fn, g: GemmRowI8, L: GemmLocalsI8, P: number): Expr[] {
  const m = f.m;
  const acc = (p: number, j: number): number => L.acc[p * 2 + j]!;
  const body: Expr[] = [
    f.set(L.ip, f.add(f.get(g.inRow), f.mul(f.get(L.x), f.c(g.pix)))),
    f.set(L.wp, f.get(L.wb)),
  ];
  const biasAt = (): Expr => f.add(f.c(g.bAddr), f.mul(f.get(L.cb), f.c(4)));
  for (let p = 0; p < P; p++)
    for (let j = 0; j < 2; j++) body.push(f.set(acc(p, j), f.load(biasAt(), j * 16)));
  if (g.dot !== 'i16') {
    const dot = g.dot;
    // Four inputs per step: the packed pairs (k, k+1) and (k+2, k+3) of 8 channels interleaved
    // into one 4-byte group per channel (the i16 kernel's weights, no second copy in the blob).
    const step: Expr[] = [
      f.set(L.v[0]!, f.load(f.get(L.wp), 0)),
      f.set(L.v[1]!, f.load(f.get(L.wp), 16)),
      f.set(L.w[0]!, m.i8x16.shuffle(f.get(L.v[0]!), f.get(L.v[1]!), PAIRS_LO)),
      f.set(L.w[1]!, m.i8x16.shuffle(f.get(L.v[0]!), f.get(L.v[1]!), PAIRS_HI)),
    ];
    for (let p = 0; p < P; p++) {
      const x = m.v128.load32_splat(p * g.pix, 1, f.get(L.ip));
      step.push(f.set(L.xs[p]!, g.wide ? x : m.v128.xor(x, i8Splat128(f))));
      for (let j = 0; j < 2; j++)
        step.push(f.set(acc(p, j), usdot(f, dot, f.get(L.w[j]!), f.get(L.xs[p]!), f.get(acc(p, j)))));
    }
    step.push(f.bump(L.ip, 4), f.bump(L.wp, 32));
    body.push(f.repeat(L.kk, g.k / 4, step));
  } else {
    body.push(...gemmStepsI16(f, g, L, P));
  }
  body.push(
    ...g.epi.setup(
      () => f.get(g.y),
      () => f.get(L.x),
      () => f.get(L.cb),
    ),
  );
  for (let p = 0; p < P; p++) body.push(...g.epi.store8(f.get(acc(p, 0)), f.get(acc(p, 1)), p));
  return body;
}

/** x ^ 0x80 in every byte: int8 x -> unsigned x + 128. */
const i8Splat128 = (f: Fn): Expr => f.m.i32x4.splat(f.c(0x80808080 | 0));
/** 128 in every i16 lane. */
const i16Splat128 = (f: Fn): Expr => f.m.i32x4.splat(f.c(0x00800080));

/** The `i16` K loop of `gemmMicro`. */
function gemmStepsI16(f: Fn, g: GemmRowI8, L: GemmLocalsI8, P: number): Expr[] {
  const m = f.m;
  const acc = (p: number, j: number): number => L.acc[p * 2 + j]!;
  const body: Expr[] = [];
  const step: Expr[] = [];
  for (let j = 0; j < 2; j++) step.push(f.set(L.w[j]!, m.v128.load8x8_s(j * 8, 1, f.get(L.wp))));
  for (let p = 0; p < P; p++) {
    // (x[k], x[k+1]) in every pair of i16 lanes.
    step.push(
      f.set(
        L.xs[p]!,
        g.wide
          ? m.v128.load32_splat(p * g.pix, 4, f.get(L.ip))
          : m.i16x8.extend_low_i8x16_u(
              m.v128.xor(m.v128.load16_splat(p * g.pix, 1, f.get(L.ip)), i8Splat128(f)),
            ),
      ),
    );
    for (let j = 0; j < 2; j++)
      step.push(
        f.set(acc(p, j), m.i32x4.add(f.get(acc(p, j)), m.i32x4.dot_i16x8_s(f.get(L.xs[p]!), f.get(L.w[j]!)))),
      );
  }
  step.push(f.bump(L.ip, g.wide ? 4 : 2), f.bump(L.wp, 16));
  body.push(f.repeat(L.kk, g.k / 2, step));
  return body;
}

export function gemmRowI8(f: Fn, g: GemmRowI8, L: GemmLocalsI8): Expr {
  const pixels = columnBlocks(f, L.x, g.n, g.cols, (P) => gemmMicro(f, g, L, P));
  return f.block([
    f.set(L.wb, f.c(g.wAddr)),
    f.loop(L.cb, f.c(0), () => f.c(g.coutP), 8, [...pixels, f.bump(L.wb, g.k * 8)]),
  ]);
}

// ---------------------------------------------------------------------------------------------
// Depthwise

export interface DwRowI8 {
  readonly in: Buffer;
  readonly g: ConvGeom;
  readonly wAddr: number;
  readonly bAddr: number;
  readonly y: number;
  /** Into the row tile (local holding its address) with the dw's requantisation, or an epilogue. */
  readonly dest:
    | {
        readonly tile: number;
        readonly q: Requant;
        readonly qAddr: number;
        /** Bytes x + 128 (the usdot GEMM's input) rather than i16. */
        readonly unsigned: boolean;
      }
    | { readonly epi: EpilogueI8 };
  /** See `GemmRowI8.cols`. */
  readonly cols?: ColumnRange;
  /** `i16`: tap pairs on `i32x4.dot_i16x8_s`; the usdot modes: taps in groups of 4 (`dwTapsUsdot`). */
  readonly dot: DotI8;
}

export interface DwLocalsI8 {
  readonly x: number;
  readonly cv: number;
  readonly rowBase: number;
  readonly ib: number;
  readonly ir: number;
  readonly wp: number;
  readonly bp: number;
  readonly tp: number;
  readonly qp: number;
  readonly ky: number;
  readonly acc: number[];
  readonly w: number;
  readonly w2: number;
  readonly col: number;
  readonly col2: number;
  readonly r: RequantLocals;
  readonly yl: number;
  readonly cols: number[];
}

export function dwLocalsI8(f: Fn): DwLocalsI8 {
  return {
    x: f.i32Local(),
    cv: f.i32Local(),
    rowBase: f.i32Local(),
    ib: f.i32Local(),
    ir: f.i32Local(),
    wp: f.i32Local(),
    bp: f.i32Local(),
    tp: f.i32Local(),
    qp: f.i32Local(),
    ky: f.i32Local(),
    acc: Array.from({ length: 8 }, () => f.v128Local()),
    w: f.v128Local(),
    w2: f.v128Local(),
    col: f.v128Local(),
    col2: f.v128Local(),
    r: requantLocals(f),
    yl: f.v128Local(),
    cols: Array.from({ length: 4 }, () => f.v128Local()),
  };
}

/** Bytes of a and b interleaved (a0 b0 a1 b1 ... a7 b7): `punpcklbw`. */
const BYTES_LO = [0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23];

/**
 * The usdot depthwise taps of one 8-channel group for P pixels, from the i16 kernel's tap-pair
 * weights (`packDepthwise`): two tap pairs make a group of 4 taps (the pairs of a kernel row two by
 * two, a row's odd last pair with the next row's), both weights and inputs interleaved into a
 * 4-byte group per channel (weights: 2 shuffles per 8 channels, shared by the P pixels; inputs: one
 * 8-byte load per tap, 2 byte and 2 word unpacks), made unsigned, one relaxed dot per 4 channels.
 */
function dwTapsUsdot(
  f: Fn,
  d: DwRowI8,
  L: DwLocalsI8,
  P: number,
  acc: (p: number, j: number) => number,
): Expr[] {
  const m = f.m;
  const { g } = d;
  const gi = geomI8(d.in);
  const dot = d.dot as Exclude<DotI8, 'i16'>;
  const pairs = Math.ceil(g.kw / 2);
  type Slot = readonly [number, number];
  const groups: [Slot, Slot | undefined][] = [];
  const odd: Slot[] = [];
  for (let ky = 0; ky < g.kh; ky++) {
    for (let j = 0; j + 1 < pairs; j += 2)
      groups.push([
        [ky, j],
        [ky, j + 1],
      ]);
    if (pairs % 2) odd.push([ky, pairs - 1]);
  }
  for (let i = 0; i < odd.length; i += 2) groups.push([odd[i]!, odd[i + 1]]);
  const out: Expr[] = [];
  const [b0, b1] = [L.col, L.col2];
  for (const [A, B] of groups) {
    const pair = (slot: Slot | undefined): Expr =>
      slot ? f.load(f.get(L.wp), (slot[0] * pairs + slot[1]) * 16) : f.zero();
    out.push(f.set(b0, pair(A)), f.set(b1, pair(B)));
    out.push(f.set(L.w, m.i8x16.shuffle(f.get(b0), f.get(b1), PAIRS_LO)));
    out.push(f.set(L.w2, m.i8x16.shuffle(f.get(b0), f.get(b1), PAIRS_HI)));
    const taps: (readonly [number, number] | undefined)[] = [];
    for (const slot of [A, B])
      for (let d2 = 0; d2 < 2; d2++) {
        const kx = slot ? 2 * slot[1] + d2 : g.kw;
        taps.push(slot && kx < g.kw ? [slot[0], kx] : undefined);
      }
    for (let p = 0; p < P; p++) {
      taps.forEach((t, i) => {
        if (t === undefined) return;
        const at = t[0] * g.dh * gi.rs + (p * g.sw + t[1] * g.dw) * gi.pix;
        out.push(f.set(L.cols[i]!, m.v128.load64_zero(at, 1, f.get(L.ib))));
      });
      const col = (i: number): Expr => (taps[i] ? f.get(L.cols[i]!) : f.zero());
      out.push(f.set(b0, m.i8x16.shuffle(col(0), col(1), BYTES_LO)));
      out.push(f.set(b1, m.i8x16.shuffle(col(2), col(3), BYTES_LO)));
      for (let j = 0; j < 2; j++) {
        const grouped = m.i8x16.shuffle(f.get(b0), f.get(b1), j === 0 ? PAIRS_LO : PAIRS_HI);
        out.push(
          f.set(
            acc(p, j),
            usdot(f, dot, f.get(j === 0 ? L.w : L.w2), m.v128.xor(grouped, i8Splat128(f)), f.get(acc(p, j))),
          ),
        );
      }
    }
  }
  out.push(f.bump(L.wp, g.kh * pairs * 16));
  return out;
}

export function dwRowI8(f: Fn, d: DwRowI8, L: DwLocalsI8): Expr {
  const m = f.m;
  const { g } = d;
  const gi = geomI8(d.in);
  const cp = pad8(g.cin);
  const acc = (p: number, j: number): number => L.acc[p * 2 + j]!;

  const block = (P: number): Expr[] => {
    const grouped = d.dot !== 'i16';
    const body: Expr[] = [
      f.set(L.ib, f.add(f.get(L.rowBase), f.mul(f.get(L.x), f.c(g.sw * gi.pix)))),
      f.set(L.wp, f.c(d.wAddr)),
      f.set(L.bp, f.c(d.bAddr)),
    ];
    const tilePix = 'tile' in d.dest && d.dest.unsigned ? cp : cp * 2;
    if ('tile' in d.dest) {
      body.push(f.set(L.tp, f.add(f.get(d.dest.tile), f.mul(f.get(L.x), f.c(tilePix)))));
      body.push(f.set(L.qp, f.c(d.dest.qAddr)));
    }
    const inner: Expr[] = [];
    for (let p = 0; p < P; p++)
      for (let j = 0; j < 2; j++) inner.push(f.set(acc(p, j), f.load(f.get(L.bp), j * 16)));
    // Taps in pairs: (x[kx], x[kx+1]) of 4 channels interleaved in i16 lanes, one
    // i32x4.dot_i16x8_s with the weight pair (8 MACs, one pmaddwd on x86).
    const row: Expr[] = [];
    const pairs = Math.ceil(g.kw / 2);
    const LO = [0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23];
    const HI = [8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31];
    // x + 128 (every conv's bias is the unsigned one, `unsignedBias`).
    const colAt = (p: number, kx: number): Expr =>
      m.i16x8.add(m.v128.load8x8_s((p * g.sw + kx * g.dw) * gi.pix, 1, f.get(L.ir)), i16Splat128(f));
    for (let j = 0; j < pairs; j++) {
      const kx = 2 * j;
      row.push(f.set(L.w, m.v128.load8x8_s(j * 16, 1, f.get(L.wp))));
      row.push(f.set(L.w2, m.v128.load8x8_s(j * 16 + 8, 1, f.get(L.wp))));
      for (let p = 0; p < P; p++) {
        row.push(f.set(L.col, colAt(p, kx)));
        row.push(f.set(L.col2, kx + 1 < g.kw ? colAt(p, kx + 1) : f.zero()));
        row.push(
          f.set(
            acc(p, 0),
            m.i32x4.add(
              f.get(acc(p, 0)),
              m.i32x4.dot_i16x8_s(m.i8x16.shuffle(f.get(L.col), f.get(L.col2), LO), f.get(L.w)),
            ),
          ),
        );
        row.push(
          f.set(
            acc(p, 1),
            m.i32x4.add(
              f.get(acc(p, 1)),
              m.i32x4.dot_i16x8_s(m.i8x16.shuffle(f.get(L.col), f.get(L.col2), HI), f.get(L.w2)),
            ),
          ),
        );
      }
    }
    row.push(f.bump(L.ir, g.dh * gi.rs), f.bump(L.wp, pairs * 16));
    if (grouped) inner.push(...dwTapsUsdot(f, d, L, P, acc));
    else inner.push(f.set(L.ir, f.get(L.ib)), f.repeat(L.ky, g.kh, row));
    if ('tile' in d.dest) {
      const dest = d.dest;
      const table = (quad: number) => (i: number) =>
        f.load(f.get(L.qp), quad * dest.q.quadBytes + dest.q.slot[i]! * 16);
      for (let p = 0; p < P; p++) {
        inner.push(f.set(L.yl, requantize(f, f.get(acc(p, 0)), dest.q, table(0), L.r)));
        const y16 = m.i16x8.narrow_i32x4_s(
          f.get(L.yl),
          requantize(f, f.get(acc(p, 1)), dest.q, table(1), L.r),
        );
        if (dest.unsigned) {
          // Bytes x ^ 0x80 = x + 128: the usdot GEMM broadcasts 4 inputs with one load32_splat.
          inner.push(f.set(L.yl, y16));
          inner.push(
            m.v128.store64_lane(
              p * cp,
              1,
              0,
              f.get(L.tp),
              m.v128.xor(m.i8x16.narrow_i16x8_s(f.get(L.yl), f.get(L.yl)), i8Splat128(f)),
            ),
          );
        } else {
          // i16 x + 128: the GEMM broadcasts an input pair with one load32_splat.
          inner.push(f.store(f.get(L.tp), p * cp * 2, m.i16x8.add(y16, i16Splat128(f))));
        }
      }
      inner.push(f.bump(L.tp, dest.unsigned ? 8 : 16), f.bump(L.qp, 2 * dest.q.quadBytes));
    } else {
      const epi = d.dest.epi;
      inner.unshift(
        ...epi.setup(
          () => f.get(d.y),
          () => f.get(L.x),
          () => f.mul(f.get(L.cv), f.c(8)),
        ),
      );
      for (let p = 0; p < P; p++) inner.push(...epi.store8(f.get(acc(p, 0)), f.get(acc(p, 1)), p));
    }
    inner.push(f.bump(L.ib, 8), f.bump(L.bp, 32));
    body.push(f.loop(L.cv, f.c(0), () => f.c(cp / 8), 1, inner));
    return body;
  };

  const out: Expr[] = [
    f.set(
      L.rowBase,
      f.add(f.c(gi.origin - g.pt * gi.rs - g.pl * gi.pix), f.mul(f.get(d.y), f.c(g.sh * gi.rs))),
    ),
  ];
  out.push(...columnBlocks(f, L.x, g.ow, d.cols, block));
  return f.block(out);
}

// ---------------------------------------------------------------------------------------------
// Dense conv (groups 1, any kernel)

/** Input channels at or below this are packed unpadded (the first conv's 3). */
export const UNROLL_CIN_I8 = 8;
export const denseCinEffI8 = (g: ConvGeom): number => (g.cin <= UNROLL_CIN_I8 ? g.cin : pad8(g.cin));

export function convRowsI8(
  f: Fn,
  c: {
    in: Buffer;
    g: ConvGeom;
    wAddr: number;
    bAddr: number;
    epi: EpilogueI8;
    r0: number;
    r1: number;
    /** See `DwRowI8.dot`. */
    dot: DotI8;
  },
): Expr {
  const m = f.m;
  const { g } = c;
  const gi = geomI8(c.in);
  const cinEff = denseCinEffI8(g);
  const steps = g.kh * g.kw * cinEff;
  const coutP = pad8(g.cout);
  const local = (): number => f.i32Local();
  const [y, x, cb, rowBase, ib, wp] = [local(), local(), local(), local(), local(), local()];
  const acc = Array.from({ length: 8 }, () => f.v128Local());
  const xs = Array.from({ length: 4 }, () => f.v128Local());
  const w = f.v128Local();
  const wPair = [f.v128Local(), f.v128Local()] as const;
  const rowsW = [f.v128Local(), f.v128Local(), f.v128Local(), f.v128Local()];
  const k = f.i32Local();
  const micro = (P: number): Expr[] => {
    const a = (p: number, j: number): number => acc[p * 2 + j]!;
    const body: Expr[] = [
      f.set(ib, f.add(f.get(rowBase), f.mul(f.get(x), f.c(g.sw * gi.pix)))),
      f.set(wp, f.add(f.c(c.wAddr), f.mul(f.get(cb), f.c(steps)))),
    ];
    for (let p = 0; p < P; p++)
      for (let j = 0; j < 2; j++)
        body.push(f.set(a(p, j), f.load(f.add(f.c(c.bAddr), f.mul(f.get(cb), f.c(4))), j * 16)));
    /**
     * One tap's channels [0, chEnd) from the pointers `xAt()` (input pixel) and `wAt()` (tap's
     * weights at constant offset `wT * 8`): unrolled whole for few input channels (the first
     * conv), else 8 channels at a time in a loop over the input's channel vectors, so a 5x5 conv
     * over 1024 channels is a loop and not 200 k instructions.
     */
    const tap = (
      ky: number,
      kx: number,
      wT: number,
      chEnd: number,
      xAt: () => Expr,
      wAt: () => Expr,
    ): Expr[] => {
      const out: Expr[] = [];
      if (c.dot === 'i16') {
        // Input channels in pairs (ch, ch + 1): one load16_splat puts the pixel's two adjacent
        // bytes in every pair of i16 lanes, and one `i32x4.dot_i16x8_s` per 4 outputs takes 8
        // MACs (the weights' two channel rows interleaved, shared by the P pixels). An odd last
        // channel pairs with the pixel's padding byte and a zero weight row.
        const [ra, wl, wh] = [xs[0]!, ...wPair];
        for (let ch = 0; ch < chEnd; ch += 2) {
          const rowAt = (i: number): Expr => m.v128.load64_zero((wT + i) * 8, 1, wAt());
          out.push(
            f.set(ra, m.i8x16.shuffle(rowAt(ch), ch + 1 < chEnd ? rowAt(ch + 1) : f.zero(), BYTES_LO)),
            f.set(wl, m.i16x8.extend_low_i8x16_s(f.get(ra))),
            f.set(wh, m.i16x8.extend_high_i8x16_s(f.get(ra))),
          );
          for (let p = 0; p < P; p++) {
            const at = ky * g.dh * gi.rs + (p * g.sw + kx * g.dw) * gi.pix + ch;
            out.push(
              f.set(
                w,
                m.i16x8.extend_low_i8x16_u(m.v128.xor(m.v128.load16_splat(at, 1, xAt()), i8Splat128(f))),
              ),
            );
            for (let j = 0; j < 2; j++)
              out.push(
                f.set(
                  a(p, j),
                  m.i32x4.add(f.get(a(p, j)), m.i32x4.dot_i16x8_s(f.get(w), f.get(j === 0 ? wl : wh))),
                ),
              );
          }
        }
        return out;
      }
      // usdot: 4 input channels at once (one load32_splat of the pixel's bytes, the buffer's
      // channel padding meeting zero weights), 32 MACs per 2 dots. The weights are the i16
      // kernel's ([tap][channel][8 outputs]), 4 channels' rows interleaved into a 4-byte group
      // per output (4 shuffles per 8 outputs, shared by the P pixels).
      const dot = c.dot;
      const [b0, b1] = [xs[0]!, xs[1]!];
      const [wl, wh, xv] = [xs[2]!, xs[3]!, w];
      for (let q = 0; q < Math.ceil(chEnd / 4); q++) {
        for (let i = 0; i < 4; i++)
          if (4 * q + i < chEnd)
            out.push(f.set(rowsW[i]!, m.v128.load64_zero((wT + 4 * q + i) * 8, 1, wAt())));
        const row = (i: number): Expr => (4 * q + i < chEnd ? f.get(rowsW[i]!) : f.zero());
        out.push(f.set(b0, m.i8x16.shuffle(row(0), row(1), BYTES_LO)));
        out.push(f.set(b1, m.i8x16.shuffle(row(2), row(3), BYTES_LO)));
        out.push(f.set(wl, m.i8x16.shuffle(f.get(b0), f.get(b1), PAIRS_LO)));
        out.push(f.set(wh, m.i8x16.shuffle(f.get(b0), f.get(b1), PAIRS_HI)));
        for (let p = 0; p < P; p++) {
          const at = ky * g.dh * gi.rs + (p * g.sw + kx * g.dw) * gi.pix + 4 * q;
          out.push(f.set(xv, m.v128.xor(m.v128.load32_splat(at, 1, xAt()), i8Splat128(f))));
          out.push(f.set(a(p, 0), usdot(f, dot, f.get(wl), f.get(xv), f.get(a(p, 0)))));
          out.push(f.set(a(p, 1), usdot(f, dot, f.get(wh), f.get(xv), f.get(a(p, 1)))));
        }
      }
      return out;
    };
    for (let ky = 0; ky < g.kh; ky++)
      for (let kx = 0; kx < g.kw; kx++) {
        const t = ky * g.kw + kx;
        if (cinEff <= UNROLL_CIN_I8) {
          body.push(
            ...tap(
              ky,
              kx,
              t * cinEff,
              cinEff,
              () => f.get(ib),
              () => f.get(wp),
            ),
          );
          continue;
        }
        // cinEff = pad8(cin): `k` is the first channel of the 8 (a byte offset in the pixel, an
        // 8-byte weight row per channel).
        body.push(
          f.loop(k, f.c(0), () => f.c(cinEff), 8, [
            ...tap(
              ky,
              kx,
              t * cinEff,
              8,
              () => f.add(f.get(ib), f.get(k)),
              () => f.add(f.get(wp), f.mul(f.get(k), f.c(8))),
            ),
          ]),
        );
      }
    body.push(
      ...c.epi.setup(
        () => f.get(y),
        () => f.get(x),
        () => f.get(cb),
      ),
    );
    for (let p = 0; p < P; p++) body.push(...c.epi.store8(f.get(a(p, 0)), f.get(a(p, 1)), p));
    return body;
  };
  const channels = (P: number): Expr => f.loop(cb, f.c(0), () => f.c(coutP), 8, micro(P));
  const n4 = g.ow - (g.ow % 4);
  const row: Expr[] = [
    f.set(rowBase, f.add(f.c(gi.origin - g.pt * gi.rs - g.pl * gi.pix), f.mul(f.get(y), f.c(g.sh * gi.rs)))),
  ];
  if (n4 > 0) row.push(f.loop(x, f.c(0), () => f.c(n4), 4, [channels(4)]));
  if (n4 < g.ow) row.push(f.set(x, f.c(n4)), channels(g.ow - n4));
  return f.loop(y, f.get(c.r0), () => f.get(c.r1), 1, row);
}

// ---------------------------------------------------------------------------------------------
// Head (1x1 to one channel)

export function headRowsI8(
  f: Fn,
  c: { in: Buffer; g: ConvGeom; wAddr: number; bAddr: number; epi: EpilogueI8; r0: number; r1: number },
): Expr {
  const m = f.m;
  const { g } = c;
  const gi = geomI8(c.in);
  const vecs = pad8(g.cin) / 8;
  const [y, x, ip] = [f.i32Local(), f.i32Local(), f.i32Local()];
  const acc = [f.v128Local(), f.v128Local()];
  const t = f.v128Local();
  const P = g.ow % 2 === 0 ? 2 : 1;
  const pixel: Expr[] = [
    f.set(ip, f.add(f.c(gi.origin), f.add(f.mul(f.get(y), f.c(gi.rs)), f.mul(f.get(x), f.c(gi.pix))))),
  ];
  for (let p = 0; p < P; p++) pixel.push(f.set(acc[p]!, f.zero()));
  for (let v = 0; v < vecs; v++)
    for (let p = 0; p < P; p++)
      pixel.push(
        f.set(
          acc[p]!,
          m.i32x4.add(
            f.get(acc[p]!),
            m.i32x4.dot_i16x8_s(
              m.v128.load8x8_s(p * gi.pix + v * 8, 1, f.get(ip)),
              m.v128.load8x8_s(c.wAddr + v * 8, 1, f.c(0)),
            ),
          ),
        ),
      );
  pixel.push(
    ...c.epi.setup(
      () => f.get(y),
      () => f.get(x),
      () => f.c(0),
    ),
  );
  for (let p = 0; p < P; p++) {
    const a = (): Expr => f.get(acc[p]!);
    pixel.push(
      f.set(
        t,
        m.i32x4.add(a(), m.i8x16.shuffle(a(), a(), [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7])),
      ),
    );
    pixel.push(
      f.set(
        t,
        m.i32x4.add(
          f.get(t),
          m.i8x16.shuffle(f.get(t), f.get(t), [4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11]),
        ),
      ),
    );
    // Every lane holds the sum; add the bias (lane 0 is the channel, the rest are padding).
    pixel.push(...c.epi.store8(m.i32x4.add(f.get(t), f.load(f.c(c.bAddr), 0)), undefined, p));
  }
  return f.loop(y, f.get(c.r0), () => f.get(c.r1), 1, [f.loop(x, f.c(0), () => f.c(g.ow), P, pixel)]);
}

// ---------------------------------------------------------------------------------------------
// Input: NCHW float32 -> int8 NHWC, quantised exactly as TFLite's QUANTIZE (and the reference)

export function inputRowsI8(
  f: Fn,
  c: { out: Buffer; layout: LayoutI8; r0: number; r1: number; scale: number; zeroPoint: number },
): Expr {
  const m = f.m;
  const b = c.out;
  const go = geomI8(b);
  const plane = b.h * b.w * 4;
  const [y, x, ip, op] = [f.i32Local(), f.i32Local(), f.i32Local(), f.i32Local()];
  const v = f.local(binaryen.f64);
  const t = f.local(binaryen.f64);
  const q = f.i32Local();
  const [vv, tv, qa, qb] = [f.v128Local(), f.v128Local(), f.v128Local(), f.v128Local()];
  const getV = (): Expr => m.local.get(v, binaryen.f64);
  const getT = (): Expr => m.local.get(t, binaryen.f64);
  const pointers = (): Expr[] => [
    f.set(
      ip,
      f.add(f.c(c.layout.input.byteOffset), f.mul(f.add(f.mul(f.get(y), f.c(b.w)), f.get(x)), f.c(4))),
    ),
    f.set(op, f.add(f.c(go.origin), f.add(f.mul(f.get(y), f.c(go.rs)), f.mul(f.get(x), f.c(go.pix))))),
  ];
  // One value: x / scale in double, then halves away from zero: trunc, plus the sign when the
  // fraction (exact in double) is at least one half; + zero point, clamped.
  const scalar: Expr[] = pointers();
  for (let ch = 0; ch < b.c; ch++) {
    scalar.push(
      m.local.set(v, m.f64.div(m.f64.promote(m.f32.load(ch * plane, 4, f.get(ip))), m.f64.const(c.scale))),
      m.local.set(t, m.f64.trunc(getV())),
      m.local.set(
        t,
        // binaryen.js: select(condition, ifTrue, ifFalse).
        m.select(
          m.f64.ge(m.f64.abs(m.f64.sub(getV(), getT())), m.f64.const(0.5)),
          m.f64.add(getT(), m.f64.copysign(m.f64.const(1), getV())),
          getT(),
        ),
      ),
      f.set(q, m.i32.add(m.i32.trunc_s_sat.f64(getT()), f.c(c.zeroPoint))),
      f.set(q, m.select(m.i32.lt_s(f.get(q), f.c(-128)), f.c(-128), f.get(q))),
      f.set(q, m.select(m.i32.gt_s(f.get(q), f.c(127)), f.c(127), f.get(q))),
      m.i32.store8(ch, 1, f.get(op), f.get(q)),
    );
  }
  // Four pixels of one channel plane at once, the same arithmetic in f64x2 lanes.
  const f64x2Const = (value: number): Expr => m.f64x2.splat(m.f64.const(value));
  const quantize2 = (half: Expr): Expr =>
    m.block(
      null,
      [
        f.set(vv, m.f64x2.div(half, f64x2Const(c.scale))),
        f.set(tv, m.f64x2.trunc(f.get(vv))),
        m.i32x4.trunc_sat_f64x2_s_zero(
          m.f64x2.add(
            f.get(tv),
            m.v128.and(
              m.f64x2.ge(m.f64x2.abs(m.f64x2.sub(f.get(vv), f.get(tv))), f64x2Const(0.5)),
              m.v128.bitselect(f64x2Const(-1), f64x2Const(1), m.f64x2.lt(f.get(vv), f64x2Const(0))),
            ),
          ),
        ),
      ],
      binaryen.v128,
    );
  /** One channel's 4 quantised values (i32x4, clamped to [-128, 127]). */
  const quantize4 = (ch: number, into: number): Expr[] => [
    f.set(qa, m.v128.load(ch * plane, 4, f.get(ip))),
    f.set(qb, quantize2(m.f64x2.promote_low_f32x4(f.get(qa)))),
    f.set(
      qa,
      quantize2(
        m.f64x2.promote_low_f32x4(
          m.i8x16.shuffle(f.get(qa), f.get(qa), [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7]),
        ),
      ),
    ),
    f.set(
      into,
      m.i32x4.min_s(
        m.i32x4.max_s(
          m.i32x4.add(
            m.i8x16.shuffle(f.get(qb), f.get(qa), [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23]),
            i32Splat(f, c.zeroPoint),
          ),
          i32Splat(f, -128),
        ),
        i32Splat(f, 127),
      ),
    ),
  ];
  const vector: Expr[] = pointers();
  if (b.c <= 4 && go.pix === 8) {
    // Up to 4 channels (the RGB input): the channels' values narrowed into one vector
    // (channel-major: c0 of the 4 pixels, then c1, ...) and shuffled into two 16-byte stores of
    // two 8-byte pixels each; the pixel's padding bytes get 0 (only zero weights read them).
    const qs = Array.from({ length: b.c }, () => f.v128Local());
    for (let ch = 0; ch < b.c; ch++) vector.push(...quantize4(ch, qs[ch]!));
    const q = (ch: number): Expr => (ch < b.c ? f.get(qs[ch]!) : f.zero());
    vector.push(
      f.set(
        qa,
        m.i8x16.narrow_i16x8_s(m.i16x8.narrow_i32x4_s(q(0), q(1)), m.i16x8.narrow_i32x4_s(q(2), q(3))),
      ),
    );
    for (let half = 0; half < 2; half++) {
      const lanes: number[] = [];
      for (let p = 2 * half; p < 2 * half + 2; p++)
        for (let byte = 0; byte < 8; byte++) lanes.push(byte < b.c ? byte * 4 + p : 16);
      vector.push(f.store(f.get(op), half * 2 * go.pix, m.i8x16.shuffle(f.get(qa), f.zero(), lanes)));
    }
  } else {
    for (let ch = 0; ch < b.c; ch++) {
      vector.push(...quantize4(ch, qa));
      for (let l = 0; l < 4; l++)
        vector.push(m.i32.store8(l * go.pix + ch, 1, f.get(op), m.i32x4.extract_lane(f.get(qa), l)));
    }
  }
  const w4 = b.w - (b.w % 4);
  const row: Expr[] = [];
  if (w4 > 0) row.push(f.loop(x, f.c(0), () => f.c(w4), 4, vector));
  if (w4 < b.w) row.push(f.loop(x, f.c(w4), () => f.c(b.w), 1, scalar));
  return f.loop(y, f.get(c.r0), () => f.get(c.r1), 1, row);
}

export { i8Splat };
