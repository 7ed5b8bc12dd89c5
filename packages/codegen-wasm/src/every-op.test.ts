/**
 * Every op of graph-dsl's op table through the float wasm engine, on small graphs with odd sizes
 * and channel counts that are not multiples of 4: against the float64 reference executor and
 * onnxruntime-node (on the codegen-onnx emission), stage by stage with rows split among three
 * thread scratch tiles, and on 2 worker threads (bit for bit the single-thread result).
 */
import { GraphBuilder, type Graph, type Tensor } from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { emitWasm } from './emit.js';
import { bilinearTaps } from './kernels/pixel.js';
import { seededWeights } from './testing/harness.js';
import { checkParity as check } from './testing/parity.js';

function net(shape: readonly [number, number, number], body: (g: GraphBuilder, x: Tensor) => Tensor): Graph {
  const g = new GraphBuilder('t');
  const x = g.input('input', [1, shape[0], shape[1], shape[2]]);
  g.output('out', body(g, x));
  return g.build();
}

const conv = (g: GraphBuilder, name: string, x: Tensor, out: number, k = 3, groups = 1, s = 1): Tensor =>
  g.batchNorm(
    `${name}_bn`,
    g.conv2d(name, x, { outChannels: out, kernel: k, pads: (k - 1) / 2, groups, stride: s }),
  );

describe('activations: fused into the conv epilogue, or a map stage of their own', () => {
  it.each(['sigmoid', 'hardSigmoid', 'hardSwish', 'clip'] as const)('conv + BN + %s', async (a) => {
    await check(
      net([5, 7, 9], (g, x) => {
        const y = conv(g, 'c', x, 7);
        return a === 'clip' ? g.clip('act', y, -0.4, 0.7) : g[a]('act', y);
      }),
      ['conv'],
    );
  });
  it('dw + hardSwish fused with the 1x1 conv, relu + skip add + sigmoid after the add', async () => {
    await check(
      net([6, 9, 7], (g, x) => {
        const d = g.hardSwish('dw_act', conv(g, 'dw', x, 6, 3, 6));
        const p = g.relu('pw_act', conv(g, 'pw', d, 6, 1));
        return g.sigmoid('gate', g.add('sum', p, x));
      }),
      ['dwpw'],
    );
  });
  it('standalone: sigmoid of the input, hardSwish of a value read twice, add of two complete values', async () => {
    await check(
      net([5, 7, 11], (g, x) => {
        const s = g.sigmoid('s', x);
        const a = conv(g, 'a', s, 6);
        const h = g.hardSwish('h', a);
        const sum = g.add('sum', a, h, g.clip('c', a, -0.2, 0.3));
        return g.relu6('r', g.relu('r0', g.relu('r1', sum)));
      }),
      ['map'],
    );
  });
});

describe('squeeze-excite: global average pool, 1x1 convs on 1x1, per-channel mul', () => {
  it('SE block on 13 channels at 9x7, output the gated tensor', async () => {
    await check(
      net([13, 9, 7], (g, x) => {
        const a = g.hardSwish('a_act', conv(g, 'a', x, 13));
        const pooled = g.globalAvgPool('pool', a);
        const fc1 = g.relu('fc1_act', g.conv2d('fc1', pooled, { outChannels: 5, kernel: 1, bias: true }));
        const gate = g.hardSigmoid('gate', g.conv2d('fc2', fc1, { outChannels: 13, kernel: 1, bias: true }));
        return conv(g, 'proj', g.mul('scale', a, gate), 6, 1);
      }),
      ['gap', 'map'],
    );
  });
  it('elementwise mul of two convs; global average pool as the output', async () => {
    await check(net([6, 7, 9], (g, x) => g.mul('m', conv(g, 'a', x, 5), g.sigmoid('s', conv(g, 'b', x, 5)))));
    await check(net([6, 7, 9], (g, x) => g.globalAvgPool('pool', g.relu('r', conv(g, 'a', x, 10)))));
  });
});

describe('pooling', () => {
  it.each([
    [3, 2, 1, true],
    [3, 2, 1, false],
    [2, 2, 0, true],
    [3, 1, 1, false],
  ] as const)('avgPool2d kernel %i stride %i pad %i countIncludePad %s', async (k, s, p, cip) => {
    await check(
      net([7, 10, 14], (g, x) =>
        g.avgPool2d('pool', conv(g, 'c', x, 6), { kernel: k, stride: s, pads: p, countIncludePad: cip }),
      ),
      ['pool'],
    );
  });
  it.each([
    [3, 2, 1],
    [2, 2, 0],
    [3, 1, 1],
  ] as const)('maxPool kernel %i stride %i pad %i (negative values at the border)', async (k, s, p) => {
    await check(
      net([5, 10, 14], (g, x) =>
        conv(g, 'after', g.maxPool('pool', conv(g, 'c', x, 9), { kernel: k, stride: s, pads: p }), 5),
      ),
      ['pool'],
    );
  });
  it('a BatchNorm after a pool (no conv to fold into): a per-channel scale and shift', async () => {
    await check(
      net([6, 10, 14], (g, x) => g.batchNorm('bn', g.maxPool('pool', conv(g, 'c', x, 7), { kernel: 2 }))),
    );
  });
});

describe('resampling: bilinear and nearest resize, unpool, pixel shuffle, transposed conv', () => {
  it('bilinear x2 after a conv, then a skip add and ReLU fused into it', async () => {
    await check(
      net([5, 6, 7], (g, x) => {
        const low = conv(g, 'down', x, 6, 3, 1, 1);
        const up = g.upsample('up', low, 'bilinear');
        const skip = conv(g, 'skip', g.upsample('in_up', x, 'nearest'), 6, 1);
        return g.relu('r', g.add('sum', up, skip));
      }),
      ['resize'],
    );
  });
  it('nearest x2 of a concat (a resize stage), bilinear as the output', async () => {
    await check(
      net([3, 5, 7], (g, x) =>
        g.upsample('bl', g.upsample('nn', g.concat('cat', x, conv(g, 'c', x, 5)), 'nearest'), 'bilinear'),
      ),
      ['resize', 'concat'],
    );
  });
  it('resize op: nearest x3 by scale, to sizes PyTorch reads other rows for (2 -> 82), bilinear down and up', async () => {
    // 2x3 -> 82x123 nearest: PyTorch's float32 source indices differ from exact division there.
    await check(
      net([3, 2, 3], (g, x) => g.resize('nn', conv(g, 'c', x, 5), 'nearest', { size: [82, 123] })),
      ['resize'],
    );
    await check(
      net([5, 7, 9], (g, x) => {
        const up = g.resize('nn3', conv(g, 'c', x, 6), 'nearest', { scale: [3, 2] });
        const down = g.resize('bl_down', up, 'bilinear', { size: [10, 11] });
        return g.relu('r', g.resize('bl_up', down, 'bilinear', { scale: 3 }));
      }),
      ['resize'],
    );
  });
  it('unpool then a 3x3 conv; pixel shuffle of 20 channels', async () => {
    await check(
      net([5, 5, 7], (g, x) => conv(g, 'after', g.unpool('unpool', conv(g, 'c', x, 6)), 7)),
      ['unpool'],
    );
    await check(
      net([6, 5, 7], (g, x) => g.pixelShuffle('ps', conv(g, 'c', x, 20))),
      ['pixelShuffle'],
    );
  });
  it.each([
    [3, 2, 1, 1, 1],
    [2, 2, 0, 0, 1],
    [3, 2, 1, 1, 2],
    [3, 1, 1, 0, 1],
  ] as const)(
    'convTranspose2d kernel %i stride %i pad %i outputPadding %i groups %i, BN + ReLU',
    async (k, s, p, op, groups) => {
      await check(
        net([6, 5, 7], (g, x) =>
          g.relu(
            'r',
            g.batchNorm(
              'bn',
              g.convTranspose2d('deconv', x, {
                outChannels: 10,
                kernel: k,
                stride: s,
                pads: p,
                outputPadding: op,
                groups,
              }),
            ),
          ),
        ),
        ['convT'],
      );
    },
  );
});

describe('depthwise transposed convs (DeConv-dw): zero insertion + a depthwise conv fused with the 1x1 after it', () => {
  it.each([
    [3, 1, 1],
    [5, 2, 1],
    [4, 1, 0],
  ] as const)(
    'kernel %i pad %i outputPadding %i, 13 channels, BN + ReLU, then a 1x1 conv',
    async (k, p, op) => {
      const graph = net([13, 5, 7], (g, x) => {
        const t = g.convTranspose2d('deconv', x, {
          outChannels: 13,
          kernel: k,
          stride: 2,
          pads: p,
          outputPadding: op,
          groups: 13,
        });
        return g.conv2d('pw', g.relu('r', g.batchNorm('bn', t)), { outChannels: 6, kernel: 1 });
      });
      await check(graph, ['unpool', 'dwpw']);
      const { manifest } = emitWasm({ graph, weights: seededWeights(graph, 3) }, { optimizeLevel: 1 });
      // The manifest names the graph's layers; the transposed conv's MACs are counted once.
      expect(manifest.stages.flatMap((s) => s.layers)).not.toContain('deconv_zero_insert');
      expect(manifest.stages.find((s) => s.kind === 'unpool')!.macs).toBe(0);
      // 13 x k x k weights, not the gather's dense 13 x 13 per tap.
      expect(manifest.weights.byteLength).toBeLessThan(13 * 13 * k * k * 4);
    },
  );

  it('stride 1 (kernel 3 pad 1, 13 channels): the depthwise conv alone, no zero insertion', async () => {
    const graph = net([13, 5, 7], (g, x) => {
      const t = g.convTranspose2d('deconv', x, {
        outChannels: 13,
        kernel: 3,
        stride: 1,
        pads: 1,
        groups: 13,
      });
      return g.conv2d('pw', g.relu('r', g.batchNorm('bn', t)), { outChannels: 6, kernel: 1 });
    });
    await check(graph, ['dwpw']);
    const { manifest } = emitWasm({ graph, weights: seededWeights(graph, 3) }, { optimizeLevel: 1 });
    expect(manifest.stages.map((s) => s.kind)).not.toContain('unpool');
  });
});

describe('bilinear taps of any ratio (the table of the resize kernel)', () => {
  it('2 -> 3 (PyTorch: x0, (x0 + x1) / 2, x1) and 4 -> 2 (downscale: the mean of each pair)', () => {
    expect(bilinearTaps(2, 3).map(({ i0, i1, l }) => [i0, i1, Number(l.toFixed(6))])).toEqual([
      [0, 1, 0],
      [0, 1, 0.5],
      [1, 1, 0.166667],
    ]);
    expect(bilinearTaps(4, 2)).toEqual([
      { i0: 0, i1: 1, l: 0.5 },
      { i0: 2, i1: 3, l: 0.5 },
    ]);
  });
});

describe('concat and grouped convs', () => {
  it('concat of 5 + 7 channels (unaligned second input) into a depthwise conv', async () => {
    await check(
      net([5, 7, 9], (g, x) => {
        const cat = g.concat('cat', conv(g, 'a', x, 5), g.relu('r', conv(g, 'b', x, 7)));
        return conv(g, 'pw', conv(g, 'dw', cat, 12, 3, 12), 6, 1);
      }),
      ['concat'],
    );
  });
  it('concat of 4, 3 and 6 channels as the graph output', async () => {
    await check(
      net([4, 7, 9], (g, x) => g.concat('cat', x, conv(g, 'a', x, 3), conv(g, 'b', x, 6))),
      ['concat'],
    );
  });
  it('producers writing their channels of the concat buffer: all inputs, no copy stage', async () => {
    const graph = net([5, 7, 9], (g, x) => {
      const cat = g.concat('cat', conv(g, 'a', x, 8), g.relu('r', conv(g, 'b', x, 4)), conv(g, 'c', x, 5));
      return conv(g, 'pw', conv(g, 'dw', cat, 17, 3, 17), 6, 1);
    });
    await check(graph);
    const { manifest } = emitWasm({ graph, weights: seededWeights(graph, 1) }, { optimizeLevel: 0 });
    expect(manifest.stages.map((s) => s.kind)).not.toContain('concat');
  });
  it('direct writers mixed with copies (the input, an unaligned tail), then a skip add of the concat', async () => {
    await check(
      net([4, 6, 10], (g, x) => {
        const up = g.upsample('up', conv(g, 'low', x, 6, 3, 1, 2), 'bilinear');
        const cat = g.concat('cat', x, conv(g, 'a', x, 8), conv(g, 'b', x, 3), up);
        return g.add('sum', conv(g, 'after', x, 21), cat);
      }),
      ['concat'],
    );
  });
  it('a grouped 3x3 conv (groups 2) and a depthwise 11x11 (past the row kernel): dense kernels', async () => {
    await check(net([6, 9, 13], (g, x) => conv(g, 'big', conv(g, 'grp', x, 8, 3, 2), 8, 11, 8)));
  });
});

describe('edge cases of the planner', () => {
  it('concat of a value with itself, add of a value to itself, mul of two per-channel values', async () => {
    await check(
      net([5, 6, 7], (g, x) => {
        const a = conv(g, 'a', x, 8);
        const cat = g.concat('cat', a, a);
        const pooled = g.globalAvgPool('pool', cat);
        const gate = g.mul('gate', g.sigmoid('s', pooled), pooled);
        return g.mul('scale', g.add('twice', cat, cat), gate);
      }),
    );
  });
  it('the input straight to max pooling and to the output of a sigmoid', async () => {
    await check(
      net([3, 6, 8], (g, x) => g.sigmoid('s', g.maxPool('pool', x, { kernel: 3, stride: 2, pads: 1 }))),
    );
  });
  it('a standalone activation upsampled into a depthwise conv (ring reads of a map stage)', async () => {
    await check(
      net([6, 5, 7], (g, x) => {
        const a = conv(g, 'a', x, 6);
        const h = g.hardSwish('h', a);
        const up = g.add(
          'sum',
          g.upsample('up', h, 'nearest'),
          conv(g, 'skip', g.upsample('xu', x, 'nearest'), 6, 1),
        );
        return g.add('res', conv(g, 'dw', up, 6, 3, 6), g.upsample('au', a, 'bilinear'));
      }),
    );
  });
  it('a transposed conv with a skip add and hard-swish fused into its epilogue', async () => {
    await check(
      net([6, 5, 7], (g, x) => {
        const skip = conv(g, 'skip', g.upsample('xu', x, 'nearest'), 9, 3);
        const up = g.convTranspose2d('deconv', x, {
          outChannels: 9,
          kernel: 4,
          stride: 2,
          pads: 1,
          bias: true,
        });
        return g.hardSwish('act', g.add('sum', up, skip));
      }),
      ['convT'],
    );
  });
});
