import { describe, expect, it } from 'vitest';
import { GraphBuilder } from './builder.js';
import { GraphError } from './errors.js';

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
    expect(() => g.addTensors('sum', a, b)).toThrow(
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
});
