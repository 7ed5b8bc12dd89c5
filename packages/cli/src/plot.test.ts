import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { lineChartSvg, niceTicks, renderPng } from './plot.js';

describe('plot', () => {
  it('picks nice ticks', () => {
    expect(niceTicks(0, 10)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(niceTicks(0.31, 0.74)).toEqual([0.4, 0.5, 0.6, 0.7]);
    expect(niceTicks(0, 1, 2)).toEqual([0, 0.5, 1]);
  });

  it('renders a chart to a PNG of the asked size with the series drawn', async () => {
    const svg = lineChartSvg({
      title: 'accuracy vs MACs',
      xLabel: 'MACs',
      yLabel: 'L1',
      series: [
        {
          label: 'NetAdapt',
          points: [
            { x: 7.4e8, y: 0.1, note: '0' },
            { x: 5e8, y: 0.12 },
            { x: 3.7e8, y: 0.15 },
          ],
        },
      ],
    });
    expect(svg).toContain('<polyline');
    const png = await renderPng(svg);
    const meta = await sharp(png).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 720, 440]);
    const { data } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    // Some pixels carry the series colour (#1f77b4).
    let blue = 0;
    for (let i = 0; i < data.length; i += meta.channels)
      if (data[i] === 0x1f && data[i + 1] === 0x77 && data[i + 2] === 0xb4) blue++;
    expect(blue).toBeGreaterThan(50);
  });
});
