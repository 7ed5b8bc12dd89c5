import { describe, expect, it } from 'vitest';
import { coverCrop } from './preprocess.js';
import { resizeDepth } from './resize.js';

/** A 2x2 depth map the network produced for a `width` x `height` input. */
function result(width: number, height: number): Parameters<typeof resizeDepth>[0] {
  return {
    depth: new Float32Array([1, 2, 3, 4]),
    width: 2,
    height: 2,
    source: { width, height, crop: coverCrop(width, height, 2, 2) },
  };
}

describe('resizeDepth', () => {
  it('maps a square input back pixel for pixel (nearest)', () => {
    expect([...resizeDepth(result(4, 4), 4, 4, { interpolation: 'nearest' })]).toEqual([
      1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4,
    ]);
  });

  it('interpolates bilinearly with half-pixel centres, clamped at the border', () => {
    const out = resizeDepth(result(4, 4), 4, 4);
    expect([...out.subarray(0, 4)]).toEqual([1, 1.25, 1.75, 2]);
    expect(out[15]).toBe(4);
  });

  it('puts the crop back in the middle of a wide input; the sides are clamped or NaN', () => {
    // 8x4 input: the network saw columns 2..5 (crop x 2, width 4).
    const clamp = resizeDepth(result(8, 4), 8, 1, { interpolation: 'nearest' });
    expect([...clamp]).toEqual([3, 3, 3, 3, 4, 4, 4, 4]);
    const nan = resizeDepth(result(8, 4), 8, 2, { interpolation: 'nearest', outside: 'nan' });
    expect([...nan.subarray(0, 8)].map((v) => (Number.isNaN(v) ? 'nan' : v))).toEqual([
      'nan',
      'nan',
      1,
      1,
      2,
      2,
      'nan',
      'nan',
    ]);
  });

  it('rejects a bad target size', () => {
    expect(() => resizeDepth(result(4, 4), 0, 3)).toThrow(
      'resizeDepth: target size 0x3 must be positive integers',
    );
  });
});
