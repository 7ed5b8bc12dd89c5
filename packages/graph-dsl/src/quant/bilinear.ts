/**
 * TFLite's int8 RESIZE_BILINEAR with half_pixel_centers=true (PyTorch align_corners=False), the
 * integer arithmetic of `reference_ops::ResizeBilinear` for int8 (resize_bilinear.h): source
 * positions in 1/1024 steps, four taps weighted in 1/2^20, the sum rounded half away from zero.
 * It acts on the raw integers (the zero point is not subtracted) and the output carries the
 * input's scale and zero point, which is exact because the weights sum to 2^20.
 */
import type { Graph, Node, Shape } from '../ir.js';

/**
 * The bilinear resizes of `graph`: the layers that have no int8 definition under the `xnnpack`
 * arithmetic (XNNPACK's s8 bilinear kernels round their own way, not modelled here), so every
 * check of that rule (validation, the int8 wasm planner, the CLI before calibrating) asks this.
 */
export function xnnpackUndefinedLayers(graph: Graph): Node[] {
  return graph.nodes.filter((n) => (n.op === 'upsample' || n.op === 'resize') && n.attrs.mode === 'bilinear');
}

/** TFLite's `scale_10`: the source step of an axis resized from `inSize` to `outSize`, in 1/1024. */
export function bilinearScale10(inSize: number, outSize: number): number {
  return Math.trunc((1024 * inSize + Math.trunc(outSize / 2)) / outSize);
}

/** Per output coordinate along one axis: the two source indices and the far tap's weight (of 1024). */
export interface BilinearAxis {
  /** Nearer-below source index (`lower_bound`), clamped at 0. */
  readonly lower: Int32Array;
  /** Nearer-above source index (`upper_bound`), clamped at the edge. */
  readonly upper: Int32Array;
  /**
   * Weight of `upper` in 1/1024; `lower` weighs 1024 minus it. Negative at the leading edge
   * (the source position is below 0 there), where `lower` and `upper` are both 0.
   */
  readonly frac: Int32Array;
}

/**
 * `ComputeInterpolationValues` (integer, half-pixel) for every output coordinate of an axis
 * resized from `inSize` to `outSize`. C++ int32 division truncates toward zero, hence Math.trunc.
 */
export function bilinearAxis(inSize: number, outSize: number): BilinearAxis {
  const scale10 = bilinearScale10(inSize, outSize);
  const lower = new Int32Array(outSize);
  const upper = new Int32Array(outSize);
  const frac = new Int32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    const scaled = o * scale10 + Math.trunc(scale10 / 2) - 512;
    const lo = Math.max(Math.trunc(scaled / 1024), 0);
    lower[o] = lo;
    upper[o] = Math.min(Math.trunc((scaled + 1023) / 1024), inSize - 1);
    frac[o] = scaled - 1024 * lo;
  }
  return { lower, upper, frac };
}

/**
 * The four taps' sum (each value times its two axis weights, in 1/2^20) rounded half away from
 * zero to an integer (`(sum ± 2^19) / 2^20`, truncating). |sum| <= 128 * 2^20 < 2^53: exact.
 */
export function bilinearRound(sum: number): number {
  return Math.trunc((sum + (sum > 0 ? 1 << 19 : -(1 << 19))) / (1 << 20));
}

/** int8 bilinear resize of planar `x` (N, C, H, W) to `out`'s spatial size. */
export function resizeBilinearInt8(x: { shape: Shape; data: Int8Array }, out: Shape): Int8Array {
  const [n, c, h, w] = x.shape;
  const [, , oh, ow] = out;
  const rows = bilinearAxis(h, oh);
  const cols = bilinearAxis(w, ow);
  const y = new Int8Array(n * c * oh * ow);
  for (let p = 0; p < n * c; p++) {
    for (let oy = 0; oy < oh; oy++) {
      const top = (p * h + rows.lower[oy]!) * w;
      const bottom = (p * h + rows.upper[oy]!) * w;
      const wb = rows.frac[oy]!;
      const wt = 1024 - wb;
      for (let ox = 0; ox < ow; ox++) {
        const l = cols.lower[ox]!;
        const r = cols.upper[ox]!;
        const wr = cols.frac[ox]!;
        const wl = 1024 - wr;
        const sum =
          x.data[top + l]! * wt * wl +
          x.data[bottom + l]! * wb * wl +
          x.data[top + r]! * wt * wr +
          x.data[bottom + r]! * wb * wr;
        y[(p * oh + oy) * ow + ox] = bilinearRound(sum);
      }
    }
  }
  return y;
}
