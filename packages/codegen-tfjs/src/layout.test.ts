import { describe, expect, it } from 'vitest';
import {
  crdToDcrPermutation,
  depthwiseToHwcm,
  iohwToHwoi,
  oihwToHwio,
  permuteLastAxis,
  transposedDepthwiseToFlippedHwcm,
} from './layout.js';

const iota = (n: number): Float32Array => Float32Array.from({ length: n }, (_, i) => i);

describe('weight layouts', () => {
  it('OIHW -> HWIO puts (o, i, y, x) at [y, x, i, o], per group', () => {
    const shape = [4, 2, 3, 3];
    const t = oihwToHwio(iota(72), shape);
    expect(t.shape).toEqual([3, 3, 2, 4]);
    // (o=3, i=1, y=2, x=0): source index ((3*2+1)*3+2)*3+0 = 69; target ((2*3+0)*2+1)*4+3 = 55.
    expect(t.data[55]).toBe(69);
    const g1 = oihwToHwio(iota(72), shape, 2, 2);
    expect(g1.shape).toEqual([3, 3, 2, 2]);
    expect(g1.data[((2 * 3 + 0) * 2 + 1) * 2 + 1]).toBe(69);
  });

  it('depthwise (C*m, 1, kh, kw) -> [kh, kw, C, m]', () => {
    const t = depthwiseToHwcm(iota(2 * 3 * 4), [6, 1, 2, 2], 2);
    expect(t.shape).toEqual([2, 2, 2, 3]);
    // channel 1, multiplier 2 = PyTorch output 5; tap (1, 0) -> source 5*4 + 2 = 22.
    expect(t.data[((1 * 2 + 0) * 2 + 1) * 3 + 2]).toBe(22);
  });

  it('IOHW -> HWOI and the flipped depthwise transposed filter', () => {
    const t = iohwToHwoi(iota(2 * 3 * 2 * 2), [2, 3, 2, 2]);
    expect(t.shape).toEqual([2, 2, 3, 2]);
    // (i=1, o=2, y=0, x=1): source ((1*3+2)*2+0)*2+1 = 21 -> [0, 1, 2, 1].
    expect(t.data[((0 * 2 + 1) * 3 + 2) * 2 + 1]).toBe(21);
    const f = transposedDepthwiseToFlippedHwcm(iota(2 * 1 * 3 * 3), [2, 1, 3, 3]);
    // Tap (0, 0) of the flipped kernel is tap (2, 2) of the original.
    expect(f.data[((0 * 3 + 0) * 2 + 1) * 1 + 0]).toBe(9 + 8);
  });

  it('CRD -> DCR permutation: DCR slot (i*r + j)*C + c holds CRD channel c*r*r + i*r + j', () => {
    expect(crdToDcrPermutation(8, 2)).toEqual([0, 4, 1, 5, 2, 6, 3, 7]);
    expect(permuteLastAxis({ shape: [2, 4], data: iota(8) }, [3, 2, 1, 0]).data).toEqual(
      Float32Array.of(3, 2, 1, 0, 7, 6, 5, 4),
    );
  });
});
