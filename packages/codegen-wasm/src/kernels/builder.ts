/**
 * A thin layer over binaryen's expression API for writing kernels: typed locals, counted loops,
 * v128 helpers and the one place where the relaxed-SIMD and plain-SIMD variants differ (`madd`).
 * Every address a kernel computes is a base pointer in a local plus a constant `offset` immediate
 * in the load/store, so per-tap and per-pixel displacements cost nothing at run time.
 */
import binaryen from 'binaryen';

export type Expr = binaryen.ExpressionRef;

/** The two C-API entry points used for relaxed_madd (not in binaryen's typings). */
const lowLevel = binaryen as unknown as {
  _BinaryenSIMDTernary(module: number, op: number, a: Expr, b: Expr, c: Expr): Expr;
  _BinaryenRelaxedMaddVecF32x4(): number;
};

/** Which of the four modules is being emitted. */
export interface Variant {
  /** f32x4.relaxed_madd (one fused instruction where the CPU has FMA) instead of mul + add. */
  readonly relaxed: boolean;
  /** Shared memory and the in-wasm barrier between stages. */
  readonly threads: boolean;
}

export class Fn {
  readonly vars: binaryen.Type[] = [];
  private labels = 0;

  constructor(
    readonly m: binaryen.Module,
    readonly variant: Variant,
    /** Parameter types; locals are numbered after them. */
    readonly params: readonly binaryen.Type[],
  ) {}

  /** A new local of `type`; returns its index. */
  local(type: binaryen.Type): number {
    this.vars.push(type);
    return this.params.length + this.vars.length - 1;
  }
  i32Local(): number {
    return this.local(binaryen.i32);
  }
  v128Local(): number {
    return this.local(binaryen.v128);
  }

  get(index: number): Expr {
    const type = index < this.params.length ? this.params[index]! : this.vars[index - this.params.length]!;
    return this.m.local.get(index, type);
  }
  set(index: number, value: Expr): Expr {
    return this.m.local.set(index, value);
  }

  c(n: number): Expr {
    return this.m.i32.const(n | 0);
  }
  add(a: Expr, b: Expr): Expr {
    return this.m.i32.add(a, b);
  }
  mul(a: Expr, b: Expr): Expr {
    return this.m.i32.mul(a, b);
  }
  /** local += n */
  bump(index: number, n: number): Expr {
    return this.set(index, this.add(this.get(index), this.c(n)));
  }

  label(prefix: string): string {
    return `${prefix}${this.labels++}`;
  }

  /**
   * `for (i = from; i < to; i += step) body`. `to` is evaluated each iteration; pass a constant
   * or a local. The body runs at least once only when from < to (checked first).
   */
  loop(i: number, from: Expr, to: () => Expr, step: number, body: Expr[]): Expr {
    const m = this.m;
    const brk = this.label('out');
    const top = this.label('top');
    return m.block(brk, [
      this.set(i, from),
      m.br(brk, m.i32.ge_s(this.get(i), to())),
      m.loop(top, m.block(null, [...body, this.bump(i, step), m.br(top, m.i32.lt_s(this.get(i), to()))])),
    ]);
  }

  /** A loop that runs exactly `count` (> 0, known at emit time) times; `i` counts down. */
  repeat(i: number, count: number, body: Expr[]): Expr {
    const m = this.m;
    const top = this.label('rep');
    return m.block(null, [
      this.set(i, this.c(count)),
      m.loop(
        top,
        m.block(null, [...body, this.set(i, m.i32.sub(this.get(i), this.c(1))), m.br(top, this.get(i))]),
      ),
    ]);
  }

  block(exprs: Expr[]): Expr {
    return exprs.length === 1 ? exprs[0]! : this.m.block(null, exprs);
  }

  // --- v128 ---
  load(ptr: Expr, offset: number): Expr {
    return this.m.v128.load(offset, 16, ptr);
  }
  store(ptr: Expr, offset: number, v: Expr): Expr {
    return this.m.v128.store(offset, 16, ptr, v);
  }
  splat(ptr: Expr, offset: number): Expr {
    return this.m.v128.load32_splat(offset, 4, ptr);
  }
  zero(): Expr {
    return this.m.v128.const([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  }
  f32x4(v: number): Expr {
    return this.m.f32x4.splat(this.m.f32.const(v));
  }
  /** a * b + c: relaxed_madd in the relaxed variant (may fuse, may not: both are within tolerance). */
  madd(a: Expr, b: Expr, c: Expr): Expr {
    if (this.variant.relaxed) {
      // binaryen.js has no wrapper for the relaxed ternary ops; its C API does.
      return lowLevel._BinaryenSIMDTernary(this.m.ptr, lowLevel._BinaryenRelaxedMaddVecF32x4(), a, b, c);
    }
    return this.m.f32x4.add(this.m.f32x4.mul(a, b), c);
  }
}

/** ReLU / ReLU6 with pmax/pmin: one maxps/minps each on x86, unlike f32x4.max's NaN handling. */
export function activate(f: Fn, act: 'none' | 'relu' | 'relu6', v: Expr): Expr {
  const m = f.m;
  if (act === 'none') return v;
  const r = m.f32x4.pmax(v, f.zero());
  return act === 'relu' ? r : m.f32x4.pmin(r, f.f32x4(6));
}
