/**
 * The int8 ADD on four int32 lanes, bit-exact with graph-dsl's `executeQuantized`: TFLite's
 * general rescaling (both inputs to 2^20 times twice the larger scale, then to the output
 * scale) or, for graphs in XNNPACK's arithmetic, XNNPACK's integer ADD (`xnnpackAdd`).
 *
 * Two users: a conv epilogue that fuses a skip add (the conv's value is operand 1, its
 * rescaled term computed once per value and shared by the 2x2 block of a fused upsample), and
 * the standalone add stage (`addRowsI8`) for an add whose operands are both complete buffers,
 * e.g. a skip add after an UpProj block, whose own add already sits in its conv's epilogue.
 */
import type { QuantizedMultiplier } from '@fastdepth/graph-dsl';
import binaryen from 'binaryen';
import type { Expr, Fn } from '../kernels/builder.js';
import type { Buffer, Int8MapStage } from '../plan.js';
import { geomI8, type AddQuant } from './plan.js';
import { i32Splat, narrow8 } from './requant.js';

/** The wasm arithmetic of one int8 ADD (its parameters are constants of the module). */
export class QuantizedAdd {
  private readonly ax: number;
  private readonly ad: number;

  constructor(
    private readonly f: Fn,
    private readonly add: AddQuant,
  ) {
    if (!add.xnnpack && (add.m1.shift > 0 || add.m2.shift > 0))
      throw new Error(
        `codegen-wasm int8: add "${add.layer}" has an input multiplier above 1 (impossible: s / (2 max s) <= 1/2)`,
      );
    this.ax = f.v128Local();
    this.ad = f.v128Local();
  }

  /**
   * `roundingDivideByPOT(x, e)` with one exponent for all lanes (tensor-wide multipliers of the
   * ADD): TFLite's own mask / threshold form.
   */
  private rdbpot(x: Expr, e: number): Expr {
    const { f } = this;
    const m = f.m;
    if (e === 0) return x;
    const mask = 2 ** e - 1;
    return m.block(
      null,
      [
        f.set(this.ax, x),
        // (x >> e) + (remainder > (mask >> 1) + [x < 0]); a true i32x4.gt_s is -1.
        m.i32x4.sub(
          m.i32x4.shr_s(f.get(this.ax), f.c(e)),
          m.i32x4.gt_s(
            m.v128.and(f.get(this.ax), i32Splat(f, mask)),
            m.i32x4.sub(i32Splat(f, mask >> 1), m.i32x4.shr_s(f.get(this.ax), f.c(31))),
          ),
        ),
      ],
      binaryen.v128,
    );
  }

  /**
   * `multiplyByQuantizedMultiplier(d * 2^20, mq)` for |d| <= 255 and mq.shift <= 0 (the ADD's
   * input rescaling) in 32-bit lanes: SRDHM(d * 2^20, M) = floor((d*M + 2^10) / 2^11)
   * = d * (M >> 11) + ((d * (M & 2047) + 2^10) >> 11), every term inside int32.
   */
  private mulSmall(d: Expr, mq: QuantizedMultiplier): Expr {
    const { f } = this;
    const m = f.m;
    const x = m.i32x4.add(
      m.i32x4.mul(f.get(this.ad), i32Splat(f, Math.floor(mq.multiplier / 2048))),
      m.i32x4.shr_s(
        m.i32x4.add(m.i32x4.mul(f.get(this.ad), i32Splat(f, mq.multiplier % 2048)), i32Splat(f, 1024)),
        f.c(11),
      ),
    );
    return m.block(null, [f.set(this.ad, d), this.rdbpot(x, -mq.shift)], binaryen.v128);
  }

  /** `multiplyByQuantizedMultiplier(v, mq)`, one multiplier for all lanes. */
  private mulUniform(v: Expr, mq: QuantizedMultiplier): Expr {
    const { f } = this;
    const m = f.m;
    const left = mq.shift > 0 ? mq.shift : 0;
    const k = i32Splat(f, mq.multiplier);
    const half = (low: boolean): Expr =>
      m.i64x2.shr_u(
        m.i64x2.add(
          low
            ? m.i64x2.extmul_low_i32x4_s(f.get(this.ad), k)
            : m.i64x2.extmul_high_i32x4_s(f.get(this.ad), k),
          m.v128.const([0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0, 0, 0]),
        ),
        f.c(31),
      );
    const x = m.i8x16.shuffle(
      half(true),
      half(false),
      [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27],
    );
    return m.block(
      null,
      [f.set(this.ad, left > 0 ? m.i32x4.shl(v, f.c(left)) : v), this.rdbpot(x, left > 0 ? 0 : -mq.shift)],
      binaryen.v128,
    );
  }

  /** The rescaled term of operand 1 (int8 values in i32x4 lanes). */
  term1(y: Expr): Expr {
    const a = this.add;
    const m = this.f.m;
    // XNNPACK: bias + y * m_a (every term of its int32 sum stays below 2^30).
    if (a.xnnpack)
      return m.i32x4.add(
        m.i32x4.mul(y, i32Splat(this.f, a.xnnpack.aMultiplier)),
        i32Splat(this.f, a.xnnpack.bias),
      );
    return this.mulSmall(m.i32x4.sub(y, i32Splat(this.f, a.zp1)), a.m1);
  }

  /** The int8 ADD given operand 1's term (`term1`) and operand 2's values `k`, clamped (i32x4). */
  apply(term1: Expr, k: Expr): Expr {
    const { f } = this;
    const m = f.m;
    const a = this.add;
    if (a.xnnpack) {
      // XNNPACK: ((bias + y * m_a + k * m_b) >> shift) + zp, clamped (graph-dsl `xnnpackAdd`).
      const x = a.xnnpack;
      const acc = m.i32x4.add(term1, m.i32x4.mul(k, i32Splat(f, x.bMultiplier)));
      const out = m.i32x4.add(m.i32x4.shr_s(acc, f.c(x.shift)), i32Splat(f, x.outputZeroPoint));
      return m.i32x4.min_s(m.i32x4.max_s(out, i32Splat(f, a.lo)), i32Splat(f, a.hi));
    }
    const raw = m.i32x4.add(term1, this.mulSmall(m.i32x4.sub(k, i32Splat(f, a.zp2)), a.m2));
    const out = m.i32x4.add(this.mulUniform(raw, a.mo), i32Splat(f, a.zpOut));
    return m.i32x4.min_s(m.i32x4.max_s(out, i32Splat(f, a.lo)), i32Splat(f, a.hi));
  }
}

/**
 * Rows [r0, r1) and columns [x0, x1) (locals) of a standalone add stage: `out = stage.in +
 * stage.terms[0]`, 8 channels at a time over each pixel's padded channels (all three buffers
 * have pad8(C) bytes per pixel; the padded lanes hold sums of padding, which no kernel reads as
 * values). A fused activation is the ADD's clamp.
 */
export function addRowsI8(
  f: Fn,
  c: { stage: Int8MapStage; out: Buffer; add: AddQuant; r0: number; r1: number; x0: number; x1: number },
): Expr {
  const m = f.m;
  const [a, b] = [c.stage.in, c.stage.terms[0]!];
  const [ga, gb, go] = [geomI8(a), geomI8(b), geomI8(c.out)];
  const adder = new QuantizedAdd(f, c.add);
  const [y, x, ap, bp, op] = [f.i32Local(), f.i32Local(), f.i32Local(), f.i32Local(), f.i32Local()];
  const [va, vb, lo] = [f.v128Local(), f.v128Local(), f.v128Local()];
  const at = (g: ReturnType<typeof geomI8>): Expr =>
    f.add(f.c(g.origin), f.add(f.mul(f.get(y), f.c(g.rs)), f.mul(f.get(x), f.c(g.pix))));
  const pixel: Expr[] = [f.set(ap, at(ga)), f.set(bp, at(gb)), f.set(op, at(go))];
  for (let ch = 0; ch < go.pix; ch += 8) {
    pixel.push(
      f.set(va, m.v128.load8x8_s(ch, 1, f.get(ap))),
      f.set(vb, m.v128.load8x8_s(ch, 1, f.get(bp))),
      f.set(
        lo,
        adder.apply(
          adder.term1(m.i32x4.extend_low_i16x8_s(f.get(va))),
          m.i32x4.extend_low_i16x8_s(f.get(vb)),
        ),
      ),
      m.v128.store64_lane(
        ch,
        1,
        0,
        f.get(op),
        narrow8(
          f,
          f.get(lo),
          adder.apply(
            adder.term1(m.i32x4.extend_high_i16x8_s(f.get(va))),
            m.i32x4.extend_high_i16x8_s(f.get(vb)),
          ),
        ),
      ),
    );
  }
  return f.loop(y, f.get(c.r0), () => f.get(c.r1), 1, [f.loop(x, f.get(c.x0), () => f.get(c.x1), 1, pixel)]);
}
