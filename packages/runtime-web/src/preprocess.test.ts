import { describe, expect, it } from 'vitest';
import { coverCrop, preprocess } from './preprocess.js';

/** RGB image whose red channel is the column index and green the row index. */
function coordinates(width: number, height: number): Uint8Array {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set([x, y, 200], (y * width + x) * 3);
  return data;
}

describe('coverCrop', () => {
  it('keeps the centred region with the network aspect', () => {
    expect(coverCrop(640, 480, 224, 224)).toEqual({ x: 80, y: 0, width: 480, height: 480 });
    expect(coverCrop(300, 600, 224, 224)).toEqual({ x: 0, y: 150, width: 300, height: 300 });
    expect(coverCrop(100, 50, 200, 100)).toEqual({ x: 0, y: 0, width: 100, height: 50 });
  });
});

describe('preprocess', () => {
  it('divides by 255 and ignores alpha at the network size', () => {
    const rgba = new Uint8Array([255, 0, 51, 7, 0, 255, 102, 9]);
    expect([...preprocess({ data: rgba, width: 2, height: 1 }, 2, 1, 'nhwc')]).toEqual(
      [1, 0, 0.2, 0, 1, 0.4].map((v) => Math.fround(v)),
    );
    expect([...preprocess({ data: rgba, width: 2, height: 1 }, 2, 1, 'nchw')]).toEqual(
      [1, 0, 0, 1, 0.2, 0.4].map((v) => Math.fround(v)),
    );
  });

  it('centre-crops a wide image and samples bilinearly at half-pixel centres', () => {
    // 8x4 -> 2x2: scale 1/2, crop columns 2..5; pixel j reads x = 2.5 + 2j, row i reads y = 0.5 + 2i.
    const out = preprocess({ data: coordinates(8, 4), width: 8, height: 4, channels: 3 }, 2, 2, 'nhwc');
    const red = [0, 1, 2, 3].map((p) => out[p * 3]! * 255);
    const green = [0, 1, 2, 3].map((p) => out[p * 3 + 1]! * 255);
    expect(red.map((v) => Math.round(v * 1000) / 1000)).toEqual([2.5, 4.5, 2.5, 4.5]);
    expect(green.map((v) => Math.round(v * 1000) / 1000)).toEqual([0.5, 0.5, 2.5, 2.5]);
    expect(out[2]! * 255).toBeCloseTo(200, 4);
  });

  it('centre-crops a tall image and clamps at the edges when upscaling', () => {
    // 2x6 -> 4x4: scale 2, crop rows 2..3; column j reads x = (j + 0.5) / 2 - 0.5 clamped to [0, 1], row i y = 1.75 + i / 2.
    const out = preprocess({ data: coordinates(2, 6), width: 2, height: 6, channels: 3 }, 4, 4, 'nchw');
    const red = Array.from(out.subarray(0, 4), (v) => Math.round(v * 255 * 1000) / 1000);
    const green = Array.from({ length: 4 }, (_, i) => Math.round(out[16 + i * 4]! * 255 * 1000) / 1000);
    expect(red).toEqual([0, 0.25, 0.75, 1]);
    expect(green).toEqual([1.75, 2.25, 2.75, 3.25]);
  });
});
