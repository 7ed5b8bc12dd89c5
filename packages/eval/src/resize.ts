/**
 * The authors' validation geometry, index by index. Their `val_transform` is
 * `Resize(250/480) -> CenterCrop(228, 304) -> Resize((224, 224))`, each resize being
 * `scipy.misc.imresize(..., 'nearest')`, i.e. PIL's NEAREST resize. Nearest resizes and crops
 * only pick pixels, and they do it per axis, so the whole chain is one source row per output row
 * and one source column per output column: we compute those two index maps once and gather.
 */
import { FastDepthError } from '@fastdepth/graph-dsl';

/** The authors' first resize factor: the 480-pixel NYU height to 250. */
export const NYU_RESIZE_SCALE = 250 / 480;
/** The authors' centre crop, [height, width]. */
export const NYU_CROP: readonly [number, number] = [228, 304];
/** The network's input and output size. */
export const NYU_OUTPUT_SIZE = 224;

/**
 * Source index of every destination index of a PIL NEAREST resize along one axis.
 *
 * Pillow (`ImagingScaleAffine`) starts at `0.5 * in/out` and *adds* `in/out` per step, then
 * truncates. The accumulated rounding differs from the closed form `floor((d + 0.5) * in/out)`
 * where that lands exactly on an integer: for 480 -> 250 at d = 87, 112, 137, 162 (Pillow picks
 * 167, 215, 263, 311; the closed form one more) and for 640 -> 333 at d = 166 (319, not 320).
 * We follow Pillow. Indices are clamped to the input (Pillow never leaves it when shrinking).
 */
export function pillowNearestIndices(inSize: number, outSize: number): Int32Array {
  if (!Number.isInteger(inSize) || !Number.isInteger(outSize) || inSize < 1 || outSize < 1)
    throw new FastDepthError(`nearest resize: bad sizes ${inSize} -> ${outSize}`);
  const step = inSize / outSize;
  const out = new Int32Array(outSize);
  let pos = step * 0.5;
  for (let d = 0; d < outSize; d++) {
    out[d] = Math.min(inSize - 1, Math.max(0, Math.trunc(pos)));
    pos += step;
  }
  return out;
}

/** Python 3 `round()` of a float: halves go to the even neighbour (`round(14.5) = 14`). */
export function pythonRound(x: number): number {
  const floor = Math.floor(x);
  const frac = x - floor;
  if (frac > 0.5) return floor + 1;
  if (frac < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** An output size: one number for a square, or [height, width]. */
export type OutputSize = number | readonly [number, number];

function outputHW(size: OutputSize): [number, number] {
  return typeof size === 'number' ? [size, size] : [size[0], size[1]];
}

/** Options of `valTransformMaps`; the defaults are the authors'. */
export interface ValTransformOptions {
  /** Final size (default 224). */
  readonly outputSize?: OutputSize;
  /** First resize factor (default 250/480, which the authors apply whatever the frame size). */
  readonly scale?: number;
  /** Centre crop [height, width] (default [228, 304]). */
  readonly crop?: readonly [number, number];
  /** Names the image in errors. */
  readonly source?: string;
}

/** Where each output pixel of the validation transform comes from in the input frame. */
export interface IndexMaps {
  /** Source row of each output row. */
  readonly rows: Int32Array;
  /** Source column of each output column. */
  readonly cols: Int32Array;
}

/**
 * The index maps of the authors' `val_transform` for a `height x width` frame. For 480x640:
 * resize to 250x333 (`scipy.misc.imresize` sizes are `int(size * scale)`, truncated), crop at
 * row `round(22/2) = 11`, column `round(29/2) = 14` (half to even), resize 228x304 -> 224x224.
 */
export function valTransformMaps(
  height: number,
  width: number,
  options: ValTransformOptions = {},
): IndexMaps {
  const [outH, outW] = outputHW(options.outputSize ?? NYU_OUTPUT_SIZE);
  const scale = options.scale ?? NYU_RESIZE_SCALE;
  const [cropH, cropW] = options.crop ?? NYU_CROP;
  const where = options.source === undefined ? '' : `${options.source}: `;
  // numpy: `(array(im.size) * scale).astype(int)`, the product in float64, truncated.
  const h1 = Math.trunc(height * scale);
  const w1 = Math.trunc(width * scale);
  if (h1 < cropH || w1 < cropW) {
    throw new FastDepthError(
      `${where}a ${height}x${width} image resized by ${scale.toPrecision(6)} is ${h1}x${w1}, ` +
        `smaller than the ${cropH}x${cropW} centre crop`,
    );
  }
  const top = pythonRound((h1 - cropH) / 2);
  const left = pythonRound((w1 - cropW) / 2);
  const rows1 = pillowNearestIndices(height, h1);
  const cols1 = pillowNearestIndices(width, w1);
  const rows2 = pillowNearestIndices(cropH, outH);
  const cols2 = pillowNearestIndices(cropW, outW);
  return {
    rows: rows2.map((r) => rows1[top + r]!),
    cols: cols2.map((c) => cols1[left + c]!),
  };
}

/**
 * Gathers an HWC image (`channels` per pixel) through index maps, dividing each value by
 * `divisor` (255 turns uint8 RGB into [0, 1]; a division, not a multiplication by 1/255, so the
 * float32 results equal the authors' `float64 / 255` cast to float32).
 */
export function gatherHWC(
  src: ArrayLike<number>,
  srcWidth: number,
  channels: number,
  maps: IndexMaps,
  divisor = 1,
): Float32Array {
  const outH = maps.rows.length;
  const outW = maps.cols.length;
  const out = new Float32Array(outH * outW * channels);
  let o = 0;
  for (let y = 0; y < outH; y++) {
    const rowBase = maps.rows[y]! * srcWidth;
    for (let x = 0; x < outW; x++) {
      const s = (rowBase + maps.cols[x]!) * channels;
      for (let c = 0; c < channels; c++) out[o++] = src[s + c]! / divisor;
    }
  }
  return out;
}
