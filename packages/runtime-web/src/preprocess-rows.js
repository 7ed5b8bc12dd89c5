// @ts-check
/**
 * The row loop of `preprocess` (preprocess.ts has the rules), on its own so that the wasm
 * engine's workers (wasm-worker.js, plain JavaScript) each convert their share of the input rows
 * with the very same arithmetic as the calling thread: the threaded input is bit-identical.
 */

/**
 * The region of a `width` x `height` image that the network's `netWidth` x `netHeight` input sees.
 * @param {number} width
 * @param {number} height
 * @param {number} netWidth
 * @param {number} netHeight
 * @returns {{ x: number, y: number, width: number, height: number }}
 */
export function coverCrop(width, height, netWidth, netHeight) {
  const scale = Math.max(netWidth / width, netHeight / height);
  const cropWidth = netWidth / scale;
  const cropHeight = netHeight / scale;
  return { x: (width - cropWidth) / 2, y: (height - cropHeight) / 2, width: cropWidth, height: cropHeight };
}

/**
 * The region of the image the network sees: `cover` (the authors' rule, `coverCrop`: the centred
 * region of the network's aspect ratio) or `fill` (the whole image, each axis scaled on its own:
 * nothing is cut off, and a network compiled at the frame's aspect, e.g. 224x288 for 4:3, sees it
 * undistorted but for the rounding to a multiple of 32).
 * @param {number} width
 * @param {number} height
 * @param {number} netWidth
 * @param {number} netHeight
 * @param {'cover' | 'fill'} fit
 * @returns {{ x: number, y: number, width: number, height: number }}
 */
export function inputRegion(width, height, netWidth, netHeight, fit) {
  return fit === 'fill' ? { x: 0, y: 0, width, height } : coverCrop(width, height, netWidth, netHeight);
}

/**
 * Bilinear taps for `n` output samples covering `[start, start + length)` of an axis of `size` pixels.
 * @param {number} n
 * @param {number} start
 * @param {number} length
 * @param {number} size
 * @returns {{ lo: Int32Array, hi: Int32Array, frac: Float32Array }}
 */
export function bilinearTaps(n, start, length, size) {
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
 * An element read from an array in range (the loops below never index past the end); typed so
 * for `noUncheckedIndexedAccess`, and inlined by the engines.
 * @param {number | undefined} v
 * @returns {number}
 */
const at = (v) => /** @type {number} */ (v);

/**
 * Network rows [rowStart, rowEnd) of the preprocessed input (RGB / 255, bilinear from `inputRegion`
 * when the image is not the network's size) written into `out` (`[H, W, 3]` or `[3, H, W]`).
 * @param {ArrayLike<number>} data 8-bit RGB or RGBA, row-major
 * @param {number} width
 * @param {number} height
 * @param {number} channels 3 or 4
 * @param {number} netWidth
 * @param {number} netHeight
 * @param {'nhwc' | 'nchw'} layout
 * @param {Float32Array} out
 * @param {number} rowStart
 * @param {number} rowEnd
 * @param {'cover' | 'fill'} [fit] default `cover`
 */
export function preprocessRows(
  data,
  width,
  height,
  channels,
  netWidth,
  netHeight,
  layout,
  out,
  rowStart,
  rowEnd,
  fit = 'cover',
) {
  // Value ch of network pixel p goes to out[p * pixelStride + ch * channelStride]. Plain index
  // arithmetic rather than a per-pixel store callback: that runs several times faster.
  const nhwc = layout === 'nhwc';
  const pixelStride = nhwc ? 3 : 1;
  const channelStride = nhwc ? 1 : netWidth * netHeight;
  const k = 1 / 255;
  if (width === netWidth && height === netHeight) {
    for (let p = rowStart * netWidth; p < rowEnd * netWidth; p++) {
      const s = p * channels;
      const o = p * pixelStride;
      out[o] = at(data[s]) * k;
      out[o + channelStride] = at(data[s + 1]) * k;
      out[o + 2 * channelStride] = at(data[s + 2]) * k;
    }
    return;
  }
  const crop = inputRegion(width, height, netWidth, netHeight, fit);
  const xs = bilinearTaps(netWidth, crop.x, crop.width, width);
  const ys = bilinearTaps(netHeight, crop.y, crop.height, height);
  for (let i = rowStart; i < rowEnd; i++) {
    const row0 = at(ys.lo[i]) * width;
    const row1 = at(ys.hi[i]) * width;
    const fy = at(ys.frac[i]);
    for (let j = 0; j < netWidth; j++) {
      const fx = at(xs.frac[j]);
      const a = (row0 + at(xs.lo[j])) * channels;
      const b = (row0 + at(xs.hi[j])) * channels;
      const c = (row1 + at(xs.lo[j])) * channels;
      const d = (row1 + at(xs.hi[j])) * channels;
      const o = (i * netWidth + j) * pixelStride;
      for (let ch = 0; ch < 3; ch++) {
        const top = at(data[a + ch]) + (at(data[b + ch]) - at(data[a + ch])) * fx;
        const bottom = at(data[c + ch]) + (at(data[d + ch]) - at(data[c + ch])) * fx;
        out[o + ch * channelStride] = (top + (bottom - top) * fy) * k;
      }
    }
  }
}
