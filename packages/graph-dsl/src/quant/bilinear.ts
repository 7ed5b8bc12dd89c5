/**
 * int8 bilinear resizes with half-pixel centres (PyTorch align_corners=False), in both integer
 * arithmetics. Both act on the raw integers (the zero point is not subtracted) and the output
 * carries the input's scale and zero point, which is exact because each arithmetic's weights sum
 * to a power of two.
 *
 * `tflite`: TFLite's int8 RESIZE_BILINEAR with half_pixel_centers=true, the integer arithmetic of
 * `reference_ops::ResizeBilinear` for int8 (resize_bilinear.h): source positions in 1/1024
 * steps, four taps weighted in 1/2^20, the sum rounded half away from zero.
 *
 * `xnnpack`: what TFLite's XNNPACK delegate runs. RESIZE_BILINEAR with half_pixel_centers (and
 * not align_corners) maps to `xnn_define_static_resize_bilinear_2d` with no flags (align_corners
 * would be XNN_FLAG_ALIGN_CORNERS, neither flag XNN_FLAG_TENSORFLOW_LEGACY_MODE); that subgraph
 * node requires the output to carry the input's quantisation parameters and runs the
 * `resize-bilinear-nhwc-s8` operator. Read from XNNPACK's `src/indirection.c`
 * (`xnn_indirection_init_resize_bilinear2d_hwc_q11`: source coordinates and Q11 weights),
 * `src/subgraph/static-resize-bilinear-2d.c`, `src/operators/resize-bilinear-nhwc.c`,
 * `src/configs/ibilinear-config.c` and the `s8-ibilinear` microkernels (`src/s8-ibilinear/
 * scalar.c.in`; `wasmsimd-dot16x2.c.in`, the wasm build's; `neon.c.in` and `sse.c.in`: the same
 * integers); the half-pixel branch is unchanged from 2025 through 2026.
 *   - per axis, float32: `scale = in / out`, `offset = 0.5 * scale - 0.5`, source position
 *     `p = clamp(o * scale + offset, 0, in - 1)` (two roundings, no fused multiply-add: wasm has
 *     none), `lower = trunc(p)`, `upper = min(lower + 1, in - 1)`, and the upper tap's weight
 *     `alpha = lrintf((p - lower) * 2048)` (Q11, half to even, 0..2048);
 *   - per channel, int32: `t = (tl << 11) + (tr - tl) * ax`, `b = (bl << 11) + (br - bl) * ax`,
 *     `acc = (t << 11) + (b - t) * ay`, output `(acc + 2^21) >> 22` (arithmetic shift: the Q22
 *     value rounded half up, toward +infinity). |acc| <= 2^29.
 */
import type { Shape } from '../ir.js';
import type { IntegerArithmetic } from './ir.js';
import { roundHalfEven } from './xnnpack.js';

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

/** One axis of a bilinear resize: per output coordinate, the two source indices and the upper one's weight. */
interface AxisTaps {
  readonly lower: Int32Array;
  readonly upper: Int32Array;
  readonly weight: Int32Array;
}

/**
 * The walk both arithmetics share: every output pixel of every plane of `x` mixes its four
 * source integers with the column and row weights (`mix(tl, tr, bl, br, wx, wy)`).
 */
function resizePlanes(
  x: { shape: Shape; data: Int8Array },
  out: Shape,
  rows: AxisTaps,
  cols: AxisTaps,
  mix: (tl: number, tr: number, bl: number, br: number, wx: number, wy: number) => number,
): Int8Array {
  const [n, c, h, w] = x.shape;
  const [, , oh, ow] = out;
  const y = new Int8Array(n * c * oh * ow);
  for (let p = 0; p < n * c; p++) {
    for (let oy = 0; oy < oh; oy++) {
      const top = (p * h + rows.lower[oy]!) * w;
      const bottom = (p * h + rows.upper[oy]!) * w;
      const wy = rows.weight[oy]!;
      for (let ox = 0; ox < ow; ox++) {
        const l = cols.lower[ox]!;
        const r = cols.upper[ox]!;
        y[(p * oh + oy) * ow + ox] = mix(
          x.data[top + l]!,
          x.data[top + r]!,
          x.data[bottom + l]!,
          x.data[bottom + r]!,
          cols.weight[ox]!,
          wy,
        );
      }
    }
  }
  return y;
}

/** int8 bilinear resize of planar `x` (N, C, H, W) to `out`'s spatial size. */
export function resizeBilinearInt8(x: { shape: Shape; data: Int8Array }, out: Shape): Int8Array {
  const taps = (a: BilinearAxis): AxisTaps => ({ lower: a.lower, upper: a.upper, weight: a.frac });
  // Weights in 1/1024: the four products sum in 1/2^20.
  return resizePlanes(
    x,
    out,
    taps(bilinearAxis(x.shape[2], out[2])),
    taps(bilinearAxis(x.shape[3], out[3])),
    (tl, tr, bl, br, wr, wb) =>
      bilinearRound(
        tl * (1024 - wb) * (1024 - wr) + bl * wb * (1024 - wr) + tr * (1024 - wb) * wr + br * wb * wr,
      ),
  );
}

/** Per output coordinate along one axis under the xnnpack arithmetic: the two source indices and the upper one's Q11 weight. */
export interface XnnpackBilinearAxis {
  /** `trunc` of the clamped source position (`input_y_top`, `input_x_left`). */
  readonly lower: Int32Array;
  /** `min(lower + 1, in - 1)` (`input_y_bottom`, `input_x_right`). */
  readonly upper: Int32Array;
  /** Weight of `upper` in 1/2048 (0..2048); `lower` weighs 2048 minus it. */
  readonly alpha: Int32Array;
}

const f32 = Math.fround;

/**
 * The float32 constants of an axis resized from `inSize` to `outSize` (half-pixel centres):
 * `scale = in / out` and `offset = 0.5 * scale - 0.5`, each a float32 (the source position of
 * output `o` is `fround(fround(o * scale) + offset)`).
 */
export function xnnpackBilinearScale(inSize: number, outSize: number): { scale: number; offset: number } {
  const scale = f32(inSize / outSize);
  return { scale, offset: f32(f32(0.5 * scale) - 0.5) };
}

/**
 * `xnn_indirection_init_resize_bilinear2d_hwc_q11`'s half-pixel branch along one axis: every
 * float32 step is `Math.fround` of a double operation (the correctly rounded float32 result).
 */
export function xnnpackBilinearAxis(inSize: number, outSize: number): XnnpackBilinearAxis {
  const { scale, offset } = xnnpackBilinearScale(inSize, outSize);
  const max = inSize - 1;
  const lower = new Int32Array(outSize);
  const upper = new Int32Array(outSize);
  const alpha = new Int32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    const p = Math.min(Math.max(f32(f32(o * scale) + offset), 0), max);
    const lo = Math.trunc(p);
    lower[o] = lo;
    upper[o] = Math.min(lo + 1, max);
    // p - lo is exact in float32 and so is its product with 2048; lrintf rounds half to even.
    alpha[o] = roundHalfEven((p - lo) * 2048);
  }
  return { lower, upper, alpha };
}

/**
 * The `s8-ibilinear` microkernels on one channel: horizontal then vertical interpolation in
 * int32 with Q11 weights `ax`, `ay`, then `(acc + 2^21) >> 22` (arithmetic shift).
 */
export function xnnpackBilinearMix(
  tl: number,
  tr: number,
  bl: number,
  br: number,
  ax: number,
  ay: number,
): number {
  const t = tl * 2048 + (tr - tl) * ax;
  const b = bl * 2048 + (br - bl) * ax;
  const acc = t * 2048 + (b - t) * ay;
  return (acc + (1 << 21)) >> 22;
}

/** int8 bilinear resize of planar `x` (N, C, H, W) to `out`'s spatial size under the xnnpack arithmetic. */
export function resizeBilinearInt8Xnnpack(x: { shape: Shape; data: Int8Array }, out: Shape): Int8Array {
  const taps = (a: XnnpackBilinearAxis): AxisTaps => ({ lower: a.lower, upper: a.upper, weight: a.alpha });
  return resizePlanes(
    x,
    out,
    taps(xnnpackBilinearAxis(x.shape[2], out[2])),
    taps(xnnpackBilinearAxis(x.shape[3], out[3])),
    xnnpackBilinearMix,
  );
}

/** int8 bilinear resize of planar `x` to `out`'s spatial size in `arithmetic`'s integers. */
export function resizeBilinearInt8In(
  arithmetic: IntegerArithmetic,
  x: { shape: Shape; data: Int8Array },
  out: Shape,
): Int8Array {
  return arithmetic === 'xnnpack' ? resizeBilinearInt8Xnnpack(x, out) : resizeBilinearInt8(x, out);
}
