import { describe, expect, it } from 'vitest';
import { GraphBuilder } from './builder.js';
import { GraphError } from './errors.js';
import { execute } from './executor.js';
import { initWeights } from './weights.js';

describe('GraphBuilder', () => {
  it('infers NCHW shapes as layers are declared', () => {
    const g = new GraphBuilder('tiny');
    const x = g.input('input', [1, 3, 32, 32]);
    const c = g.conv2d('conv0', x, { outChannels: 8, kernel: 3, stride: 2, pads: 1 });
    expect(c.shape).toEqual([1, 8, 16, 16]);
    const dw = g.conv2d('dw', c, { outChannels: 8, kernel: 5, pads: 2, groups: 8 });
    expect(dw.shape).toEqual([1, 8, 16, 16]);
    const up = g.upsample('up', dw, 'nearest');
    expect(up.shape).toEqual([1, 8, 32, 32]);
    const ps = g.pixelShuffle('ps', up);
    expect(ps.shape).toEqual([1, 2, 64, 64]);
    const t = g.convTranspose2d('deconv', c, {
      outChannels: 4,
      kernel: 3,
      stride: 2,
      pads: 1,
      outputPadding: 1,
    });
    expect(t.shape).toEqual([1, 4, 32, 32]);
    g.output('depth', ps);
    const graph = g.build();
    expect(graph.nodes.map((n) => n.name)).toEqual(['input', 'conv0', 'dw', 'up', 'ps', 'deconv', 'depth']);
  });

  it('rejects an add of unequal shapes, naming the layer and both shapes', () => {
    const g = new GraphBuilder('bad');
    const x = g.input('input', [1, 3, 8, 8]);
    const a = g.conv2d('a', x, { outChannels: 4, kernel: 1 });
    const b = g.conv2d('b', x, { outChannels: 5, kernel: 1 });
    expect(() => g.add('sum', a, b)).toThrow(
      /layer "sum": add needs equal shapes: input 0 is 1x4x8x8, input 1 is 1x5x8x8/,
    );
  });

  it('rejects groups that do not divide the channels', () => {
    const g = new GraphBuilder('bad');
    const x = g.input('input', [1, 6, 8, 8]);
    expect(() => g.conv2d('dw', x, { outChannels: 6, kernel: 3, pads: 1, groups: 4 })).toThrow(GraphError);
    expect(() => g.conv2d('dw', x, { outChannels: 6, kernel: 3, pads: 1, groups: 4 })).toThrow(
      /layer "dw": groups 4 does not divide input channels 6/,
    );
  });

  it('rejects odd sizes before a stride', () => {
    const g = new GraphBuilder('bad');
    const x = g.input('input', [1, 3, 7, 8]);
    expect(() => g.conv2d('s2', x, { outChannels: 4, kernel: 3, stride: 2, pads: 1 })).toThrow(
      /layer "s2": input 7x8 is not divisible by stride 2x2/,
    );
  });

  it('rejects unknown inputs, duplicate names and dotted names', () => {
    const g = new GraphBuilder('bad');
    const x = g.input('input', [1, 3, 8, 8]);
    expect(() => g.relu('r', { name: 'ghost', shape: [1, 3, 8, 8] })).toThrow(
      /layer "r": unknown input "ghost"/,
    );
    expect(() => g.relu('input', x)).toThrow(/already declared/);
    expect(() => g.relu('conv.0', x)).toThrow(/identifiers/);
  });

  it('add(name, [a, b]) adds element-wise, as does add(name, a, b)', () => {
    const g = new GraphBuilder('sum');
    const a = g.input('a', [1, 1, 1, 3]);
    const b = g.relu('b', a);
    const listed = g.add('sum', [a, b]);
    const spread = g.add('sum2', listed, a);
    expect(listed.shape).toEqual([1, 1, 1, 3]);
    g.output('out', spread);
    const graph = g.build();
    expect(graph.nodes.find((n) => n.name === 'sum')).toMatchObject({ op: 'add', inputs: ['a', 'b'] });
    // (a + relu(a)) + a for a = [-1, 2, 3]: [-2, 6, 9].
    const out = execute(graph, initWeights(graph, 0), { a: { shape: [1, 1, 1, 3], data: [-1, 2, 3] } });
    expect([...out.out!.data]).toEqual([-2, 6, 9]);
  });

  it('node(op, name, inputs, attrs) declares any op, as the typed helpers do', () => {
    const g = new GraphBuilder('generic');
    const x = g.input('input', [1, 2, 4, 4]);
    const y = g.node('upsample', 'up', [x], { mode: 'nearest', scale: 2 });
    expect(y.shape).toEqual([1, 2, 8, 8]);
    expect(() => g.node('sum' as 'add', 'bad', [x, x], {})).toThrow(
      /layer "bad": unknown op "sum" \(ops: input, /,
    );
  });

  it('a wrong call of add or node names the layer and says which form to use', () => {
    const g = new GraphBuilder('wrong');
    const x = g.input('input', [1, 2, 4, 4]);
    // The old generic form, from JavaScript or through a cast.
    const addAsNode = (...args: unknown[]): unknown => (g.add as (...a: unknown[]) => unknown).apply(g, args);
    expect(() => addAsNode('conv2d', 'c', [x], { outChannels: 2 })).toThrow(
      /^layer "c": add\(name, inputs\) combines tensors; to declare a conv2d layer use node\('conv2d', 'c', inputs, attrs\)$/,
    );
    expect(() => addAsNode('sum', x, 'input')).toThrow(
      /^layer "sum": add\(name, inputs\) takes tensors declared in this graph, found "input" as input 1$/,
    );
    expect(() => addAsNode([x, x])).toThrow(
      /^graph "wrong": add\(name, inputs\) needs a layer name first, found \[tensor "input", tensor "input"\]$/,
    );
    expect(() => g.add('one', [x])).toThrow(/^layer "one": expected at least 2 inputs, found 1$/);
    const nodeAsAdd = (...args: unknown[]): unknown =>
      (g.node as (...a: unknown[]) => unknown).apply(g, args);
    expect(() => nodeAsAdd('add', [x, x])).toThrow(
      /needs a layer name as its second argument, found \[tensor "input", tensor "input"\]/,
    );
    expect(() => nodeAsAdd('relu', 'r', x, {})).toThrow(
      /^layer "r": inputs must be a list of tensors declared in this graph, found tensor "input"$/,
    );
  });
});
