import { FastDepthError } from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import {
  METRIC_NAMES,
  MetricsAverager,
  averageMetrics,
  computeMetrics,
  formatMetrics,
  type DepthMetrics,
} from './metrics.js';
import { readNpyFile } from './npy-file.js';

const SAMPLE = new URL('../../../../shared/data/nyu-sample/', import.meta.url);

/** Rounded to 3 decimals, the precision the published numbers carry. */
const r3 = (x: number) => Number(x.toFixed(3));

describe('computeMetrics', () => {
  it('reproduces the published scores of the official prediction on the NYU sample', async () => {
    const pred = await readNpyFile(new URL('pred.npy', SAMPLE).pathname);
    const depth = await readNpyFile(new URL('depth.npy', SAMPLE).pathname);
    expect(pred.shape).toEqual([1, 1, 224, 224]);
    expect(depth.shape).toEqual([224, 224]);
    const m = computeMetrics(pred.data, depth.data);
    expect(r3(m.rmse)).toBe(0.618);
    expect(r3(m.delta1)).toBe(0.777);
    expect(r3(m.absRel)).toBe(0.14);
    // Consistency of the rest: MAE <= RMSE, MSE = RMSE^2 for one image, deltas nested.
    expect(m.mae).toBeLessThanOrEqual(m.rmse);
    expect(m.mse).toBeCloseTo(m.rmse ** 2, 12);
    expect(m.delta1).toBeLessThanOrEqual(m.delta2);
    expect(m.delta2).toBeLessThanOrEqual(m.delta3);
    expect(Number.isFinite(m.log10) && Number.isFinite(m.irmse)).toBe(true);
  });

  it('is zero error on a perfect prediction', () => {
    const t = Float32Array.from([0.5, 1, 2.25, 9.75]);
    expect(computeMetrics(t, t)).toEqual({
      rmse: 0,
      delta1: 1,
      mae: 0,
      absRel: 0,
      log10: 0,
      mse: 0,
      delta2: 1,
      delta3: 1,
      irmse: 0,
      imae: 0,
    });
  });

  it('matches hand-computed values, metres in and out, inverse depth in 1/km', () => {
    // One pixel predicted 2 m for a true 1 m: error 1 m, ratio 2 (fails 1.25, 1.5625, 1.953125).
    const m = computeMetrics([2], [1]);
    expect(m.rmse).toBe(1);
    expect(m.mae).toBe(1);
    expect(m.mse).toBe(1);
    expect(m.absRel).toBe(1);
    expect(m.log10).toBeCloseTo(Math.log10(2), 12);
    expect([m.delta1, m.delta2, m.delta3]).toEqual([0, 0, 0]);
    // |1/2 m - 1/1 m| = 0.5 /m = 500 /km (to float32 precision: the authors compute 1/mm in float32).
    expect(m.irmse).toBeCloseTo(500, 3);
    expect(m.imae).toBeCloseTo(500, 3);

    // Two pixels, errors 0 and 0.2 m: RMSE = sqrt(0.04 / 2), MAE = 0.1.
    const two = computeMetrics([1, 1.2], [1, 1]);
    expect(two.rmse).toBeCloseTo(Math.sqrt(0.02), 6);
    expect(two.mae).toBeCloseTo(0.1, 6);
    expect(two.delta1).toBe(1);
  });

  it('uses strict < at the delta thresholds', () => {
    // 1.25 m vs 1 m: the ratio is exactly 1.25 in float32 millimetres, so not within delta1.
    const m = computeMetrics([1.25], [1]);
    expect([m.delta1, m.delta2, m.delta3]).toEqual([0, 1, 1]);
    // The ratio is symmetric: 1 m predicted for 1.25 m counts the same.
    expect(computeMetrics([1], [1.25]).delta1).toBe(0);
  });

  it('skips pixels where both are 0, like the authors valid mask', () => {
    expect(computeMetrics([0, 2, 0], [0, 1, 0])).toEqual(computeMetrics([2], [1]));
  });

  it('keeps output = 0 where target > 0, and log10 / iRMSE / iMAE become inf as in the authors code', () => {
    const m = computeMetrics([0, 1], [1, 1]);
    expect(m.log10).toBe(Infinity);
    expect(m.irmse).toBe(Infinity);
    expect(m.imae).toBe(Infinity);
    // AbsRel stays finite (|0 - t| / t = 1 on that pixel), and so do RMSE and MAE.
    expect(m.absRel).toBe(0.5);
    expect(m.rmse).toBeCloseTo(Math.sqrt(0.5), 12);
    expect(m.mae).toBe(0.5);
    // max(0/t, t/0) = inf: the pixel fails every delta.
    expect(m.delta1).toBe(0.5);
    expect(m.delta3).toBe(0.5);
  });

  it('keeps target = 0 where output > 0: AbsRel becomes inf', () => {
    const m = computeMetrics([1, 1], [0, 1]);
    expect(m.absRel).toBe(Infinity);
    expect(m.log10).toBe(Infinity);
    expect(m.rmse).toBeCloseTo(Math.sqrt(0.5), 12);
    expect(m.delta1).toBe(0.5);
  });

  it('gives NaN for every metric when no pixel is valid (torch mean of an empty tensor)', () => {
    const m = computeMetrics([0, 0], [0, 0]);
    for (const name of METRIC_NAMES) expect(m[name], name).toBeNaN();
  });

  it('rejects maps of different lengths', () => {
    expect(() => computeMetrics([1, 2], [1])).toThrow(FastDepthError);
    expect(() => computeMetrics([1, 2], [1])).toThrow(/2 values but target has 1/);
  });
});

describe('averaging', () => {
  it('averages per-image metrics, not pooled pixels (mean of per-image RMSEs)', () => {
    const a = computeMetrics([2, 2], [1, 1]); // RMSE 1
    const b = computeMetrics([1, 1], [1, 1]); // RMSE 0
    const avg = averageMetrics([a, b]);
    expect(avg.rmse).toBe(0.5);
    expect(avg.mse).toBe(0.5);
    expect(avg.delta1).toBe(0.5);
    // Pooling all four pixels would give sqrt(0.5) instead.
    expect(computeMetrics([2, 2, 1, 1], [1, 1, 1, 1]).rmse).not.toBeCloseTo(avg.rmse, 3);
  });

  it('weights like AverageMeter.update(n) and propagates inf', () => {
    const avg = new MetricsAverager();
    avg.add(computeMetrics([2], [1]), 3);
    avg.add(computeMetrics([1], [1]));
    expect(avg.count).toBe(4);
    expect(avg.average().rmse).toBe(0.75);
    avg.add(computeMetrics([0], [1]));
    expect(avg.average().log10).toBe(Infinity);
    avg.reset();
    expect(avg.count).toBe(0);
    expect(() => avg.average()).toThrow(/zero images/);
  });
});

describe('formatMetrics', () => {
  it('prints every metric on one line in METRIC_NAMES order, RMSE and delta1 first', () => {
    expect(METRIC_NAMES.slice(0, 2)).toEqual(['rmse', 'delta1']);
    const m: DepthMetrics = { ...computeMetrics([2], [1]), log10: Infinity, imae: Number.NaN };
    const line = formatMetrics(m);
    expect(line).not.toContain('\n');
    expect(line.startsWith('RMSE 1.000 m, delta1 0.000, MAE 1.000 m, AbsRel 1.000, log10 inf')).toBe(true);
    expect(line).toContain('iRMSE 500.0 1/km');
    expect(line.endsWith('iMAE nan 1/km')).toBe(true);
  });
});
