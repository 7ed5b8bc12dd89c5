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

  it('defaults to the finite range of the data and turbo', () => {
    expect(depthRange([2, Number.NaN, 0.5, 4])).toEqual([0.5, 4]);
    const rgba = toColorMap([0.5, 4, 4]);
    const table = colormapTable('turbo');
    expect([...rgba.subarray(0, 3)]).toEqual([...table.subarray(0, 3)]);
    expect([...rgba.subarray(4, 7)]).toEqual([...table.subarray(765)]);
    expect([...toColorMap([5, 5]).subarray(0, 4)]).toEqual([...table.subarray(0, 3), 255]);
  });

  it('rejects an unknown colour map by name', () => {
    expect(() => toColorMap([1], { colormap: 'jet' as 'turbo' })).toThrow('unknown colormap "jet"');
  });
});
