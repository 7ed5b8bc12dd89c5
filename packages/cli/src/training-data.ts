/**
 * Fine-tuning data for `prune`: labelled NYU frames (supervised L1) or unlabelled photos
 * (distillation), brought to the fine-tuning resolution. Photos follow runtime-web's rule
 * (cover the square, centre-crop, bilinear); NYU frames are first prepared exactly as the
 * authors' validation transform does, then subsampled (nearest) to the resolution.
 */
import { readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import sharp, { type OutputInfo } from 'sharp';
import type { PreparedSample } from '@fastdepth/eval';
import type { TensorF32 } from '@fastdepth/graph-dsl';
import type { DepthSample } from '@fastdepth/netadapt';
import { preprocess } from '@fastdepth/runtime-web';
import { readInput } from './arch-source.js';
import { UserError } from './errors.js';

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.tif', '.tiff']);

/** Every image directly in `dir` (sorted), as CHW [3, size, size] in [0, 1] (netadapt's sample layout). */
export async function loadImageFolder(dir: string, size: number): Promise<TensorF32[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => IMAGE_EXTENSIONS.has(extname(n).toLowerCase())).sort();
  } catch {
    throw new UserError(`--images "${dir}": cannot read this folder`);
  }
  if (names.length === 0)
    throw new UserError(`--images "${dir}": no .png/.jpg/.webp/.tif images in this folder`);
  const images: TensorF32[] = [];
  for (const name of names) {
    const path = join(dir, name);
    const bytes = await readInput(path, 'image');
    let raw: { data: Buffer; info: OutputInfo };
    try {
      raw = await sharp(bytes).removeAlpha().ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    } catch (e) {
      throw new UserError(`cannot decode image "${path}": ${(e as Error).message}`);
    }
    const data = preprocess(
      { data: raw.data, width: raw.info.width, height: raw.info.height },
      size,
      size,
      'nchw',
    );
    images.push({ shape: [3, size, size], data });
  }
  return images;
}

/** A prepared (224x224) NYU frame subsampled to `size` x `size`: rgb CHW [3, s, s], depth [1, s, s]. */
export function sampleAt(frame: PreparedSample, size: number): DepthSample {
  const { width, height } = frame;
  const rgb = new Float32Array(3 * size * size);
  const depth = new Float32Array(size * size);
  for (let y = 0; y < size; y++) {
    const sy = Math.min(height - 1, Math.floor(((y + 0.5) * height) / size));
    for (let x = 0; x < size; x++) {
      const sx = Math.min(width - 1, Math.floor(((x + 0.5) * width) / size));
      const src = sy * width + sx;
      const dst = y * size + x;
      for (let c = 0; c < 3; c++) rgb[c * size * size + dst] = frame.rgb[src * 3 + c]!;
      depth[dst] = frame.depth[src]!;
    }
  }
  return { rgb: { shape: [3, size, size], data: rgb }, depth: { shape: [1, size, size], data: depth } };
}
