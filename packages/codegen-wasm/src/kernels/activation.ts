/**
 * The activations of the float build in registers, on one v128 of four channels: ReLU/ReLU6 and
 * clamp with pmax/pmin (one maxps/minps each on x86), PyTorch's Hardsigmoid (relu6(x + 3) / 6)
 * and Hardswish (x * hardsigmoid(x)), and the logistic sigmoid through a SIMD exp (wasm SIMD
 * has none): exp(z) = 2^n * p(r), n = round(z / ln 2), r = z - n ln 2 (|r| <= ln 2 / 2, ln 2 split
 * in two so r is exact), p a degree-6 Taylor polynomial (relative error 1.2e-7 there), and 2^n
 * built in the exponent bits. The sigmoid takes exp(-|x|) <= 1, which cannot overflow, and
 * returns 1 / (1 + e) or e / (1 + e) by the sign of x.
 */
import binaryen from 'binaryen';
import type { Activation } from '../plan.js';
import type { Expr, Fn } from './builder.js';

/** Scratch v128 locals of a function, shared by every activation it applies (see `activate`). */
const temps = new WeakMap<Fn, { x: number; e: number; s: number }>();

const LOG2E = 1.4426950408889634;
/** ln 2 = LN2_HI + LN2_LO; LN2_HI has few mantissa bits, so n * LN2_HI is exact for |n| < 256. */
const LN2_HI = 0.693359375;
const LN2_LO = -2.1219444e-4;

/**
 * `act(v)`. The temporaries are set from `v` before they are read and read only by this
 * expression, so sharing them between calls is safe: no activation nests inside another's operand.
 */
export function activate(f: Fn, act: Activation, v: Expr): Expr {
  const m = f.m;
  if (act === 'none') return v;
  if (act === 'relu') return m.f32x4.pmax(v, f.zero());
  if (act === 'relu6') return m.f32x4.pmin(m.f32x4.pmax(v, f.zero()), f.f32x4(6));
  if (typeof act === 'object')
    return m.f32x4.pmin(m.f32x4.pmax(v, f.f32x4(act.clip[0])), f.f32x4(act.clip[1]));
  let t = temps.get(f);
  if (!t) {
    t = { x: f.v128Local(), e: f.v128Local(), s: f.v128Local() };
    temps.set(f, t);
  }
  const x = (): Expr => f.get(t.x);
  const hardSigmoid = (u: Expr): Expr =>
    m.f32x4.mul(m.f32x4.pmin(m.f32x4.pmax(m.f32x4.add(u, f.f32x4(3)), f.zero()), f.f32x4(6)), f.f32x4(1 / 6));
  if (act === 'hardSigmoid') return hardSigmoid(v);
  if (act === 'hardSwish')
    return m.block(null, [f.set(t.x, v), m.f32x4.mul(x(), hardSigmoid(x()))], binaryen.v128);
  // sigmoid
  const z = m.f32x4.pmax(m.f32x4.neg(m.f32x4.abs(x())), f.f32x4(-87));
  const exp: Expr[] = [
    f.set(t.x, v),
    // e := z, s := n
    f.set(t.e, z),
    f.set(t.s, m.f32x4.nearest(m.f32x4.mul(f.get(t.e), f.f32x4(LOG2E)))),
    // e := r
    f.set(
      t.e,
      m.f32x4.sub(
        m.f32x4.sub(f.get(t.e), m.f32x4.mul(f.get(t.s), f.f32x4(LN2_HI))),
        m.f32x4.mul(f.get(t.s), f.f32x4(LN2_LO)),
      ),
    ),
  ];
  // Horner: p(r) = 1 + r (1 + r (1/2 + r (1/6 + r (1/24 + r (1/120 + r / 720)))))
  let p = f.f32x4(1 / 720);
  for (const c of [1 / 120, 1 / 24, 1 / 6, 1 / 2, 1, 1]) p = f.madd(p, f.get(t.e), f.f32x4(c));
  exp.push(
    // e := p(r) * 2^n
    f.set(
      t.e,
      m.f32x4.mul(
        p,
        m.i32x4.shl(m.i32x4.add(m.i32x4.trunc_sat_f32x4_s(f.get(t.s)), m.i32x4.splat(f.c(127))), f.c(23)),
      ),
    ),
    // s := 1 / (1 + e)
    f.set(t.s, m.f32x4.div(f.f32x4(1), m.f32x4.add(f.f32x4(1), f.get(t.e)))),
    m.v128.bitselect(f.get(t.s), m.f32x4.mul(f.get(t.e), f.get(t.s)), m.f32x4.ge(x(), f.zero())),
  );
  return m.block(null, exp, binaryen.v128);
}
