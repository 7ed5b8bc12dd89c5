import { buildArch } from '@fastdepth/fastdepth-arch';
import { GraphBuilder } from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { findUnits, prunableUnits, unitById } from './units.js';

describe('findUnits', () => {
  it('finds the 16 prunable units of fastdepth with the three skip ties', () => {
    const graph = buildArch('fastdepth', { inputSize: 32 });
    const units = prunableUnits(graph);
    expect(units).toHaveLength(16);
    const tied = units.filter((u) => u.producers.length > 1).map((u) => u.id);
    expect(tied.sort()).toEqual([
      'conv1_pw+decode_conv4_pw',
      'conv3_pw+decode_conv3_pw',
      'conv5_pw+decode_conv2_pw',
    ]);
    const all = findUnits(graph);
    const head = all.find((u) => u.id === 'decode_conv6')!;
    expect(head.prunable).toBe(false);
    expect(head.reason).toMatch(/network output/);
    expect(all).toHaveLength(17);
  });

  it('lists producers, carriers and consumers of a unit', () => {
    const graph = buildArch('fastdepth', { inputSize: 32 });
    const u = unitById(graph, 'conv0');
    expect(u.channels).toBe(32);
    expect(u.sites.map((s) => `${s.kind}:${s.layer}`)).toEqual([
      'producer:conv0',
      'carrier:conv0_bn',
      'carrier:conv1_dw',
      'carrier:conv1_dw_bn',
      'consumer:conv1_pw',
    ]);
    const tie = unitById(graph, 'decode_conv4_pw');
    expect(tie.id).toBe('conv1_pw+decode_conv4_pw');
    const consumers = tie.sites.filter((s) => s.kind === 'consumer').map((s) => s.layer);
    expect(consumers).toEqual(['conv2_pw', 'decode_conv5_pw']);
  });

  it('handles concat offsets and freezes pixel shuffle inputs', () => {
    const g = new GraphBuilder('concat');
    const x = g.input('input', [1, 3, 8, 8]);
    const a = g.relu('a_relu', g.conv2d('a', x, { outChannels: 8, kernel: 1 }));
    const b = g.conv2d('b', x, { outChannels: 16, kernel: 1 });
    const cat = g.concat('cat', a, b);
    const dw = g.conv2d('dw', cat, { outChannels: 24, kernel: 3, pads: 1, groups: 24 });
    const c = g.conv2d('c', dw, { outChannels: 8, kernel: 1 });
    const s = g.pixelShuffle('shuffle', c);
    g.output('out', g.conv2d('head', s, { outChannels: 1, kernel: 1 }));
    const units = findUnits(g.build());
    const ub = units.find((u) => u.id === 'b')!;
    expect(ub.sites).toEqual([
      { kind: 'producer', layer: 'b' },
      { kind: 'carrier', layer: 'dw', offset: 8 },
      { kind: 'consumer', layer: 'c', offset: 8 },
    ]);
    expect(units.find((u) => u.id === 'c')!.prunable).toBe(false);
    expect(units.find((u) => u.id === 'c')!.reason).toMatch(/pixel shuffle/);
    expect(units.filter((u) => u.prunable).map((u) => u.id)).toEqual(['a', 'b']);
  });

  it('ties a squeeze-excite gate to the features it scales', () => {
    const g = new GraphBuilder('se');
    const x = g.input('input', [1, 3, 8, 8]);
    const f = g.relu('f_relu', g.conv2d('f', x, { outChannels: 16, kernel: 3, pads: 1 }));
    const squeeze = g.relu(
      'sq_relu',
      g.conv2d('sq', g.globalAvgPool('gap', f), { outChannels: 8, kernel: 1 }),
    );
    const gate = g.hardSigmoid('gate', g.conv2d('ex', squeeze, { outChannels: 16, kernel: 1 }));
    const y = g.conv2d('head', g.mul('scale', f, gate), { outChannels: 1, kernel: 1 });
    g.output('out', y);
    const units = findUnits(g.build());
    const tied = units.find((u) => u.producers.includes('f'))!;
    expect(tied.producers).toEqual(['f', 'ex']);
    expect(units.find((u) => u.producers.includes('sq'))!.producers).toEqual(['sq']);
  });

  it('names the known units when an id is unknown', () => {
    expect(() => unitById(buildArch('fastdepth', { inputSize: 32 }), 'nope')).toThrow(/conv0, conv1_pw/);
  });
});
