import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../builder.js';
import { execute } from '../executor.js';
import type { Graph } from '../ir.js';
import { maxRelativeError, randomizeBatchNorm, randomTensor } from '../numeric.js';
import { initWeights } from '../weights.js';
import {
  foldBatchNorm,
  graphPass,
  removeDeadNodes,
  removeDeadNodesModel,
  runPasses,
  topologicalSort,
  validateGraph,
} from './index.js';

function convBnGraph(): Graph {
  const g = new GraphBuilder('fold');
  const x = g.input('input', [1, 4, 8, 8]);
  const a = g.relu(
    'a_relu',
    g.batchNorm('a_bn', g.conv2d('a', x, { outChannels: 6, kernel: 3, pads: 1, groups: 2, bias: true })),
  );
  const t = g.batchNorm(
    't_bn',
    g.convTranspose2d('t', a, { outChannels: 4, kernel: 3, stride: 2, pads: 1, outputPadding: 1, groups: 2 }),
  );
  // `shared` feeds BN and the add: folding it would change the add's other input.
  const shared = g.conv2d('shared', x, { outChannels: 4, kernel: 1 });
  const s = g.add('s', g.batchNorm('shared_bn', shared), shared);
  g.output('out', g.concat('cat', g.upsample('up', s, 'nearest'), t));
  return g.build();
}

describe('foldBatchNorm', () => {
  it('keeps the output (conv with groups and bias, grouped conv-transpose) and removes folded BNs', () => {
    const graph = convBnGraph();
    const weights = randomizeBatchNorm(graph, initWeights(graph, 5), 9);
    const input = randomTensor([1, 4, 8, 8], 3);
    const before = execute(graph, weights, { input }).out!;
    const folded = runPasses({ graph, weights }, [{ name: 'foldBatchNorm', run: foldBatchNorm }], {
      validate: true,
    });
    const after = execute(folded.graph, folded.weights, { input }).out!;
    expect(maxRelativeError(after.data, before.data)).toBeLessThan(1e-6);
    const ops = folded.graph.nodes.map((n) => n.name);
    expect(ops).not.toContain('a_bn');
    expect(ops).not.toContain('t_bn');
    expect(ops).toContain('shared_bn');
    expect(folded.weights.has('t.bias')).toBe(true);
    expect(folded.weights.has('a_bn.running_mean')).toBe(false);
  });
});

describe('graph passes', () => {
  it('removeDeadNodes drops unused layers and their weights', () => {
    const g = new GraphBuilder('dead');
    const x = g.input('input', [1, 1, 4, 4]);
    g.conv2d('unused', x, { outChannels: 2, kernel: 1 });
    g.output('out', g.relu('r', x));
    const graph = g.build();
    expect(removeDeadNodes(graph).nodes.map((n) => n.name)).toEqual(['input', 'r', 'out']);
    const model = removeDeadNodesModel({ graph, weights: initWeights(graph) });
    expect(model.weights.size).toBe(0);
  });

  it('topologicalSort restores order and detects cycles', () => {
    const graph = convBnGraph();
    const shuffled: Graph = { ...graph, nodes: [...graph.nodes].reverse() };
    const sorted = topologicalSort(shuffled);
    expect(() => validateGraph(sorted)).not.toThrow();
    expect(sorted.nodes.map((n) => n.name).sort()).toEqual(graph.nodes.map((n) => n.name).sort());
    // An already-ordered graph keeps its order.
    expect(topologicalSort(graph).nodes.map((n) => n.name)).toEqual(graph.nodes.map((n) => n.name));
    const cyclic: Graph = {
      ...graph,
      nodes: graph.nodes.map((n) => (n.name === 'a' ? { ...n, inputs: ['a_relu'] } : n)),
    };
    expect(() => topologicalSort(cyclic)).toThrow(/cycle/);
  });

  it('runPasses names the pass that broke the graph', () => {
    const graph = convBnGraph();
    const breaker = graphPass('breaker', (g) => ({ ...g, nodes: g.nodes.filter((n) => n.name !== 'a') }));
    expect(() => runPasses({ graph, weights: initWeights(graph) }, [breaker], { validate: true })).toThrow(
      /after pass "breaker"/,
    );
  });
});
