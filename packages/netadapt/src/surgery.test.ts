import { buildArch } from '@fastdepth/fastdepth-arch';
import {
  checkWeights,
  execute,
  initWeights,
  randomizeBatchNorm,
  randomTensor,
  validateGraph,
  type Model,
  type TensorF32,
} from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { chooseChannels, pruneUnit, shrinkUnit, sliceAxis } from './surgery.js';
import { unitById } from './units.js';

const graph = buildArch('fastdepth', { inputSize: 32 });
const model: Model = { graph, weights: randomizeBatchNorm(graph, initWeights(graph, 3), 4) };
const input = randomTensor([1, 3, 32, 32], 11);

function run(m: Model): Float64Array {
  // The head's pre-ReLU output: the final ReLU may clip a random network to all zeros.
  const out = execute(
    m.graph,
    m.weights,
    { input: { shape: [1, 3, 32, 32], data: Float64Array.from(input.data) } },
    { keepIntermediates: true },
  );
  return out.decode_conv6_bn!.data;
}

/** The original network with the dropped channels cut off at every consumer's input. */
function zeroDropped(m: Model, unitId: string, keep: readonly number[]): Model {
  const unit = unitById(m.graph, unitId);
  const weights = new Map(m.weights);
  const kept = new Set(keep);
  for (const site of unit.sites) {
    if (site.kind !== 'consumer') continue;
    const t = weights.get(`${site.layer}.weight`)!;
    const [o, i] = t.shape as [number, number];
    const k = t.data.length / (o * i);
    const data = t.data.slice();
    for (let a = 0; a < o; a++)
      for (let c = 0; c < unit.channels; c++)
        if (!kept.has(c)) data.fill(0, (a * i + site.offset + c) * k, (a * i + site.offset + c + 1) * k);
    weights.set(`${site.layer}.weight`, { shape: t.shape, data });
  }
  return { graph: m.graph, weights };
}

describe('sliceAxis', () => {
  it('replaces a range by the kept indices and shifts the rest', () => {
    const t: TensorF32 = { shape: [2, 5], data: Float32Array.from([0, 1, 2, 3, 4, 10, 11, 12, 13, 14]) };
    const s = sliceAxis(t, 1, 1, 3, [0, 2]);
    expect(s.shape).toEqual([2, 4]);
    expect([...s.data]).toEqual([0, 1, 3, 4, 10, 11, 13, 14]);
  });
});

describe('pruneUnit', () => {
  const reference = run(model);
  for (const [unitId, n] of [
    ['conv0', 16],
    ['conv2_pw', 64],
    ['decode_conv5_pw', 16],
    ['conv1_pw+decode_conv4_pw', 40],
    ['conv3_pw+decode_conv3_pw', 64],
    ['conv5_pw+decode_conv2_pw', 128],
  ] as const) {
    it(`keeps the output of ${unitId} -> ${n} equal to the network with those channels cut`, () => {
      const keep = chooseChannels(model, unitId, n);
      const pruned = pruneUnit(model, unitId, keep);
      validateGraph(pruned.graph);
      checkWeights(pruned.graph, pruned.weights);
      expect(unitById(pruned.graph, unitId).channels).toBe(n);
      const expected = run(zeroDropped(model, unitId, keep));
      const actual = run(pruned);
      let maxDiff = 0;
      for (let i = 0; i < actual.length; i++)
        maxDiff = Math.max(maxDiff, Math.abs(actual[i]! - expected[i]!));
      expect(maxDiff).toBeLessThan(1e-5);
      // and the cut really changed something, so the comparison is not vacuous
      let changed = 0;
      for (let i = 0; i < actual.length; i++)
        changed = Math.max(changed, Math.abs(actual[i]! - reference[i]!));
      expect(changed).toBeGreaterThan(1e-6);
    });
  }

  it('chooses one shared channel list by the summed filter norms of a tied set', () => {
    const weights = new Map(model.weights);
    // Make channel 5 the strongest on one side only and channel 9 strong on both.
    const boost = (name: string, c: number, f: number): void => {
      const t = weights.get(name)!;
      const k = t.data.length / t.shape[0]!;
      const data = t.data.slice();
      for (let j = c * k; j < (c + 1) * k; j++) data[j] = data[j]! * f;
      weights.set(name, { shape: t.shape, data });
    };
    boost('conv1_pw.weight', 5, 100);
    boost('conv1_pw.weight', 9, 60);
    boost('decode_conv4_pw.weight', 9, 60);
    const keep = chooseChannels({ graph, weights }, 'conv1_pw+decode_conv4_pw', 1);
    expect(keep).toEqual([9]);
  });

  it('updates the widths metadata and rejects bad keep lists', () => {
    const pruned = shrinkUnit(model, 'conv0', 8);
    const widths = JSON.parse(String(pruned.graph.meta?.widths)) as { encoder: number[] };
    expect(widths.encoder[0]).toBe(8);
    expect(() => pruneUnit(model, 'conv0', [3, 1])).toThrow(/strictly increasing/);
    expect(() => pruneUnit(model, 'decode_conv6', [0])).toThrow(/not prunable/);
  });
});
