/**
 * NetAdapt on latency with a deterministic runtime whose whole networks do not cost the sum of
 * their layers (as real runtimes do not): the cuts must still be chosen by what they save in
 * the whole network, so the budget asked is the whole-network speed-up delivered. No wall time
 * anywhere: the runtime is a cost model.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  costModelMs,
  LatencyTable,
  latencyLayers,
  wholeNetworkKey,
  type LatencyRunner,
} from '@fastdepth/latency';
import { initWeights, randomizeBatchNorm, type Model } from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { runNetAdapt } from './netadapt.js';
import { dataFreeRecovery } from './recovery.js';
import { tinyEncoderDecoder } from './testing/tiny-net.js';

const graph = tinyEncoderDecoder('relu');
/** MACs dominate (the tiny network would be all dispatch otherwise). */
const cost = (m: Model): number => costModelMs(m, { msPerMMac: 5, msPerOp: 0.001 });
const model: Model = { graph, weights: randomizeBatchNorm(graph, initWeights(graph, 1), 2) };

/**
 * One-layer networks cost the cost model; a whole network costs 1.6x its cost model plus a
 * fixed 0.1 ms (fusion misses, cache traffic between layers): a sum of entries mispredicts it.
 */
const skewed: LatencyRunner = {
  backend: 'skewed-cost-model',
  machine: 'test',
  measure: (m) => Promise.resolve(latencyLayers(m.graph).length > 1 ? 1.6 * cost(m) + 0.1 : cost(m)),
};
/** What the runtime says the network costs whole. */
const wholeMs = (m: Model): number => 1.6 * cost(m) + 0.1;

describe('latency budget on whole networks', () => {
  it('the budget asked is the whole-network speed-up delivered, and the estimate is recalibrated', async () => {
    const table = new LatencyTable(skewed, { cacheFile: false, calibrate: false });
    const result = await runNetAdapt({
      model,
      metric: 'latency',
      budget: 0.7,
      latencyTable: table,
      recovery: dataFreeRecovery(),
      outDir: mkdtempSync(join(tmpdir(), 'netadapt-latency-')),
      workers: 0,
      initialReduction: 0.1,
    });
    expect(result.done).toBe(true);
    expect(result.latencyWhole).toBe(true);
    const delivered = wholeMs(result.model) / wholeMs(model);
    expect(delivered).toBeLessThanOrEqual(0.7 + 1e-9);
    // Not much beyond it either: each cut is sized on the whole network, not the table's sum.
    expect(delivered).toBeGreaterThan(0.55);
    expect(result.final / result.initial).toBeCloseTo(delivered, 6);
    for (const row of result.rows) {
      // The table's sum alone is far off the whole network (by construction) ...
      expect(row.estimateOverWhole!).toBeLessThan(0.9);
      // ... but the rescaled prediction each cut was chosen by lands within 10 %.
      expect(Math.abs(row.predictedOverWhole! - 1)).toBeLessThan(0.1);
    }
  });

  it('a fraction that would end the run is measured again: one lucky batch does not stop it short', async () => {
    /** Every network's first comparison reads 10 % fast (a lucky batch), its second 10 % slow. */
    class LuckyFirst extends LatencyTable {
      readonly seen = new Map<string, number>();
      override async compareWhole(...args: Parameters<LatencyTable['compareWhole']>) {
        const result = await super.compareWhole(...args);
        const key = wholeNetworkKey(args[0].get('model')!.graph);
        const n = this.seen.get(key) ?? 0;
        this.seen.set(key, n + 1);
        const r = result.relative.get('model')!;
        result.relative.set('model', { ...r, ratio: r.ratio * (n === 0 ? 0.9 : 1.1) });
        return result;
      }
    }
    const table = new LuckyFirst(skewed, { cacheFile: false, calibrate: false });
    const result = await runNetAdapt({
      model,
      metric: 'latency',
      budget: 0.7,
      latencyTable: table,
      recovery: dataFreeRecovery(),
      outDir: mkdtempSync(join(tmpdir(), 'netadapt-latency-')),
      workers: 0,
      initialReduction: 0.1,
    });
    expect(result.done).toBe(true);
    // The last network was compared twice (its first reading met the budget), and the two
    // readings' mean is the truth here: the run went on until the network really met it.
    expect(table.seen.get(wholeNetworkKey(result.model.graph))).toBe(2);
    expect(wholeMs(result.model) / wholeMs(model)).toBeLessThanOrEqual(0.7 + 1e-9);
  });

  it('by the table alone (nothing timed whole), the sum is the resource', async () => {
    const table = new LatencyTable(skewed, { cacheFile: false, calibrate: false });
    const result = await runNetAdapt({
      model,
      metric: 'latency',
      budget: 0.7,
      latencyTable: table,
      latencyWhole: false,
      recovery: dataFreeRecovery(),
      outDir: mkdtempSync(join(tmpdir(), 'netadapt-latency-')),
      workers: 0,
      initialReduction: 0.1,
    });
    expect(result.latencyWhole).toBe(false);
    expect(result.rows.every((r) => r.predictedOverWhole === undefined)).toBe(true);
    expect(result.final).toBeLessThanOrEqual(0.7 * result.initial);
  });
});
