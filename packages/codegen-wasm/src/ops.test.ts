/**
 * Every kernel and every fused pattern against the float64 reference executor, on small graphs
 * with odd sizes and channel counts that are not multiples of 4 or 8 (so the padded lanes, the
 * 4-channel last block and the leftover-pixel blocks all run). Each graph runs whole (`run`) and
 * stage by stage with rows split in three and a different thread (scratch tile) per part, which
 * must give exactly the same numbers.
 */
import { GraphBuilder, GraphError, type Graph, type Tensor } from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { emitWasm } from './emit.js';
import { instantiate, randomInput, reference, relativeError, seededWeights } from './testing/harness.js';

type Act = 'relu' | 'relu6' | 'none';

async function check(graph: Graph, seed = 1, upsampleInReads = true): Promise<void> {
  const weights = seededWeights(graph, seed);
  const artifact = emitWasm({ graph, weights }, { maxThreads: 3, upsampleInReads });
  const m = await instantiate(artifact, 'simd');
  const x = randomInput(artifact.manifest.input.shape, seed + 7, 'normal');
  const out = m.runSingleThread(x);
  const ref = reference(graph, weights, x);
  const { rel, maxAbs } = relativeError(out, ref);
  expect(maxAbs, 'reference is degenerate').toBeGreaterThan(1e-3);
  expect(rel, `max abs error / max |ref| (max |ref| ${maxAbs})`).toBeLessThan(1e-5);

  // Same result when each stage's rows are split among threads 0..2 (fresh memory).
  const split = await instantiate(artifact, 'simd');
  split.writeInput(x);
  artifact.manifest.stages.forEach((s, i) => {
    const cuts = [0, Math.floor(s.rows / 3), Math.floor((2 * s.rows) / 3), s.rows];
    for (const t of [2, 0, 1]) split.runStage(i, cuts[t]!, cuts[t + 1]!, t);
  });
  expect(split.readOutput()).toEqual(out);
}

function act(g: GraphBuilder, name: string, x: Tensor, a: Act): Tensor {
  return a === 'relu' ? g.relu(`${name}_relu`, x) : a === 'relu6' ? g.relu6(`${name}_relu`, x) : x;
}

/** conv + optional BN + activation, like the family's blocks. */
function convBn(
  g: GraphBuilder,
  name: string,
  x: Tensor,
  o: {
    out: number;
    k: number;
    s?: number;
    p?: number;
    groups?: number;
    bn?: boolean;
    act?: Act;
    dil?: number;
  },
): Tensor {
  const bn = o.bn ?? true;
  const y = g.conv2d(name, x, {
    outChannels: o.out,
    kernel: o.k,
    stride: o.s ?? 1,
    pads: o.p ?? (o.k - 1) / 2,
    groups: o.groups ?? 1,
    dilation: o.dil ?? 1,
    bias: !bn,
  });
  return act(g, name, bn ? g.batchNorm(`${name}_bn`, y) : y, o.act ?? 'none');
}

function net(shape: readonly [number, number, number], body: (g: GraphBuilder, x: Tensor) => Tensor): Graph {
  const g = new GraphBuilder('t');
  const x = g.input('input', [1, shape[0], shape[1], shape[2]]);
  g.output('depth', body(g, x));
  return g.build();
}

describe('dense conv (the first conv, any KxK)', () => {
  it.each([5, 12, 16, 32])('3x3 stride 2 on RGB, %i outputs, BN + ReLU6', async (out) => {
    await check(net([3, 10, 14], (g, x) => convBn(g, 'conv0', x, { out, k: 3, s: 2, act: 'relu6' })));
  });
  it('3x3 stride 1 on 13 channels (channel loop), bias, ReLU', async () => {
    await check(net([13, 9, 11], (g, x) => convBn(g, 'c', x, { out: 12, k: 3, bn: false, act: 'relu' })));
  });
  it('7x7 stride 2 pad 3 (ResNet stem), 5x5 pad 2, 1x1 stride 2, dilation 2', async () => {
    await check(
      net([3, 16, 16], (g, x) => {
        let y = convBn(g, 'stem', x, { out: 8, k: 7, s: 2, p: 3, act: 'relu' });
        y = convBn(g, 'c5', y, { out: 6, k: 5, act: 'none' });
        y = convBn(g, 'c1s2', y, { out: 9, k: 1, s: 2, p: 0, act: 'relu6' });
        return convBn(g, 'dil', y, { out: 4, k: 3, p: 2, dil: 2, act: 'relu' });
      }),
    );
  });
});

describe('depthwise conv, alone and fused with the pointwise conv that reads it', () => {
  const cases: [number, number, Act, boolean][] = [
    [3, 1, 'relu6', true],
    [3, 2, 'relu', true],
    [5, 1, 'relu', false],
    [5, 2, 'none', true],
  ];
  it.each(cases)('kernel %i stride %i, %s, BN %s: alone (writes the NCHW output)', async (k, s, a, bn) => {
    await check(net([5, 10, 14], (g, x) => convBn(g, 'dw', x, { out: 5, k, s, groups: 5, bn, act: a })));
  });
  it.each(cases)('kernel %i stride %i, %s, BN %s: fused dw+pw, widths 20 -> 12 -> 5', async (k, s, a, bn) => {
    await check(
      net([20, 14, 18], (g, x) => {
        let y = convBn(g, 'b1_dw', x, { out: 20, k, s, groups: 20, bn, act: a });
        y = convBn(g, 'b1_pw', y, { out: 12, k: 1, bn, act: a });
        y = convBn(g, 'b2_dw', y, { out: 12, k, groups: 12, bn, act: a });
        return convBn(g, 'b2_pw', y, { out: 5, k: 1, bn, act: a });
      }),
    );
  });
  it('odd widths 7, 9 and 13 (every leftover-pixel block)', async () => {
    for (const w of [7, 9, 13]) {
      await check(
        net([6, 5, w], (g, x) => {
          const y = convBn(g, 'dw', x, { out: 6, k: 3, groups: 6, act: 'relu' });
          return convBn(g, 'pw', y, { out: 9, k: 1, act: 'relu6' });
        }),
      );
    }
  });
});

describe('pointwise conv and heads', () => {
  it('1x1 to 12 then 1x1 to one channel (head)', async () => {
    await check(
      net([7, 6, 9], (g, x) => {
        const y = convBn(g, 'pw', x, { out: 12, k: 1, act: 'relu' });
        return convBn(g, 'head', y, { out: 1, k: 1, act: 'relu' });
      }),
    );
  });
});

describe('upsample and skip add, fused into the reads of the next depthwise conv or the writes of the producer', () => {
  it.each([true, false])(
    'decoder: dw5+pw, ReLU, up x2, + skip, then dw+pw, up, 1x1 head (commuted); fused into reads: %s',
    async (reads) => {
      await check(
        net([8, 12, 14], (g, x) => {
          const a = convBn(g, 'enc', x, { out: 16, k: 3, s: 2, act: 'relu6' });
          const sdw = convBn(g, 'skip_dw', x, { out: 8, k: 3, groups: 8, act: 'relu6' });
          const skip = convBn(g, 'skip_pw', sdw, { out: 12, k: 1, act: 'relu6' });
          let y = convBn(g, 'd1_dw', a, { out: 16, k: 5, groups: 16, act: 'relu' });
          y = convBn(g, 'd1_pw', y, { out: 12, k: 1, act: 'relu' });
          y = g.add('skip_add', g.upsample('d1_up', y, 'nearest'), skip);
          y = convBn(g, 'd2_dw', y, { out: 12, k: 5, groups: 12, act: 'relu' });
          y = convBn(g, 'd2_pw', y, { out: 5, k: 1, act: 'relu' });
          y = g.upsample('d2_up', y, 'nearest');
          return convBn(g, 'head', y, { out: 1, k: 1, act: 'relu' });
        }),
        1,
        reads,
      );
    },
  );
  it('up x2 with no skip into a 3x3 depthwise conv, stride 2, then a 1x1 conv', async () => {
    await check(
      net([6, 5, 7], (g, x) => {
        const y = g.upsample('up', convBn(g, 'pw', x, { out: 9, k: 1, act: 'relu' }), 'nearest');
        const d = convBn(g, 'dw', y, { out: 9, k: 3, s: 2, groups: 9, act: 'relu6' });
        return convBn(g, 'pw2', d, { out: 4, k: 1, act: 'none' });
      }),
    );
  });
  it('add (skip first) then ReLU, upsample into a 3-channel 1x1 conv writing NCHW', async () => {
    await check(
      net([4, 6, 10], (g, x) => {
        const skip = convBn(g, 'skip', x, { out: 6, k: 3, act: 'relu' });
        const y = convBn(g, 'main', x, { out: 6, k: 3, act: 'none' });
        const s = g.relu('sum_relu', g.add('sum', skip, y));
        const up = g.upsample('up', convBn(g, 'pw', s, { out: 8, k: 1, act: 'relu' }), 'nearest');
        return convBn(g, 'rgb', up, { out: 3, k: 1, act: 'none' });
      }),
    );
  });
});

describe('emit-time errors', () => {
  it('batch size 2: a GraphError naming the layer', () => {
    const g = new GraphBuilder('t');
    const x = g.input('input', [2, 4, 8, 8]);
    g.output('depth', convBn(g, 'c', x, { out: 4, k: 3 }));
    const graph = g.build();
    const weights = seededWeights(graph, 1);
    expect(() => emitWasm({ graph, weights })).toThrow(GraphError);
    expect(() => emitWasm({ graph, weights })).toThrow(/layer "input".*batch size 2/);
  });
  it('a second input: a GraphError naming it', () => {
    const g = new GraphBuilder('t');
    const x = g.input('input', [1, 4, 8, 8]);
    const y = g.input('second', [1, 4, 8, 8]);
    g.output('depth', g.add('sum', convBn(g, 'c', x, { out: 4, k: 3 }), y));
    const graph = g.build();
    const weights = seededWeights(graph, 1);
    expect(() => emitWasm({ graph, weights })).toThrow(/layer "second".*second input/);
  });
});
