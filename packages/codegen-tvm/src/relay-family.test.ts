import { foldBatchNorm, initWeights, type Model } from '@fastdepth/graph-dsl';
import { ARCH_NAMES, buildArch } from '@fastdepth/fastdepth-arch';
import { describe, expect, it } from 'vitest';
import { emitRelay } from './emit-relay.js';
import { parseRelay, relayToGraph, typeMismatches } from './testing/relay-parser.js';

describe('every family architecture reads back from its Relay text unchanged', () => {
  it('covers the whole family', () => {
    expect(ARCH_NAMES.length).toBeGreaterThan(100);
    expect(ARCH_NAMES).toContain('fastdepth-pruned');
  });

  // Unfolded emission reads only the graph, so no weights are needed for the sweep.
  for (const name of ARCH_NAMES) {
    it(name, () => {
      const graph = buildArch(name);
      const text = emitRelay({ graph, weights: new Map() });
      const m = parseRelay(text);
      const lifted = relayToGraph(m);
      expect(lifted.graph.nodes).toEqual(graph.nodes);
      expect(lifted.graph.name).toBe(graph.name);
      expect(typeMismatches(m, lifted)).toEqual([]);
    });
  }
});

describe('folded BN on real networks', () => {
  for (const name of [
    'fastdepth',
    'fastdepth-pruned',
    'mobilenet-shuffle3dw-skipconcat',
    'mobilenet-deconv3dw-skipadd',
  ]) {
    it(`${name}: no batch_norm left, reads back as foldBatchNorm's graph shape-consistently`, () => {
      expect(ARCH_NAMES).toContain(name);
      const graph = buildArch(name, { inputSize: 64 });
      const model: Model = { graph, weights: initWeights(graph, 3) };
      const text = emitRelay(model, { foldBatchNorm: true });
      expect(text).not.toContain('nn.batch_norm');
      const m = parseRelay(text);
      const lifted = relayToGraph(m);
      expect(lifted.graph.nodes).toEqual(foldBatchNorm(model).graph.nodes);
      expect(typeMismatches(m, lifted)).toEqual([]);
    });
  }
});
