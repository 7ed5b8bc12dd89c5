/**
 * The measurement protocol against a synthetic runtime that lies the way a busy machine does:
 * its speed drifts (the whole machine slows down and recovers) and single runs spike. The
 * protocol must still rank and sum entries like their true costs, and refuse (unless told)
 * when the noise is not shared with the probe and so cannot be divided out.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GraphBuilder, type Model } from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { costModelMs, costModelRunner } from './cost-model.js';
import {
  measureInRounds,
  NoisyMachineError,
  pairedRatios,
  probeGraph,
  quantile,
  spreadOf,
} from './protocol.js';
import {
  LatencyTable,
  latencyLayers,
  PROVENANCE_KEY,
  type LatencyRunner,
  type TableProvenance,
} from './table.js';

/** A deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * True cost = the cost model; each call is slowed by the machine's drift at that moment
 * (`drift(call)`, shared by every model, the probe included), by a spike with probability
 * `spikes` (x2-x5) and by noise of its own (`own`: uniform in [1, 1 + own]).
 */
function busyRunner(o: { drift?: (call: number) => number; spikes?: number; own?: number; seed?: number }): {
  runner: LatencyRunner;
  calls: () => number;
} {
  const random = rng(o.seed ?? 1);
  let call = 0;
  return {
    calls: () => call,
    runner: {
      backend: 'busy',
      machine: 'synthetic',
      measure(model) {
        const c = call++;
        let ms = costModelMs(model) * (o.drift?.(c) ?? 1);
        if (random() < (o.spikes ?? 0)) ms *= 2 + 3 * random();
        ms *= 1 + (o.own ?? 0) * random();
        return Promise.resolve(ms);
      },
    },
  };
}

function conv(name: string, cin: number, cout: number, size = 28): Model {
  const g = new GraphBuilder(name);
  g.output('out', g.conv2d('c', g.input('input', [1, cin, size, size]), { outChannels: cout, kernel: 1 }));
  const graph = g.build();
  return { graph, weights: new Map() };
}

const models = new Map<string, Model>([
  ['a', conv('a', 16, 16)],
  ['b', conv('b', 16, 24)],
  ['c', conv('c', 24, 32)],
  ['d', conv('d', 32, 48)],
  ['e', conv('e', 48, 64)],
  ['f', conv('f', 64, 96)],
]);
const truth = new Map([...models].map(([k, m]) => [k, costModelMs(m)]));
const probeTruth = costModelMs({ graph: probeGraph(), weights: new Map() });
/** The machine slows down to 3x and back over ~60 calls, twice. */
const swell = (c: number): number => 2 - Math.cos((2 * Math.PI * c) / 60);

describe('measureInRounds', () => {
  it('quantile and spread', () => {
    expect(quantile([4, 1, 3, 2], 0)).toBe(1);
    expect(quantile([4, 1, 3, 2], 0.5)).toBe(2.5);
    expect(spreadOf([10, 10, 10])).toBe(0);
    expect(spreadOf([1, 2, 3, 4, 5])).toBeCloseTo(2 / 3, 9);
  });

  it('ranks and sums like the true costs under drift and spikes', async () => {
    const { runner } = busyRunner({ drift: swell, spikes: 0.15, seed: 3 });
    const notes: string[] = [];
    const { entries, noise } = await measureInRounds(runner, models, {
      referenceMs: probeTruth,
      onNote: (t) => notes.push(t),
    });
    for (const [k, t] of truth) expect(Math.abs(entries.get(k)!.ms / t - 1), k).toBeLessThan(0.08);
    const order = (m: Map<string, number>): string[] => [...m].sort((x, y) => x[1] - y[1]).map(([k]) => k);
    expect(order(new Map([...entries].map(([k, e]) => [k, e.ms])))).toEqual(order(truth));
    const sum = [...entries.values()].reduce((a, e) => a + e.ms, 0);
    const trueSum = [...truth.values()].reduce((a, b) => a + b, 0);
    expect(Math.abs(sum / trueSum - 1)).toBeLessThan(0.04);
    // The machine was busy, and the user is told how busy.
    expect(noise.probeSpread).toBeGreaterThan(0.1);
    expect(noise.noisy).toBe(false);
    expect(notes.join('\n')).toMatch(/probe spread \d+ %.*the machine is busy/);
  });

  it('the same runtime timed once per model, in order, misranks (what the protocol is for)', async () => {
    const { runner } = busyRunner({ drift: (c) => 1 + c / 2, seed: 3 });
    const naive = new Map<string, number>();
    for (const [k, m] of models) naive.set(k, await runner.measure(m));
    const rel = [...truth].map(([k, t]) => naive.get(k)! / t);
    // A machine slowing down makes the later models look several times dearer than they are.
    expect(Math.max(...rel) / Math.min(...rel)).toBeGreaterThan(2);
  });

  it('re-measures spread entries with extra rounds', async () => {
    const { runner, calls } = busyRunner({ spikes: 0.35, seed: 11 });
    const { entries } = await measureInRounds(runner, models, { referenceMs: probeTruth, maxSpread: 0.9 });
    const rounds = [...entries.values()].map((e) => e.rounds);
    expect(Math.max(...rounds)).toBeGreaterThan(5);
    // 5 rounds of 6 models and 6 probe pairs at the least
    expect(calls()).toBeGreaterThan(5 * 6 + 6 * 2);
    for (const [k, t] of truth) expect(entries.get(k)!.ms / t, k).toBeLessThan(1.25);
  });

  it('refuses when the noise is not shared with the probe, unless allowed', async () => {
    const noisy = (): LatencyRunner => busyRunner({ own: 2.5, seed: 5 }).runner;
    const error = await measureInRounds(noisy(), models).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoisyMachineError);
    expect((error as Error).message).toMatch(
      /probe spread \d+ %, entries spread \d+ % after dividing out the probe .*too busy.*--allow-noisy/,
    );
    expect((error as NoisyMachineError).noise.entrySpread).toBeGreaterThan(0.25);
    const notes: string[] = [];
    const kept = await measureInRounds(noisy(), models, { allowNoisy: true, onNote: (t) => notes.push(t) });
    expect(kept.noise.noisy).toBe(true);
    expect(notes.join('\n')).toMatch(/^warning: .*kept \(--allow-noisy\)/);
  });
});

describe('pairedRatios (whole networks against a reference)', () => {
  it('pairs timings by round, skipping rounds the reference was not timed in', () => {
    const samples = new Map([
      [
        'start',
        [
          { round: 0, ms: 10 },
          { round: 1, ms: 20 },
          { round: 2, ms: 10 },
        ],
      ],
      [
        'cut',
        [
          { round: 0, ms: 7 },
          { round: 1, ms: 14 },
          { round: 2, ms: 30 },
          { round: 3, ms: 1 },
        ],
      ],
    ]);
    const r = pairedRatios(samples, 'start');
    // 0.7, 0.7 and a spiked 3.0; round 3 has no reference timing
    expect(r.get('cut')).toEqual({ ratio: 0.7, spread: spreadOf([0.7, 0.7, 3]), rounds: 3 });
    expect(r.get('start')!.ratio).toBe(1);
    expect(() => pairedRatios(samples, 'other')).toThrow(/no samples of the reference "other"/);
  });

  it("gives a pruned network's fraction of its start under drift, spikes and noise of its own", async () => {
    const start = conv('start', 64, 96, 56);
    const cut = conv('cut', 64, 64, 56);
    const trueRatio = costModelMs(cut) / costModelMs(start);
    const errors: number[] = [];
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const { runner } = busyRunner({ drift: swell, spikes: 0.15, own: 0.05, seed });
      const { samples } = await measureInRounds(
        runner,
        new Map([
          ['start', start],
          ['cut', cut],
        ]),
        { rounds: 15, allowNoisy: true },
      );
      const r = pairedRatios(samples, 'start').get('cut')!;
      expect(r.rounds).toBeGreaterThanOrEqual(15);
      errors.push(Math.abs(r.ratio / trueRatio - 1));
    }
    // The machine's speed moves by up to 10 % between two calls here (3x and back over 60
    // calls), and every call has 5 % noise of its own: within 5 % on every seed.
    expect(Math.max(...errors)).toBeLessThan(0.05);
  });
});

describe('LatencyTable with the protocol', () => {
  const graph = (() => {
    const g = new GraphBuilder('two');
    const x = g.input('input', [1, 16, 16, 16]);
    const a = g.relu6('a_act', g.batchNorm('a_bn', g.conv2d('a', x, { outChannels: 32, kernel: 1 })));
    g.output('out', g.conv2d('b', a, { outChannels: 16, kernel: 3, pads: 1 }));
    return g.build();
  })();

  it('records how the table was measured, and warns when it reuses a noisy one', async () => {
    const cacheFile = join(mkdtempSync(join(tmpdir(), 'latency-protocol-')), 'latency.json');
    const { runner, calls: busyCalls } = busyRunner({ own: 2.5, seed: 9 });
    const noisy = new LatencyTable(runner, {
      cacheFile,
      calibrate: false,
      protocol: { allowNoisy: true },
    });
    await noisy.estimate(graph);
    // Its own noisy entries are not measured again by the table that measured them.
    const before = busyCalls();
    await noisy.estimate(graph);
    expect(busyCalls()).toBe(before);
    const file = JSON.parse(readFileSync(cacheFile, 'utf8')) as Record<string, unknown>;
    const provenance = (file[PROVENANCE_KEY] as Record<string, TableProvenance>)['synthetic|busy']!;
    expect(provenance.protocol).toBe('rounds+probe/1');
    expect(provenance.rounds).toBe(5);
    expect(provenance.probe.graph).toBe('latency_probe');
    expect(provenance.probe.referenceMs).toBeGreaterThan(0);
    expect(provenance.sessions.at(-1)!.noisy).toBe(true);
    expect(provenance.sessions.at(-1)!.date).toMatch(/^\d{4}-\d\d-\d\dT/);
    const entryKeys = Object.keys(file).filter((k) => k.startsWith('v3|'));
    expect(entryKeys.length).toBeGreaterThan(0);
    for (const k of entryKeys.filter((k) => k.includes('|conv2d:')))
      expect(provenance.spreads[k]).toBeGreaterThanOrEqual(0);

    // Read again on a quiet runtime: a warning, and the entries spread past the limit are measured again.
    const quiet = busyRunner({ seed: 1 });
    const notes: string[] = [];
    const again = new LatencyTable(quiet.runner, {
      cacheFile,
      calibrate: false,
      onNote: (t) => notes.push(t),
    });
    expect(notes.join('\n')).toMatch(/measured on a busy machine .*--fresh-latency/);
    await again.estimate(graph);
    expect(quiet.calls()).toBeGreaterThan(0);
    // Once measured again in this session, an entry is kept, noisy or not: no endless re-measuring.
    const calls = quiet.calls();
    await again.estimate(graph);
    expect(quiet.calls()).toBe(calls);
  });

  it('prefetches every point of several graphs in one batch (one probe sequence)', async () => {
    let probes = 0;
    const runner = costModelRunner();
    const counting: LatencyRunner = {
      ...runner,
      measure: (m) => {
        if (m.graph.name === 'latency_probe') probes++;
        return runner.measure(m);
      },
    };
    const table = new LatencyTable(counting, { cacheFile: false, calibrate: false });
    await table.prefetch([graph]);
    // twice before the first round and after each of 5, whatever the number of points
    expect(probes).toBe(12);
    const layers = latencyLayers(graph);
    expect(layers.every((l) => table.has(l, l.inChannels, l.outChannels))).toBe(true);
    // The cost model is deterministic: the table holds its value (minus the identity's cost).
    const est = await table.layerLatency(layers[0]!);
    expect(est).toBeGreaterThan(0);
  });
});
