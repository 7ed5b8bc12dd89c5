/**
 * `@fastdepth/runtime-web/node`: write a depth estimate as a coloured PNG or a `.npy` file from
 * Node, with no image library (the PNG is encoded here with `node:zlib`). Files are written
 * atomically: to a temporary name beside the target, then renamed.
 */
import { randomBytes } from 'node:crypto';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
// zlib.crc32: Node 20.15+ (this package needs 20.19).
import { crc32, deflateSync } from 'node:zlib';
import { depthRange, toColorMap, type ColorMapOptions } from './colormap.js';
import { DepthEstimatorError } from './errors.js';
import { encodeNpy } from './npy.js';
import type { DepthResult } from './types.js';

export { encodeNpy };

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** 8-bit RGBA pixels (row-major) -> the bytes of a PNG file (colour type 6, no filtering). */
export function encodePng(rgba: Uint8Array | Uint8ClampedArray, width: number, height: number): Uint8Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0)
    throw new DepthEstimatorError(
      `encodePng: size ${width}x${height}, expected positive integers`,
      'BAD_INPUT',
    );
  if (rgba.length !== width * height * 4)
    throw new DepthEstimatorError(
      `encodePng: ${rgba.length} bytes, expected ${width} x ${height} x 4 (RGBA) = ${width * height * 4}`,
      'BAD_INPUT',
    );
  const rows = new Uint8Array(height * (width * 4 + 1));
  for (let y = 0; y < height; y++) {
    rows[y * (width * 4 + 1)] = 0; // filter: none
    rows.set(rgba.subarray(y * width * 4, (y + 1) * width * 4), y * (width * 4 + 1) + 1);
  }
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header.set([8, 6, 0, 0, 0], 8); // 8 bits, RGBA, deflate, adaptive filtering, no interlace
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function writeAtomic(path: string, bytes: Uint8Array): void {
  const temporary = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(temporary, bytes);
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw new DepthEstimatorError(`cannot write ${path}: ${(error as Error).message}`, 'WRITE_FAILED');
  }
}

type DepthMap = Pick<DepthResult, 'depth' | 'width' | 'height'>;

/**
 * Writes `result`'s depth as a coloured PNG at the network's resolution (turbo, the 2-98 %
 * percentile range by default: see `toColorMap`). Returns the colour scale used, in metres.
 */
export function writeDepthPng(
  path: string,
  result: DepthMap,
  options: ColorMapOptions = {},
): { min: number; max: number } {
  let { min, max } = options;
  if (min === undefined || max === undefined) {
    const [lo, hi] = depthRange(result.depth, options);
    min ??= lo;
    max ??= hi;
  }
  const rgba = toColorMap(result.depth, { ...options, min, max });
  writeAtomic(path, encodePng(rgba, result.width, result.height));
  return { min, max };
}

/** Writes `result`'s depth in metres as a `height x width` float32 `.npy` file. */
export function writeDepthNpy(path: string, result: DepthMap): void {
  writeAtomic(path, encodeNpy(result.depth, [result.height, result.width]));
}
