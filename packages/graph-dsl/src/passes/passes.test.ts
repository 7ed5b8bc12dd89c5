import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../builder.js';
import { execute } from '../executor.js';
import type { Graph } from '../ir.js';
import { maxRelativeError, randomizeBatchNorm, randomTensor } from '../numeric.js';
import { initWeights } from '../weights.js';
import {
  convTransposeLoweringProblem,
  foldBatchNorm,
  fuseHardSwish,
  graphPass,
  lowerConvTranspose,
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

describe('lowerConvTranspose: stride-2 transposed convs as zero insertion + conv', () => {
  type Options = Parameters<GraphBuilder['convTranspose2d']>[2];
  const lowerable: [string, number, Options][] = [
    [
      'deconv3 (k 3, pad 1, output padding 1)',
      5,
      { outChannels: 7, kernel: 3, stride: 2, pads: 1, outputPadding: 1 },
    ],
    ['deconv5, depthwise', 6, { outChannels: 6, kernel: 5, stride: 2, pads: 2, outputPadding: 1, groups: 6 }],
    [
      'k 2, no padding (2x2 blocks), groups 3',
      6,
      { outChannels: 9, kernel: 2, stride: 2, groups: 3, bias: true },
    ],
    ['k 4 pad 1 (even kernel), no output padding', 4, { outChannels: 3, kernel: 4, stride: 2, pads: 1 }],
    [
      'asymmetric pads and a 3x5 kernel',
      3,
      { outChannels: 4, kernel: [3, 5], stride: 2, pads: [0, 2, 2, 1], outputPadding: [1, 0] },
    ],
  ];
  it.each(lowerable)('%s: the same output from unpool + conv', (_, cin, o) => {
    const g = new GraphBuilder('lower');
    const x = g.input('input', [1, cin, 5, 7]);
    g.output('out', g.relu('t_relu', g.convTranspose2d('t', x, o)));
    const graph = g.build();
    const weights = initWeights(graph, 3);
    if (o.bias) weights.set('t.bias', randomTensor(weights.get('t.bias')!.shape, 4, -1, 1));
    const lowered = runPasses({ graph, weights }, [{ name: 'lowerConvTranspose', run: lowerConvTranspose }], {
      validate: true,
    });
    expect(lowered.graph.nodes.map((n) => `${n.op}:${n.name}`)).toEqual([
      'input:input',
      'unpool:t_zero_insert',
      'conv2d:t',
      'relu:t_relu',
      'output:out',
    ]);
    const input = randomTensor([1, cin, 5, 7], 8, -1, 1);
    const want = execute(graph, weights, { input }).out!;
    const got = execute(lowered.graph, lowered.weights, { input }).out!;
    expect(got.shape).toEqual(want.shape);
    expect(Math.max(...want.data)).toBeGreaterThan(0.1);
    expect(maxRelativeError(got.data, want.data)).toBeLessThan(1e-12);
  });

  const stride1: [string, number, Options][] = [
    ['k 3 pad 1 (same size)', 5, { outChannels: 7, kernel: 3, stride: 1, pads: 1 }],
    ['k 3, no padding (grows by 2)', 4, { outChannels: 3, kernel: 3, stride: 1, bias: true }],
    ['depthwise k 5 pad 2', 6, { outChannels: 6, kernel: 5, stride: 1, pads: 2, groups: 6 }],
    ['k 4 pad 1 (even kernel), groups 2', 4, { outChannels: 6, kernel: 4, stride: 1, pads: 1, groups: 2 }],
    [
      'asymmetric pads and a 3x5 kernel',
      3,
      { outChannels: 4, kernel: [3, 5], stride: 1, pads: [0, 2, 2, 1], bias: true },
    ],
  ];
  it.each(stride1)('stride 1, %s: the same output from a conv alone (no zero insertion)', (_, cin, o) => {
    const g = new GraphBuilder('lower1');
    const x = g.input('input', [1, cin, 5, 7]);
    g.output('out', g.relu('t_relu', g.convTranspose2d('t', x, o)));
    const graph = g.build();
    const weights = initWeights(graph, 5);
    if (o.bias) weights.set('t.bias', randomTensor(weights.get('t.bias')!.shape, 6, -1, 1));
    const lowered = runPasses({ graph, weights }, [{ name: 'lowerConvTranspose', run: lowerConvTranspose }], {
      validate: true,
    });
    expect(lowered.graph.nodes.map((n) => `${n.op}:${n.name}`)).toEqual([
      'input:input',
      'conv2d:t',
      'relu:t_relu',
      'output:out',
    ]);
    const input = randomTensor([1, cin, 5, 7], 9, -1, 1);
    const want = execute(graph, weights, { input }).out!;
    const got = execute(lowered.graph, lowered.weights, { input }).out!;
    expect(got.shape).toEqual(want.shape);
    expect(Math.max(...want.data)).toBeGreaterThan(0.1);
    expect(maxRelativeError(got.data, want.data)).toBeLessThan(1e-12);
  });

  it('leaves other strides and over-cropping pads as they are, saying why', () => {
    const g = new GraphBuilder('keep');
    const x = g.input('input', [1, 2, 4, 4]);
    const a = g.convTranspose2d('s3', x, { outChannels: 2, kernel: 3, stride: 3 });
    const b = g.convTranspose2d('s12', a, { outChannels: 2, kernel: 3, stride: [1, 2] });
    const c = g.convTranspose2d('crop1', b, { outChannels: 2, kernel: 3, stride: 1, pads: 3 });
    g.output('out', g.convTranspose2d('crop', c, { outChannels: 2, kernel: 3, stride: 2, pads: 3 }));
    const graph = g.build();
    const lowered = lowerConvTranspose({ graph, weights: initWeights(graph, 1) });
    expect(lowered.graph.nodes).toEqual(graph.nodes);
    const [s3, s12, crop1, crop] = graph.nodes.filter((n) => n.op === 'convTranspose2d');
    expect(convTransposeLoweringProblem(s3!)).toMatch(/stride 3x3/);
    expect(convTransposeLoweringProblem(s12!)).toMatch(/stride 1x2/);
    expect(convTransposeLoweringProblem(crop1!)).toMatch(/padding \[3, 3, 3, 3\]/);
    expect(convTransposeLoweringProblem(crop!)).toMatch(/padding \[3, 3, 3, 3\]/);
  });

  it('a name already taken: the zero insertion gets a fresh one', () => {
    const g = new GraphBuilder('names');
    const x = g.input('input', [1, 2, 4, 4]);
    const taken = g.relu('t_zero_insert', x);
    g.output(
      'out',
      g.add(
        'sum',
        g.convTranspose2d('t', taken, { outChannels: 2, kernel: 2, stride: 2 }),
        g.unpool('u', taken),
      ),
    );
    const graph = g.build();
    const lowered = runPasses(
      { graph, weights: initWeights(graph, 1) },
      [{ name: 'lower', run: lowerConvTranspose }],
      {
        validate: true,
      },
    );
    expect(lowered.graph.nodes.map((n) => n.name)).toContain('t_zero_insert2');
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

describe('fuseHardSwish', () => {
  const build = (order: 'x-first' | 'gate-first', extraReader: boolean) => {
    const g = new GraphBuilder('hs');
    const x = g.conv2d('c', g.input('input', [1, 3, 6, 6]), { outChannels: 4, kernel: 1 });
    const gate = g.hardSigmoid('gate', x);
    const y = order === 'x-first' ? g.mul('m', x, gate) : g.mul('m', gate, x);
    g.output('out', extraReader ? g.add('a', y, gate) : y);
    return g.build();
  };
  it('rewrites mul(x, hardSigmoid(x)) in either order as hardSwish(x), with the same values', () => {
    for (const order of ['x-first', 'gate-first'] as const) {
      const graph = build(order, false);
      const fused = fuseHardSwish(graph);
      expect(fused.nodes.map((n) => `${n.name}:${n.op}`)).toEqual([
        'input:input',
        'c:conv2d',
        'm:hardSwish',
        'out:output',
      ]);
      validateGraph(fused);
      const weights = initWeights(graph, 3);
      const input = { input: randomTensor([1, 3, 6, 6], 5, -4, 4) };
      const a = execute(graph, weights, input).out!;
      const b = execute(fused, weights, input).out!;
      expect(maxRelativeError(b.data, a.data)).toBeLessThan(1e-12);
    }
  });
  it('leaves a hardSigmoid that something else reads', () => {
    const graph = build('x-first', true);
    expect(fuseHardSwish(graph)).toBe(graph);
  });
});
