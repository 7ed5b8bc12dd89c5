/**
 * The epilogue every conv kernel ends with, applied in registers to an accumulator that already
 * holds the bias: activation, then (fused) nearest x2 upsampling: one value stored to a 2x2
 * block, then (fused) the skip add read at each written position, then a second activation,
 * then the store: NHWC into a buffer, or lane by lane into the NCHW graph output.
 */
import type { Activation, Epilogue } from '../plan.js';
import { geomOf, type Layout } from '../layout.js';
import { activate } from './activation.js';
import type { Expr, Fn } from './builder.js';

export class EpilogueWriter {
  private readonly outBase: number;
  private readonly addBase: number;
  private readonly val: number;
  private readonly f: Fn;
  private readonly epi: Epilogue<Activation>;
  private readonly layout: Layout;
  /** Scale from conv pixels to written pixels (2 when upsampling). */
  private readonly s: number;

  constructor(f: Fn, epi: Epilogue<Activation>, layout: Layout) {
    this.f = f;
    this.epi = epi;
    this.layout = layout;
    this.outBase = f.i32Local();
    this.addBase = f.i32Local();
    this.val = f.v128Local();
    this.s = epi.up ? 2 : 1;
  }

  /** Points the epilogue at conv output pixel (y, x), channel `c` (all i32 expressions). */
  setup(y: () => Expr, x: () => Expr, c: () => Expr): Expr[] {
    const { f, epi, s } = this;
    const out: Expr[] = [];
    if (epi.out === 'output') {
      const o = this.layout.output;
      // (Y * W + X) * 4 + c * H * W * 4, with Y = s*y, X = s*x.
      out.push(
        f.set(
          this.outBase,
          f.add(
            f.c(o.byteOffset),
            f.add(
              f.add(f.mul(y(), f.c(s * o.w * 4)), f.mul(x(), f.c(s * 4))),
              f.mul(c(), f.c(o.h * o.w * 4)),
            ),
          ),
        ),
      );
    } else {
      const g = geomOf(epi.out);
      out.push(
        f.set(
          this.outBase,
          f.add(
            f.c(g.origin + (epi.outOffset ?? 0) * 4),
            f.add(f.add(f.mul(y(), f.c(s * g.rs)), f.mul(x(), f.c(s * g.pix))), f.mul(c(), f.c(4))),
          ),
        ),
      );
    }
    if (epi.add) {
      const g = geomOf(epi.add);
      out.push(
        f.set(
          this.addBase,
          f.add(
            f.c(g.origin),
            f.add(f.add(f.mul(y(), f.c(s * g.rs)), f.mul(x(), f.c(s * g.pix))), f.mul(c(), f.c(4))),
          ),
        ),
      );
    }
    return out;
  }

  /** Moves the position of the last `setup` on by `n` channels (a runtime channel loop). */
  advance(n: number): Expr[] {
    const { f, epi } = this;
    const outStep = epi.out === 'output' ? n * this.layout.output.h * this.layout.output.w * 4 : n * 4;
    const out = [f.bump(this.outBase, outStep)];
    if (epi.add) out.push(f.bump(this.addBase, n * 4));
    return out;
  }

  /**
   * Stores accumulator `v` (bias included) for conv pixel x+p and channels cc..cc+3 relative to
   * the last `setup`.
   */
  store(v: Expr, p: number, cc: number): Expr[] {
    const { f, epi, s } = this;
    const m = f.m;
    const out: Expr[] = [f.set(this.val, activate(f, epi.act, v))];
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
      let w = f.get(this.val);
      if (epi.add) {
        const g = geomOf(epi.add);
        w = m.f32x4.add(w, f.load(f.get(this.addBase), dy * g.rs + (p * s + dx) * g.pix + cc * 4));
      }
      w = activate(f, epi.act2, w);
      if (epi.out === 'output') {
        const o = this.layout.output;
        const tmp = f.v128Local();
        out.push(f.set(tmp, w));
        for (let l = 0; l < 4; l++) {
          const off = (dy * o.w + p * s + dx) * 4 + (cc + l) * o.h * o.w * 4;
          out.push(m.f32.store(off, 4, f.get(this.outBase), m.f32x4.extract_lane(f.get(tmp), l)));
        }
      } else {
        const g = geomOf(epi.out);
        out.push(f.store(f.get(this.outBase), dy * g.rs + (p * s + dx) * g.pix + cc * 4, w));
      }
    }
    return out;
  }
}
