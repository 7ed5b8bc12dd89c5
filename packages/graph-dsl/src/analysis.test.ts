import { describe, expect, it } from 'vitest';
import { analyze } from './analysis.js';
import { GraphBuilder } from './builder.js';

describe('analyze', () => {
  it('counts MACs, params, conv weights and activation bytes per layer', () => {
    const g = new GraphBuilder('a');
    const x = g.input('input', [1, 3, 8, 8]);
    const c = g.conv2d('c', x, { outChannels: 4, kernel: 3, stride: 2, pads: 1, bias: true });
    const b = g.batchNorm('b', c);
    const t = g.convTranspose2d('t', b, { outChannels: 2, kernel: 2, stride: 2 });
    g.output('o', t);
    const s = analyze(g.build());
    const [, conv, bn, tconv] = s.layers;
    expect(conv).toMatchObject({
      shape: [1, 4, 4, 4],
      macs: 4 * 4 * 4 * 3 * 9,
      params: 4 * 3 * 9 + 4,
      convWeights: 108,
      activationBytes: 64 * 4,
    });
    expect(bn).toMatchObject({ macs: 0, params: 8, convWeights: 0 });
    // Transposed: every input pixel scatters into k*k*out outputs.
    expect(tconv).toMatchObject({ shape: [1, 2, 8, 8], macs: 4 * 4 * 4 * 2 * 4, params: 4 * 2 * 4 });
    expect(s.macs).toBe(1728 + 512);
    expect(s.params).toBe(112 + 8 + 32);
    expect(s.outputShape).toEqual([1, 2, 8, 8]);
  });
});
