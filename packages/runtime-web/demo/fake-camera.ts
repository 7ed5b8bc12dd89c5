/**
 * A fake camera for headless Chromium: a `.y4m` clip (I420, 640x480) made from the shared photos
 * with sharp, which Chromium plays in a loop as the webcam
 * (`--use-fake-device-for-media-stream --use-file-for-fake-video-capture=FILE.y4m`).
 */
import { openSync, readdirSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { SHARED_DATA_DIR } from '../src/testing/models.js';

export const PHOTOS_DIR = join(SHARED_DATA_DIR, 'photos');

/** RGB (3 bytes a pixel) -> I420 planes (BT.601, full range as Chromium's y4m reader takes C420jpeg). */
function toI420(rgb: Uint8Array, width: number, height: number): Uint8Array {
  const plane = width * height;
  const out = new Uint8Array(plane + 2 * ((width / 2) * (height / 2)));
  for (let p = 0; p < plane; p++) {
    const [r, g, b] = [rgb[p * 3]!, rgb[p * 3 + 1]!, rgb[p * 3 + 2]!];
    out[p] = Math.round(0.299 * r + 0.587 * g + 0.114 * b);
  }
  const cw = width / 2;
  for (let y = 0; y < height / 2; y++)
    for (let x = 0; x < cw; x++) {
      let [r, g, b] = [0, 0, 0];
      for (const [dx, dy] of [
        [0, 0],
        [1, 0],
        [0, 1],
        [1, 1],
      ] as const) {
        const p = (2 * y + dy) * width + 2 * x + dx;
        r += rgb[p * 3]!;
        g += rgb[p * 3 + 1]!;
        b += rgb[p * 3 + 2]!;
      }
      [r, g, b] = [r / 4, g / 4, b / 4];
      out[plane + y * cw + x] = Math.min(
        255,
        Math.max(0, Math.round(128 - 0.168736 * r - 0.331264 * g + 0.5 * b)),
      );
      out[plane + cw * (height / 2) + y * cw + x] = Math.min(
        255,
        Math.max(0, Math.round(128 + 0.5 * r - 0.418688 * g - 0.081312 * b)),
      );
    }
  return out;
}

/**
 * Writes `path`: `seconds` of `fps` frames/s (30 by default, a webcam's rate; the stream bench
 * takes 60 to show what an engine delivers beyond it), each photo held for half a second and
 * slowly panned (so consecutive frames differ, as a camera's do). Returns the number of frames.
 */
export async function writeFakeCamera(
  path: string,
  seconds = 4,
  width = 640,
  height = 480,
  fps = 30,
): Promise<number> {
  const photos = readdirSync(PHOTOS_DIR)
    .filter((f) => /\.(jpe?g|png)$/i.test(f))
    .sort();
  if (photos.length === 0) throw new Error(`no photos in ${PHOTOS_DIR}`);
  if (!Number.isInteger(fps) || fps < 2 || fps % 2 !== 0)
    throw new Error(
      `fake camera: ${fps} frames/s, expected an even whole number (each photo is held half a second)`,
    );
  const frames = seconds * fps;
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, `YUV4MPEG2 W${width} H${height} F${fps}:1 Ip A1:1 C420jpeg\n`);
    const perPhoto = fps / 2;
    for (let f = 0; f < frames; f++) {
      const photo = photos[Math.floor(f / perPhoto) % photos.length]!;
      // A 5 % larger picture, panned by a pixel or two a frame.
      const big = [Math.round(width * 1.05), Math.round(height * 1.05)] as const;
      const shift = f % perPhoto;
      const rgb = await sharp(join(PHOTOS_DIR, photo))
        .resize(big[0], big[1], { fit: 'cover' })
        .extract({ left: Math.min(big[0] - width, 2 * shift), top: 0, width, height })
        .removeAlpha()
        .raw()
        .toBuffer();
      writeSync(fd, 'FRAME\n');
      writeSync(fd, toI420(new Uint8Array(rgb), width, height));
    }
  } finally {
    closeSync(fd);
  }
  return frames;
}
