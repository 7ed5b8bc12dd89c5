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
import { bilinearTaps, coverCrop, inputRegion, preprocessRows } from './preprocess-rows.js';
import type { PixelBuffer } from './types.js';

export { bilinearTaps, coverCrop, inputRegion };

/**
 * How an image of another aspect ratio is fitted to the network input: `cover` (default, the
 * authors' centre crop) or `fill` (the whole image, each axis scaled on its own; see `inputRegion`).
 */
export type Fit = 'cover' | 'fill';

/** Tensor layout of the network input: tfjs modules take NHWC, the ONNX models NCHW. */
export type InputLayout = 'nhwc' | 'nchw';

/**
 * `pixels` (8-bit RGB or RGBA) -> float32 RGB in [0, 1] at `netWidth` x `netHeight`, NHWC
 * (`[H, W, 3]`) or NCHW (`[3, H, W]`); alpha is ignored. The row loop is `preprocessRows`
 * (preprocess-rows.js), which the wasm engine's workers also run, each on its share of the rows.
 */
export function preprocess(
  pixels: PixelBuffer,
  netWidth: number,
  netHeight: number,
  layout: InputLayout,
  fit: Fit = 'cover',
): Float32Array {
  const out = new Float32Array(netWidth * netHeight * 3);
  const { data, width, height } = pixels;
  preprocessRows(
    data,
    width,
    height,
    pixels.channels ?? 4,
    netWidth,
    netHeight,
    layout,
    out,
    0,
    netHeight,
    fit,
  );
  return out;
}
