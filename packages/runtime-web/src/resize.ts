/**
 * Mapping a depth map back onto the input image. The network saw only `result.source.crop`
 * of the input (see `coverCrop`); `resizeDepth` samples, for every pixel of a `width` x
 * `height` rendering of the whole input, the depth at the same place of the scene. Pixels
 * outside the crop (the sides of a wide image, top and bottom of a tall one) have no estimate:
 * by default they take the nearest edge value (`outside: 'clamp'`), or NaN (`outside: 'nan'`).
 */
import { DepthEstimatorError } from './errors.js';
import type { DepthResult } from './types.js';

/** Options of `resizeDepth`. */
export interface ResizeDepthOptions {
  /** `bilinear` (default; half-pixel centres) or `nearest` (keeps depth edges sharp, no mixed depths). */
  readonly interpolation?: 'nearest' | 'bilinear';
  /** What pixels outside the region the network saw get: the nearest edge value (default) or NaN. */
  readonly outside?: 'clamp' | 'nan';
}

/** `result.depth` resampled to `width` x `height` pixels covering the whole input image. */
export function resizeDepth(
  result: Pick<DepthResult, 'depth' | 'width' | 'height' | 'source'>,
  width: number,
  height: number,
  options: ResizeDepthOptions = {},
): Float32Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new DepthEstimatorError(
      `resizeDepth: target size ${width}x${height} must be positive integers`,
      'BAD_OPTION',
    );
  }
  const { depth, width: dw, height: dh, source } = result;
  if (depth.length !== dw * dh) {
    throw new DepthEstimatorError(
      `resizeDepth: depth holds ${depth.length} values, expected ${dw}x${dh}`,
      'BAD_INPUT',
    );
  }
  const nearest = options.interpolation === 'nearest';
  const nan = options.outside === 'nan';
  const { crop } = source;
  // Target pixel centre -> input-image coordinates -> depth-map coordinates.
  const sx = source.width / width;
  const sy = source.height / height;
  const kx = dw / crop.width;
  const ky = dh / crop.height;
  const out = new Float32Array(width * height);
  for (let i = 0; i < height; i++) {
    const v = ((i + 0.5) * sy - crop.y) * ky;
    for (let j = 0; j < width; j++) {
      const u = ((j + 0.5) * sx - crop.x) * kx;
      if (nan && (u < 0 || u > dw || v < 0 || v > dh)) {
        out[i * width + j] = Number.NaN;
        continue;
      }
      if (nearest) {
        const x = Math.min(Math.max(Math.floor(u), 0), dw - 1);
        const y = Math.min(Math.max(Math.floor(v), 0), dh - 1);
        out[i * width + j] = depth[y * dw + x]!;
        continue;
      }
      const x = Math.min(Math.max(u - 0.5, 0), dw - 1);
      const y = Math.min(Math.max(v - 0.5, 0), dh - 1);
      const x0 = Math.floor(x);
      const y0 = Math.floor(y);
      const x1 = Math.min(x0 + 1, dw - 1);
      const y1 = Math.min(y0 + 1, dh - 1);
      const fx = x - x0;
      const fy = y - y0;
      const top = depth[y0 * dw + x0]! + (depth[y0 * dw + x1]! - depth[y0 * dw + x0]!) * fx;
      const bottom = depth[y1 * dw + x0]! + (depth[y1 * dw + x1]! - depth[y1 * dw + x0]!) * fx;
      out[i * width + j] = top + (bottom - top) * fy;
    }
  }
  return out;
}
