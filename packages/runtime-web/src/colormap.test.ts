import { describe, expect, it } from 'vitest';
import { colormapTable, depthRange, toColorMap } from './colormap.js';

function near(actual: ArrayLike<number>, expected: readonly number[], tolerance: number): boolean {
  return expected.every((v, i) => Math.abs(actual[i]! - v) <= tolerance);
}

describe('colour maps', () => {
  it('viridis runs from dark purple to yellow (matplotlib endpoints)', () => {
    const table = colormapTable('viridis');
    expect(table.length).toBe(768);
    expect(near(table.subarray(0, 3), [68, 1, 84], 4)).toBe(true);
    expect(near(table.subarray(765), [253, 231, 37], 5)).toBe(true);
    expect(near(table.subarray(128 * 3, 129 * 3), [33, 145, 140], 5)).toBe(true);
  });

  it('turbo runs from dark blue through green to dark red (the polynomial endpoints)', () => {
    const table = colormapTable('turbo');
    expect(near(table.subarray(0, 3), [35, 23, 27], 1)).toBe(true);
    expect(near(table.subarray(765), [144, 13, 0], 1)).toBe(true);
    const [r, g, b] = table.subarray(128 * 3, 129 * 3);
    expect(g! > r! && g! > b!).toBe(true);
  });

  it('maps min..max onto the table, NaN to transparent', () => {
    const rgba = toColorMap(new Float32Array([1, 3, 2, Number.NaN, 10]), {
      colormap: 'viridis',
      min: 1,
      max: 3,
    });
    const table = colormapTable('viridis');
    expect([...rgba.subarray(0, 4)]).toEqual([...table.subarray(0, 3), 255]);
    expect([...rgba.subarray(4, 8)]).toEqual([...table.subarray(765), 255]);
    expect([...rgba.subarray(8, 12)]).toEqual([...table.subarray(128 * 3, 129 * 3), 255]);
    expect([...rgba.subarray(12, 16)]).toEqual([0, 0, 0, 0]);
    expect([...rgba.subarray(16, 20)]).toEqual([...table.subarray(765), 255]);
  });

  it('full range: the finite minimum and maximum', () => {
    expect(depthRange([2, Number.NaN, 0.5, 4, Infinity], { range: 'full' })).toEqual([0.5, 4]);
    expect(depthRange([Number.NaN], { range: 'full' })).toEqual([Number.NaN, Number.NaN]);
    const rgba = toColorMap([0.5, 4, 4], { range: 'full' });
    const table = colormapTable('turbo');
    expect([...rgba.subarray(0, 3)]).toEqual([...table.subarray(0, 3)]);
    expect([...rgba.subarray(4, 7)]).toEqual([...table.subarray(765)]);
    expect([...toColorMap([5, 5]).subarray(0, 4)]).toEqual([...table.subarray(0, 3), 255]);
  });

  it('defaults to the 2nd..98th percentiles, so isolated outliers saturate', () => {
    // 1000 values spread over 1..3 m, plus the network's kind of outliers: one 0 m, one 33 m.
    const values = new Float32Array(1002);
    for (let i = 0; i < 1000; i++) values[i] = 1 + (2 * i) / 999;
    values[1000] = 0;
    values[1001] = 33;
    const [lo, hi] = depthRange(values);
    expect(lo).toBeGreaterThan(1.02);
    expect(lo).toBeLessThan(1.06);
    expect(hi).toBeGreaterThan(2.94);
    expect(hi).toBeLessThan(2.98);
    expect(depthRange(values, { range: 'full' })).toEqual([0, 33]);
    const [p10, p90] = depthRange(values, { percentiles: [10, 90] });
    expect(Math.abs(p10 - 1.2)).toBeLessThan(0.01);
    expect(Math.abs(p90 - 2.8)).toBeLessThan(0.01);
    expect(depthRange(values, { percentiles: [0, 100] })).toEqual([0, 33]);
    // The default colours use the robust range: most pixels spread over the whole table.
    const rgba = toColorMap(values);
    const distinct = new Set<number>();
    for (let i = 0; i < 1000; i++)
      distinct.add(rgba[i * 4]! * 65536 + rgba[i * 4 + 1]! * 256 + rgba[i * 4 + 2]!);
    expect(distinct.size).toBeGreaterThan(150);
    const full = toColorMap(values, { range: 'full' });
    const distinctFull = new Set<number>();
    for (let i = 0; i < 1000; i++)
      distinctFull.add(full[i * 4]! * 65536 + full[i * 4 + 1]! * 256 + full[i * 4 + 2]!);
    expect(distinctFull.size).toBeLessThan(20);
    expect(depthRange([5, 5])).toEqual([5, 5]);
  });

  it('rejects bad range options', () => {
    expect(() => depthRange([1, 2], { percentiles: [50, 10] })).toThrow(/percentiles \[50, 10\]/);
    expect(() => depthRange([1, 2], { range: 'max' as 'full' })).toThrow(/unknown range "max"/);
  });

  it('rejects an unknown colour map by name', () => {
    expect(() => toColorMap([1], { colormap: 'jet' as 'turbo' })).toThrow('unknown colormap "jet"');
  });
});
