/**
 * The small dense linear algebra that reconstruction needs, in float64: normal equations
 * accumulated over calibration batches, a ridge-regularised Cholesky solve, and the inverse
 * used by greedy channel elimination. Systems are at most (1024 + 1)^2, so plain loops laid out
 * for the cache are enough (a solve takes milliseconds; forward passes are the real cost).
 */
import { FastDepthError } from '@fastdepth/graph-dsl';

/**
 * Least-squares statistics of Y ~ X W + b over many rows: XᵀX and XᵀY with a constant column
 * appended to X (index `inputs`), and per-output ΣY and ΣY². Rows arrive in batches
 * (`addRows`); nothing but these sums is kept, so the calibration set can be any size.
 */
export class NormalEquations {
  /** (inputs + 1)² row-major, only the lower triangle is accumulated until `finish`. */
  readonly xx: Float64Array;
  /** (inputs + 1) x outputs row-major. */
  readonly xy: Float64Array;
  readonly ySum: Float64Array;
  readonly yy: Float64Array;
  rows = 0;
  private symmetric = false;

  constructor(
    readonly inputs: number,
    readonly outputs: number,
  ) {
    const n = inputs + 1;
    this.xx = new Float64Array(n * n);
    this.xy = new Float64Array(n * outputs);
    this.ySum = new Float64Array(outputs);
    this.yy = new Float64Array(outputs);
  }

  /**
   * Adds `count` rows: `x` is count x inputs, `y` is count x outputs (row-major float32).
   * Works on column-major float64 chunks so every inner loop is a dot product of two
   * contiguous arrays.
   */
  addRows(x: Float32Array, y: Float32Array, count: number): void {
    const c = this.inputs;
    const k = this.outputs;
    if (x.length < count * c || y.length < count * k)
      throw new Error(`NormalEquations.addRows: ${count} rows need ${count * c} x and ${count * k} y values`);
    const n = c + 1;
    const chunk = 256;
    const xc = new Float64Array(n * chunk);
    const yc = new Float64Array(k * chunk);
    for (let start = 0; start < count; start += chunk) {
      const r = Math.min(chunk, count - start);
      for (let i = 0; i < r; i++) {
        const xo = (start + i) * c;
        for (let j = 0; j < c; j++) xc[j * chunk + i] = x[xo + j]!;
        xc[c * chunk + i] = 1;
        const yo = (start + i) * k;
        for (let j = 0; j < k; j++) yc[j * chunk + i] = y[yo + j]!;
      }
      for (let a = 0; a < n; a++) {
        const ao = a * chunk;
        for (let b = 0; b <= a; b++) {
          const bo = b * chunk;
          let s = 0;
          for (let i = 0; i < r; i++) s += xc[ao + i]! * xc[bo + i]!;
          this.xx[a * n + b]! += s;
        }
        for (let j = 0; j < k; j++) {
          const jo = j * chunk;
          let s = 0;
          for (let i = 0; i < r; i++) s += xc[ao + i]! * yc[jo + i]!;
          this.xy[a * k + j]! += s;
        }
      }
      for (let j = 0; j < k; j++) {
        const jo = j * chunk;
        let s = 0;
        let q = 0;
        for (let i = 0; i < r; i++) {
          const v = yc[jo + i]!;
          s += v;
          q += v * v;
        }
        this.ySum[j]! += s;
        this.yy[j]! += q;
      }
      this.rows += r;
    }
    this.symmetric = false;
  }

  /**
   * Adds the products of a block of rows computed elsewhere (`GramKernel`): `xx` is the full
   * (inputs + 1)² XᵀX, `xy` is XᵀY, `y` the block's targets (rows x outputs) for ΣY and ΣY².
   */
  accumulate(xx: Float32Array, xy: Float32Array, y: Float32Array, rows: number): void {
    const n = this.inputs + 1;
    const k = this.outputs;
    if (xx.length !== n * n || xy.length !== n * k)
      throw new Error('NormalEquations.accumulate: wrong sizes');
    // Lower triangle only, as addRows keeps it; gram() mirrors it.
    for (let a = 0; a < n; a++) for (let b = 0; b <= a; b++) this.xx[a * n + b]! += xx[a * n + b]!;
    for (let i = 0; i < n * k; i++) this.xy[i]! += xy[i]!;
    for (let r = 0; r < rows; r++)
      for (let j = 0; j < k; j++) {
        const v = y[r * k + j]!;
        this.ySum[j]! += v;
        this.yy[j]! += v * v;
      }
    this.rows += rows;
    this.symmetric = false;
  }

  /**
   * The statistics of a subset of inputs and outputs (indices into this system's), as if the
   * rows had only those columns: what a layer's equations become when surgery slices its
   * input or output channels without changing their values.
   */
  select(inputs: readonly number[], outputs: readonly number[]): NormalEquations {
    const g = this.gram();
    const n = this.inputs + 1;
    const out = new NormalEquations(inputs.length, outputs.length);
    const m = inputs.length + 1;
    const idx = [...inputs, this.inputs];
    for (let a = 0; a < m; a++) {
      for (let b = 0; b < m; b++) out.xx[a * m + b] = g[idx[a]! * n + idx[b]!]!;
      outputs.forEach((o, j) => (out.xy[a * outputs.length + j] = this.xy[idx[a]! * this.outputs + o]!));
    }
    outputs.forEach((o, j) => {
      out.ySum[j] = this.ySum[o]!;
      out.yy[j] = this.yy[o]!;
    });
    out.rows = this.rows;
    out.symmetric = true;
    return out;
  }

  /** XᵀX with both triangles filled (call after the last `addRows`). */
  gram(): Float64Array {
    if (!this.symmetric) {
      const n = this.inputs + 1;
      for (let a = 0; a < n; a++) for (let b = 0; b < a; b++) this.xx[b * n + a] = this.xx[a * n + b]!;
      this.symmetric = true;
    }
    return this.xx;
  }
}

/** In-place Cholesky A = L Lᵀ of an n x n SPD matrix (lower triangle holds L). */
export function cholesky(a: Float64Array, n: number): void {
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j]!;
    for (let k = 0; k < j; k++) d -= a[j * n + k]! * a[j * n + k]!;
    if (!(d > 0)) throw new FastDepthError(`least-squares system is not positive definite at row ${j}`);
    const l = Math.sqrt(d);
    a[j * n + j] = l;
    for (let i = j + 1; i < n; i++) {
      let s = a[i * n + j]!;
      for (let k = 0; k < j; k++) s -= a[i * n + k]! * a[j * n + k]!;
      a[i * n + j] = s / l;
    }
  }
}

/** Solves L Lᵀ X = B for m right-hand sides (B is n x m row-major, overwritten by X). */
export function choleskySolve(l: Float64Array, n: number, b: Float64Array, m: number): void {
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < i; k++) {
      const f = l[i * n + k]!;
      if (f !== 0) for (let j = 0; j < m; j++) b[i * m + j]! -= f * b[k * m + j]!;
    }
    const d = l[i * n + i]!;
    for (let j = 0; j < m; j++) b[i * m + j]! /= d;
  }
  for (let i = n - 1; i >= 0; i--) {
    for (let k = i + 1; k < n; k++) {
      const f = l[k * n + i]!;
      if (f !== 0) for (let j = 0; j < m; j++) b[i * m + j]! -= f * b[k * m + j]!;
    }
    const d = l[i * n + i]!;
    for (let j = 0; j < m; j++) b[i * m + j]! /= d;
  }
}

/**
 * The regularised system of a subset of the inputs: A = XᵀX[S, S] + λ I (λ = `ridge` x the
 * mean diagonal of the inputs; the constant column, when `intercept`, is not regularised) and
 * B = XᵀY[S, :]. `inputs` lists the kept input indices; the constant column comes last.
 */
export function subsystem(
  eq: NormalEquations,
  inputs: readonly number[],
  intercept: boolean,
  ridge: number,
): { a: Float64Array; b: Float64Array; n: number; index: number[] } {
  const full = eq.inputs + 1;
  const index = intercept ? [...inputs, eq.inputs] : [...inputs];
  const n = index.length;
  const g = eq.gram();
  let trace = 0;
  for (const i of inputs) trace += g[i * full + i]!;
  const lambda = inputs.length > 0 ? (ridge * trace) / inputs.length + 1e-12 : 0;
  const a = new Float64Array(n * n);
  const b = new Float64Array(n * eq.outputs);
  for (let r = 0; r < n; r++) {
    const gi = index[r]!;
    for (let c = 0; c < n; c++) a[r * n + c] = g[gi * full + index[c]!]!;
    if (gi !== eq.inputs) a[r * n + r]! += lambda;
    b.set(eq.xy.subarray(gi * eq.outputs, (gi + 1) * eq.outputs), r * eq.outputs);
  }
  return { a, b, n, index };
}

/** Ridge least squares on the kept inputs: returns W (n x outputs, rows in `index` order). */
export function solveSubset(
  eq: NormalEquations,
  inputs: readonly number[],
  intercept: boolean,
  ridge: number,
): { w: Float64Array; index: number[] } {
  const { a, b, n, index } = subsystem(eq, inputs, intercept, ridge);
  cholesky(a, n);
  choleskySolve(a, n, b, eq.outputs);
  return { w: b, index };
}

/** The inverse of an SPD matrix (n x n), through its Cholesky factor. */
export function spdInverse(a: Float64Array, n: number): Float64Array {
  const l = Float64Array.from(a);
  cholesky(l, n);
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) inv[i * n + i] = 1;
  choleskySolve(l, n, inv, n);
  return inv;
}

/**
 * Σ_k s_k² Σ_rows (y_k − ŷ_k)² for W (rows in `index` order), from the sums alone: the
 * weighted squared residual of the fit, with `scale` (s_k) weighting each output.
 */
export function residual(
  eq: NormalEquations,
  w: Float64Array,
  index: readonly number[],
  scale: Float64Array,
): number {
  const full = eq.inputs + 1;
  const k = eq.outputs;
  const g = eq.gram();
  let total = 0;
  const gw = new Float64Array(k);
  for (let j = 0; j < k; j++) {
    // yy − 2 wᵀ xy + wᵀ G w, per output j.
    let cross = 0;
    let quad = 0;
    for (let r = 0; r < index.length; r++) {
      const wr = w[r * k + j]!;
      if (wr === 0) continue;
      cross += wr * eq.xy[index[r]! * k + j]!;
      let s = 0;
      const row = index[r]! * full;
      for (let c = 0; c < index.length; c++) s += g[row + index[c]!]! * w[c * k + j]!;
      quad += wr * s;
    }
    gw[j] = Math.max(0, eq.yy[j]! - 2 * cross + quad);
    total += scale[j]! * scale[j]! * gw[j]!;
  }
  return total;
}

/** Σ_k s_k² Σ_rows (y_k − ȳ_k)²: the weighted variance a fit is measured against. */
export function variance(eq: NormalEquations, scale: Float64Array): number {
  let total = 0;
  for (let j = 0; j < eq.outputs; j++) {
    const v = eq.yy[j]! - (eq.ySum[j]! * eq.ySum[j]!) / Math.max(1, eq.rows);
    total += scale[j]! * scale[j]! * Math.max(0, v);
  }
  return total;
}
