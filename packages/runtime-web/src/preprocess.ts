/**
 * Preprocessing as the authors feed the network: RGB / 255, no mean or std. An image that is
 * not the network's size is fitted by the cover-and-centre-crop rule:
 *
 * 1. scale `s = max(netW / w, netH / h)`, so the scaled image covers the network input and
 *    keeps its aspect ratio;
 * 2. keep the centred `netW / s` x `netH / s` region of the image (`coverCrop`);
 * 3. resample that region bilinearly with half-pixel centres (OpenCV `INTER_LINEAR`, PyTorch
 *    `align_corners=False`, no antialiasing): network pixel (i, j) reads the image at
 *    `x = crop.x + (j + 0.5) / s - 0.5`, `y = crop.y + (i + 0.5) / s - 0.5`, clamped to the edge.
 *
 * An image already at the network's size is read as is.
 */
import type { PixelBuffer, Rect } from './types.js';

/** Tensor layout of the network input: tfjs modules take NHWC, the ONNX models NCHW. */
export type InputLayout = 'nhwc' | 'nchw';

/** The region of a `width` x `height` image that the network's `netWidth` x `netHeight` input sees. */
export function coverCrop(width: number, height: number, netWidth: number, netHeight: number): Rect {
  const scale = Math.max(netWidth / width, netHeight / height);
  const cropWidth = netWidth / scale;
  const cropHeight = netHeight / scale;
  return { x: (width - cropWidth) / 2, y: (height - cropHeight) / 2, width: cropWidth, height: cropHeight };
}

/** Source taps and weights of one output coordinate along one axis. */
interface Taps {
  readonly lo: Int32Array;
  readonly hi: Int32Array;
  readonly frac: Float32Array;
}

/** Bilinear taps for `n` output samples covering `[start, start + length)` of an axis of `size` pixels. */
export function bilinearTaps(n: number, start: number, length: number, size: number): Taps {
  const lo = new Int32Array(n);
  const hi = new Int32Array(n);
  const frac = new Float32Array(n);
  const step = length / n;
  for (let i = 0; i < n; i++) {
    const x = Math.min(Math.max(start + (i + 0.5) * step - 0.5, 0), size - 1);
    const x0 = Math.floor(x);
    lo[i] = x0;
    hi[i] = Math.min(x0 + 1, size - 1);
    frac[i] = x - x0;
  }
  return { lo, hi, frac };
}

/**
 * `pixels` (8-bit RGB or RGBA) -> float32 RGB in [0, 1] at `netWidth` x `netHeight`, NHWC
 * (`[H, W, 3]`) or NCHW (`[3, H, W]`); alpha is ignored.
 */
export function preprocess(
  pixels: PixelBuffer,
  netWidth: number,
  netHeight: number,
  layout: InputLayout,
): Float32Array {
  const { data, width, height } = pixels;
  const channels = pixels.channels ?? 4;
  const out = new Float32Array(netWidth * netHeight * 3);
  const plane = netWidth * netHeight;
  const put =
    layout === 'nhwc'
      ? (p: number, r: number, g: number, b: number): void => {
          out[p * 3] = r;
          out[p * 3 + 1] = g;
          out[p * 3 + 2] = b;
        }
      : (p: number, r: number, g: number, b: number): void => {
          out[p] = r;
          out[plane + p] = g;
          out[2 * plane + p] = b;
        };
  const k = 1 / 255;
  if (width === netWidth && height === netHeight) {
    for (let p = 0; p < plane; p++)
      put(p, data[p * channels]! * k, data[p * channels + 1]! * k, data[p * channels + 2]! * k);
    return out;
  }
  const crop = coverCrop(width, height, netWidth, netHeight);
  const xs = bilinearTaps(netWidth, crop.x, crop.width, width);
  const ys = bilinearTaps(netHeight, crop.y, crop.height, height);
  const rgb = [0, 0, 0];
  for (let i = 0; i < netHeight; i++) {
    const row0 = ys.lo[i]! * width;
    const row1 = ys.hi[i]! * width;
    const fy = ys.frac[i]!;
    for (let j = 0; j < netWidth; j++) {
      const fx = xs.frac[j]!;
      const a = (row0 + xs.lo[j]!) * channels;
      const b = (row0 + xs.hi[j]!) * channels;
      const c = (row1 + xs.lo[j]!) * channels;
      const d = (row1 + xs.hi[j]!) * channels;
      for (let ch = 0; ch < 3; ch++) {
        const top = data[a + ch]! + (data[b + ch]! - data[a + ch]!) * fx;
        const bottom = data[c + ch]! + (data[d + ch]! - data[c + ch]!) * fx;
        rgb[ch] = (top + (bottom - top) * fy) * k;
      }
      put(i * netWidth + j, rgb[0]!, rgb[1]!, rgb[2]!);
    }
  }
  return out;
}
