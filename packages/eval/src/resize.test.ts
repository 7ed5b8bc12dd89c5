import { describe, expect, it } from 'vitest';
import { gatherHWC, pillowNearestIndices, pythonRound, valTransformMaps } from './resize.js';

const closedForm = (inSize: number, outSize: number, d: number) => Math.floor(((d + 0.5) * inSize) / outSize);

describe('pillowNearestIndices', () => {
  it('is the identity for equal sizes and picks pixel centres when shrinking', () => {
    expect(Array.from(pillowNearestIndices(5, 5))).toEqual([0, 1, 2, 3, 4]);
    // 6 -> 3: centres at 1, 3, 5.
    expect(Array.from(pillowNearestIndices(6, 3))).toEqual([1, 3, 5]);
    // 228 -> 224 and 304 -> 224 agree with floor((d + 0.5) * in / out) everywhere.
    for (const [i, o] of [
      [228, 224],
      [304, 224],
    ] as const) {
      const idx = pillowNearestIndices(i, o);
      idx.forEach((v, d) => expect(v).toBe(closedForm(i, o, d)));
    }
  });

  it('follows the accumulated rounding of Pillow where the closed form lands on an integer', () => {
    const rows = pillowNearestIndices(480, 250);
    // (87 + 0.5) * 1.92 = 168 exactly, but Pillow's running sum is just below it.
    expect(rows[87]).toBe(167);
    expect(closedForm(480, 250, 87)).toBe(168);
    const differs = [...rows.keys()].filter((d) => rows[d] !== closedForm(480, 250, d));
    expect(differs).toEqual([87, 112, 137, 162]);
    const cols = pillowNearestIndices(640, 333);
    expect([...cols.keys()].filter((d) => cols[d] !== closedForm(640, 333, d))).toEqual([166]);
    expect(cols[166]).toBe(319);
    expect(rows[249]).toBe(479);
    expect(cols[332]).toBe(639);
  });
});

describe('pythonRound', () => {
  it('rounds halves to even, like Python 3', () => {
    expect([11, 14.5, 2.5, 3.5, 0.4, 0.6, 7].map(pythonRound)).toEqual([11, 14, 2, 4, 0, 1, 7]);
  });
});

describe('valTransformMaps', () => {
  it('composes resize 250/480, centre crop at (11, 14) and resize 228x304 -> 224', () => {
    const { rows, cols } = valTransformMaps(480, 640);
    expect(rows.length).toBe(224);
    expect(cols.length).toBe(224);
    // Output row 0: 228->224 picks crop row floor(0.5 * 228/224) = 0, + top 11 = 11,
    // 480->250 picks floor(11.5 * 1.92) = floor(22.08) = 22.
    expect(rows[0]).toBe(22);
    // Column 0: crop column 0, + left 14 (round(14.5) = 14) = 14, floor(14.5 * 640/333) = 27.
    expect(cols[0]).toBe(27);
    // Row 223: floor(223.5 * 228/224) = 227, + 11 = 238, floor(238.5 * 1.92) = 457.
    expect(rows[223]).toBe(457);
    // Column 223: floor(223.5 * 304/224) = 303, + 14 = 317, floor(317.5 * 640/333) = 610.
    expect(cols[223]).toBe(610);
    // Row 100: floor(100.5 * 228/224) = 102, + 11 = 113, floor(113.5 * 1.92) = 217.
    expect(rows[100]).toBe(217);
    // Column 150: floor(150.5 * 304/224) = 204, + 14 = 218, floor(218.5 * 640/333) = 419.
    expect(cols[150]).toBe(419);
    // Row 75: floor(75.5 * 228/224) = 76, + 11 = 87, where Pillow picks 167 (see above).
    expect(rows[75]).toBe(167);
    // Column 112: floor(112.5 * 304/224) = 152, + 14 = 166, where Pillow picks 319.
    expect(cols[112]).toBe(319);
    // Monotone, inside the frame.
    for (let i = 1; i < 224; i++) {
      expect(rows[i]!).toBeGreaterThanOrEqual(rows[i - 1]!);
      expect(cols[i]!).toBeGreaterThanOrEqual(cols[i - 1]!);
    }
  });

  it('takes other output sizes and refuses frames smaller than the crop', () => {
    const m = valTransformMaps(480, 640, { outputSize: [228, 304] });
    // No second resize: the crop itself, 228 rows from resized row 11.
    expect(m.rows.length).toBe(228);
    expect(m.cols.length).toBe(304);
    expect(m.rows[0]).toBe(Math.floor(11.5 * 1.92));
    expect(() => valTransformMaps(240, 320, { source: 'small.h5' })).toThrow(
      /small.h5: a 240x320 image resized by 0.520833 is 125x166, smaller than the 228x304 centre crop/,
    );
  });
});

describe('gatherHWC', () => {
  it('picks whole pixels through the maps and divides', () => {
    // 2x3 image, 2 channels: value = 10 * (y * 3 + x) + c.
    const src = Array.from({ length: 12 }, (_, i) => 10 * Math.floor(i / 2) + (i % 2));
    const out = gatherHWC(src, 3, 2, { rows: Int32Array.from([1]), cols: Int32Array.from([2, 0]) }, 2);
    // (1, 2) -> 50, 51; (1, 0) -> 30, 31; halved.
    expect(Array.from(out)).toEqual([25, 25.5, 15, 15.5]);
  });
});
