/**
 * Per-op parity: tiny graphs with seeded random shapes and attributes, emitted to ONNX, run by
 * onnxruntime and compared with graph-dsl's float64 reference executor.
 */
import {
  execute,
  GraphBuilder,
  initWeights,
  OP_KINDS,
  SeededRandom,
  type Graph,
  type Tensor,
} from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { encodeOnnx, SUPPORTED_OPSETS } from './emit.js';
import { EMITTERS } from './emitters.js';
import { compare, perturbBatchNorm, perturbBiases, randomTensor } from './testing/fixtures.js';
import { createSession, runSession } from './testing/ort.js';

const OPSETS = [13, 17];
const SEEDS = [1, 2, 3];

function int(rng: SeededRandom, lo: number, hi: number): number {
  return lo + Math.floor(rng.uniform() * (hi - lo + 1));
}
function pick<T>(rng: SeededRandom, xs: readonly T[]): T {
  return xs[Math.floor(rng.uniform() * xs.length)]!;
}

interface Case {
  readonly name: string;
  /** Builds a graph from a seeded generator; every graph has one input layer named `input`. */
  readonly build: (rng: SeededRandom) => Graph;
}

function start(
  name: string,
  rng: SeededRandom,
  channels: number,
  even = false,
): { g: GraphBuilder; x: Tensor } {
  const g = new GraphBuilder(name);
  const h = int(rng, 3, 9) * (even ? 2 : 1);
  const w = int(rng, 3, 9) * (even ? 2 : 1);
  return { g, x: g.input('input', [1, channels, h, w]) };
}

/** Builds the graph once its output layers (declared by evaluating `outputs`) exist. */
function finish(g: GraphBuilder, outputs: readonly Tensor[]): Graph {
  expect(outputs.length).toBeGreaterThan(0);
  return g.build();
}

/** Asymmetric pads each in [0, k-1]: the order [t, l, b, r] matters. */
function randomPads(rng: SeededRandom, kh: number, kw: number): [number, number, number, number] {
  return [int(rng, 0, kh - 1), int(rng, 0, kw - 1), int(rng, 0, kh - 1), int(rng, 0, kw - 1)];
}

const CASES: readonly Case[] = [
  {
    name: 'conv2d (groups, dilation, asymmetric pads, bias) + BN',
    build: (rng) => {
      const groups = pick(rng, [1, 2, 3]);
      const { g, x } = start('conv', rng, groups * int(rng, 1, 3), true);
      const kh = int(rng, 1, 3);
      const kw = int(rng, 1, 3);
      const y = g.conv2d('conv', x, {
        outChannels: groups * int(rng, 1, 3),
        kernel: [kh, kw],
        stride: [pick(rng, [1, 2]), pick(rng, [1, 2])],
        dilation: [pick(rng, [1, 2]), pick(rng, [1, 2])],
        pads: randomPads(rng, kh, kw),
        groups,
        bias: rng.uniform() < 0.5,
      });
      return finish(g, [g.output('out', g.batchNorm('conv_bn', y))]);
    },
  },
  {
    name: 'depthwise conv2d + BN + ReLU6',
    build: (rng) => {
      const c = int(rng, 2, 6);
      const { g, x } = start('dw', rng, c, true);
      const y = g.conv2d('dw', x, {
        outChannels: c,
        kernel: 3,
        stride: pick(rng, [1, 2]),
        pads: 1,
        groups: c,
      });
      return finish(g, [g.output('out', g.relu6('dw_relu', g.batchNorm('dw_bn', y)))]);
    },
  },
  {
    name: 'convTranspose2d (groups, output padding, bias) + BN',
    build: (rng) => {
      const groups = pick(rng, [1, 2]);
      const { g, x } = start('deconv', rng, groups * int(rng, 1, 3));
      const stride = pick(rng, [1, 2, 3]);
      const k = int(rng, 2, 4);
      const y = g.convTranspose2d('deconv', x, {
        outChannels: groups * int(rng, 1, 3),
        kernel: [k, int(rng, 1, 3)],
        stride: [stride, pick(rng, [1, 2])],
        pads: [int(rng, 0, k - 1), 0, int(rng, 0, k - 1), 0],
        outputPadding: [int(rng, 0, stride - 1), 0],
        groups,
        bias: rng.uniform() < 0.5,
      });
      return finish(g, [g.output('out', g.batchNorm('deconv_bn', y))]);
    },
  },
  {
    name: 'FastDepth deconv (k5, stride 2, pad 2, output padding 1) + BN + ReLU',
    build: (rng) => {
      const { g, x } = start('deconv5', rng, 4);
      const y = g.convTranspose2d('deconv', x, {
        outChannels: 3,
        kernel: 5,
        stride: 2,
        pads: 2,
        outputPadding: 1,
      });
      return finish(g, [g.output('out', g.relu('deconv_relu', g.batchNorm('deconv_bn', y)))]);
    },
  },
  {
    name: 'batchNorm alone (not foldable) + ReLU',
    build: (rng) => {
      const { g, x } = start('bn', rng, int(rng, 1, 5));
      return finish(g, [g.output('out', g.relu('relu', g.batchNorm('bn', x)))]);
    },
  },
  {
    name: 'relu6 clips both ends',
    build: (rng) => {
      const { g, x } = start('relu6', rng, int(rng, 1, 4));
      return finish(g, [g.output('out', g.relu6('clip', x))]);
    },
  },
  {
    name: 'sigmoid, hard sigmoid, hard swish and clip, on values past their bends',
    build: (rng) => {
      const { g, x } = start('acts', rng, int(rng, 1, 4));
      const lo = -int(rng, 1, 3);
      return finish(g, [
        g.output('sig', g.sigmoid('s', x)),
        g.output('hsig', g.hardSigmoid('hs', x)),
        g.output('hswish', g.hardSwish('hw', x)),
        g.output('clipped', g.clip('c', x, lo, lo + 2.5)),
      ]);
    },
  },
  {
    name: 'squeeze-excite: global average pool, 1x1 convs, hard sigmoid gate, per-channel mul',
    build: (rng) => {
      const c = 2 * int(rng, 2, 4);
      const { g, x } = start('se', rng, c);
      const s = g.relu(
        'se_relu',
        g.conv2d('se_reduce', g.globalAvgPool('se_pool', x), { outChannels: c / 2, kernel: 1, bias: true }),
      );
      const gate = g.hardSigmoid(
        'se_gate',
        g.conv2d('se_expand', s, { outChannels: c, kernel: 1, bias: true }),
      );
      return finish(g, [g.output('out', g.mul('se_scale', x, gate)), g.output('same', g.mul('sq', x, x))]);
    },
  },
  {
    name: 'avgPool2d: stride, asymmetric pads, count_include_pad true and false',
    build: (rng) => {
      const { g, x } = start('avg', rng, int(rng, 1, 3), true);
      const k = pick(rng, [2, 3]);
      const o = { kernel: k, stride: pick(rng, [1, 2]), pads: randomPads(rng, k, k) };
      return finish(g, [
        g.output('incl', g.avgPool2d('pi', x, { ...o, countIncludePad: true })),
        g.output('excl', g.avgPool2d('pe', x, { ...o, countIncludePad: false })),
      ]);
    },
  },
  {
    name: 'add of 2',
    build: (rng) => {
      const { g, x } = start('add2', rng, 3);
      const a = g.conv2d('a', x, { outChannels: 4, kernel: 1 });
      const b = g.conv2d('b', x, { outChannels: 4, kernel: 3, pads: 1 });
      return finish(g, [g.output('out', g.add('sum', a, b))]);
    },
  },
  {
    name: 'add of 3 (Sum)',
    build: (rng) => {
      const { g, x } = start('add3', rng, 3);
      const a = g.conv2d('a', x, { outChannels: 4, kernel: 1 });
      const b = g.batchNorm('b_bn', g.conv2d('b', x, { outChannels: 4, kernel: 3, pads: 1 }));
      const c = g.relu('c', g.conv2d('c_conv', x, { outChannels: 4, kernel: 1 }));
      return finish(g, [g.output('out', g.add('sum', a, b, c))]);
    },
  },
  {
    name: 'concat of 3',
    build: (rng) => {
      const { g, x } = start('concat3', rng, 2);
      const a = g.conv2d('a', x, { outChannels: int(rng, 1, 4), kernel: 1 });
      const b = g.conv2d('b', x, { outChannels: int(rng, 1, 4), kernel: 3, pads: 1 });
      return finish(g, [g.output('out', g.concat('cat', a, x, b))]);
    },
  },
  {
    name: 'upsample nearest x2',
    build: (rng) => {
      const { g, x } = start('nearest', rng, int(rng, 1, 3));
      return finish(g, [g.output('out', g.upsample('up', x, 'nearest'))]);
    },
  },
  {
    name: 'upsample bilinear x2 (align_corners=False)',
    build: (rng) => {
      const { g, x } = start('bilinear', rng, int(rng, 1, 3));
      return finish(g, [g.output('out', g.upsample('up', x, 'bilinear'))]);
    },
  },
  {
    name: 'resize by integer scales, both modes, odd sizes',
    build: (rng) => {
      const { g, x } = start('resize_scale', rng, int(rng, 1, 3));
      const mode = pick(rng, ['nearest', 'bilinear'] as const);
      return finish(g, [
        g.output('out', g.resize('r', x, mode, { scale: [int(rng, 1, 4), int(rng, 2, 5)] })),
      ]);
    },
  },
  {
    name: 'resize to a size (up, down, 1 pixel), both modes',
    build: (rng) => {
      const { g, x } = start('resize_size', rng, int(rng, 1, 3));
      const size: [number, number] = [pick(rng, [1, 2, 7, 13]), pick(rng, [3, 5, 11, 17])];
      const n = g.resize('n', x, 'nearest', { size });
      const b = g.resize('b', x, 'bilinear', { size });
      return finish(g, [g.output('out_n', n), g.output('out_b', b)]);
    },
  },
  {
    name: 'unpool x2 (zero insertion)',
    build: (rng) => {
      const { g, x } = start('unpool', rng, int(rng, 1, 3));
      return finish(g, [g.output('out', g.unpool('unpool', x))]);
    },
  },
  {
    name: 'pixelShuffle x2 (CRD)',
    build: (rng) => {
      const { g, x } = start('shuffle', rng, 4 * int(rng, 1, 3));
      return finish(g, [g.output('out', g.pixelShuffle('shuffle', x))]);
    },
  },
  {
    name: 'maxPool with asymmetric pads',
    build: (rng) => {
      const { g, x } = start('pool', rng, int(rng, 1, 3), true);
      const kh = int(rng, 2, 3);
      const kw = int(rng, 2, 3);
      const y = g.maxPool('pool', x, {
        kernel: [kh, kw],
        stride: pick(rng, [1, 2]),
        pads: randomPads(rng, kh, kw),
      });
      return finish(g, [g.output('out', y)]);
    },
  },
  {
    name: 'outputs that need Identity (graph input, shared tensor)',
    build: (rng) => {
      const { g, x } = start('identity', rng, 2);
      const r = g.relu('r', x);
      const c = g.conv2d('c', r, { outChannels: 2, kernel: 1 });
      return finish(g, [g.output('passthrough', x), g.output('relu_out', r), g.output('conv_out', c)]);
    },
  },
];

async function checkCase(graph: Graph, seed: number, opset: number, foldBatchNorm: boolean): Promise<void> {
  let weights = initWeights(graph, seed);
  weights = perturbBatchNorm(graph, weights, seed + 100);
  weights = perturbBiases(graph, weights, seed + 200);
  const input = graph.nodes.find((n) => n.op === 'input')!;
  const x = randomTensor(input.op === 'input' ? input.attrs.shape : [], seed + 300, 'normal', 4);
  const expected = execute(graph, weights, { input: x });
  const bytes = encodeOnnx({ graph, weights }, { opset, foldBatchNorm });
  const session = await createSession(bytes, { intraOpNumThreads: 1 });
  try {
    const actual = await runSession(session, { input: x });
    expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
    for (const [name, ref] of Object.entries(expected)) {
      const got = actual[name]!;
      expect(got.shape).toEqual([...ref.shape]);
      const { maxAbsError, maxAbs } = compare(got.data, ref.data);
      expect(maxAbsError, `${name}: max abs error ${maxAbsError} (max |ref| ${maxAbs})`).toBeLessThanOrEqual(
        1e-5 * Math.max(1, maxAbs),
      );
    }
  } finally {
    await session.release();
  }
}

describe('every DSL op matches the reference executor under onnxruntime', () => {
  for (const c of CASES) {
    for (const opset of OPSETS) {
      for (const fold of [false, true]) {
        it(`${c.name}, opset ${opset}, BN ${fold ? 'folded' : 'kept'}`, async () => {
          for (const seed of SEEDS) await checkCase(c.build(new SeededRandom(seed)), seed, opset, fold);
        });
      }
    }
  }

  it('a graph with every op runs at every supported opset', async () => {
    const g = new GraphBuilder('all-ops');
    const x = g.input('input', [1, 4, 6, 6]);
    const c = g.relu6(
      'c_relu',
      g.batchNorm('c_bn', g.conv2d('c', x, { outChannels: 8, kernel: 3, pads: 1, groups: 2 })),
    );
    const d = g.relu(
      'd_relu',
      g.batchNorm(
        'd_bn',
        g.convTranspose2d('d', c, { outChannels: 4, kernel: 3, stride: 2, pads: 1, outputPadding: 1 }),
      ),
    );
    const p = g.maxPool('p', d, { kernel: 2, pads: [0, 0, 1, 1], stride: 2 });
    const u = g.add('s', g.upsample('n', p, 'nearest'), g.upsample('b', p, 'bilinear'), g.unpool('z', p));
    const cat = g.concat(
      'cat',
      u,
      d,
      g.resize('rs', g.resize('r3', p, 'bilinear', { scale: 3 }), 'nearest', { size: [12, 12] }),
    );
    const ps = g.pixelShuffle('ps', cat);
    const act = g.clip('cl', g.hardSwish('hw', g.sigmoid('sg', ps)), 0.1, 0.9);
    const gate = g.hardSigmoid('hs', g.globalAvgPool('gap', act));
    g.output(
      'out',
      g.avgPool2d('ap', g.mul('m', act, gate), { kernel: 3, stride: 1, pads: 1, countIncludePad: false }),
    );
    const graph = g.build();
    expect(new Set(graph.nodes.map((n) => n.op)).size).toBe(OP_KINDS.length);
    for (const opset of SUPPORTED_OPSETS)
      for (const fold of [false, true]) await checkCase(graph, opset, opset, fold);
  });

  it('resize nearest reads the rows PyTorch reads where float32 rounding moves them (2x3 to 82x123)', async () => {
    // PyTorch reads floor(dst * fround(in / out)) in float32: row 41 of 82 reads row 0 of 2, where
    // exact division reads row 1 (see nearestSourceIndex); onnxruntime must read the same.
    for (const mode of ['nearest', 'bilinear'] as const) {
      const g = new GraphBuilder('big');
      g.output('out', g.resize('r', g.input('input', [1, 2, 2, 3]), mode, { size: [82, 123] }));
      const graph = g.build();
      const bytes = Buffer.from(encodeOnnx({ graph, weights: new Map() }));
      expect(bytes.includes(mode === 'nearest' ? 'Gather' : 'Resize')).toBe(true);
      for (const opset of OPSETS) await checkCase(graph, 5, opset, false);
    }
  });

  it('resize matches the reference for every input side 1..9 and output side 1..30', async () => {
    for (let side = 1; side <= 9; side++) {
      const g = new GraphBuilder('sweep');
      const x = g.input('input', [1, 1, side, 10 - side]);
      for (let out = 1; out <= 30; out++) {
        g.output(`n${out}`, g.resize(`rn${out}`, x, 'nearest', { size: [out, 31 - out] }));
        g.output(`b${out}`, g.resize(`rb${out}`, x, 'bilinear', { size: [out, 31 - out] }));
      }
      await checkCase(g.build(), side, 13, false);
    }
  });

  it('the test cases cover every op kind', () => {
    const covered = new Set(
      CASES.flatMap((c) => SEEDS.flatMap((s) => c.build(new SeededRandom(s)).nodes.map((n) => n.op))),
    );
    expect([...covered].sort()).toEqual([...OP_KINDS].sort());
    expect(Object.keys(EMITTERS).sort()).toEqual([...OP_KINDS].sort());
  });
});
