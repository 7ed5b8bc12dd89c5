import {
  execute,
  GraphBuilder,
  GraphError,
  SeededRandom,
  type Graph,
  type OpKind,
  type Tensor,
} from '@fastdepth/graph-dsl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emitTfjs } from './index.js';
import {
  importGenerated,
  randomInput,
  relativeError,
  runOnce,
  useBackend,
  type BackendName,
} from './testing/harness.js';
import { randomModel, tinyGraph } from './testing/tiny.js';

const TOLERANCE = 1e-4;
const SEEDS = [1, 2, 3, 4];
/** Convolutions have the most paths (dense, depthwise, grouped, pads, stride x dilation). */
const CONV_SEEDS = Array.from({ length: 16 }, (_, i) => i + 1);

type Rng = SeededRandom;
const int = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng.uniform() * (hi - lo + 1));
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng.uniform() * xs.length)]!;
const divisors = (n: number): number[] =>
  Array.from({ length: n }, (_, i) => i + 1).filter((d) => n % d === 0);

function input(g: GraphBuilder, rng: Rng, channels = int(rng, 1, 6), even = true): Tensor {
  const size = (): number => (even ? 2 * int(rng, 2, 6) : int(rng, 3, 11));
  return g.input('input', [1, channels, size(), size()]);
}

/** A random tail after a conv: nothing, an activation (fused), BN (folded), BN + activation. */
function tail(g: GraphBuilder, rng: Rng, x: Tensor): Tensor {
  switch (int(rng, 0, 4)) {
    case 0:
      return x;
    case 1:
      return g.relu(`${x.name}_relu`, x);
    case 2:
      return g.relu6(`${x.name}_relu6`, x);
    case 3:
      return g.batchNorm(`${x.name}_bn`, x);
    default:
      return g.relu6(`${x.name}_relu6`, g.batchNorm(`${x.name}_bn`, x));
  }
}

/** Random conv-like attributes: kernel, stride, pads, groups; the builder rejects misfits. */
function randomPads(rng: Rng, kernel: readonly [number, number]): [number, number, number, number] {
  if (rng.uniform() < 0.5) {
    const p = int(rng, 0, Math.min(kernel[0], kernel[1]) - 1);
    return [p, p, p, p];
  }
  return [0, 1, 2, 3].map((i) => int(rng, 0, kernel[i % 2 === 0 ? 0 : 1] - 1)) as [
    number,
    number,
    number,
    number,
  ];
}

function randomConv(g: GraphBuilder, rng: Rng, x: Tensor): Tensor {
  const cin = x.shape[1];
  const groups = pick(rng, [1, cin, pick(rng, divisors(cin))]);
  const kernel: [number, number] = [int(rng, 1, 5), int(rng, 1, 5)];
  const stride = pick(rng, [1, 2, [1, 2] as const]);
  const pads = randomPads(rng, kernel);
  const dilation = pick(rng, [1, 1, 2]);
  const outChannels = groups * int(rng, 1, 3);
  return g.conv2d('conv', x, {
    outChannels,
    kernel,
    stride,
    pads,
    dilation,
    groups,
    bias: rng.uniform() < 0.5,
  });
}

function randomConvTranspose(g: GraphBuilder, rng: Rng, x: Tensor): Tensor {
  const cin = x.shape[1];
  const groups = pick(rng, [1, cin, pick(rng, divisors(cin))]);
  const kernel: [number, number] = [int(rng, 1, 5), int(rng, 1, 5)];
  const stride: [number, number] = [int(rng, 1, 3), int(rng, 1, 3)];
  const pads = randomPads(rng, kernel);
  const outputPadding: [number, number] = [int(rng, 0, stride[0] - 1), int(rng, 0, stride[1] - 1)];
  const outChannels = groups * int(rng, 1, 3);
  return g.convTranspose2d('convt', x, {
    outChannels,
    kernel,
    stride,
    pads,
    outputPadding,
    groups,
    bias: rng.uniform() < 0.5,
  });
}

const conv1x1 = (g: GraphBuilder, name: string, x: Tensor, outChannels: number): Tensor =>
  g.conv2d(name, x, { outChannels, kernel: 1, bias: true });

/** Per op: a builder of one small random graph around it (and the gain for its weights). */
const CASES: Record<
  OpKind,
  { readonly gain?: number; readonly build: (g: GraphBuilder, rng: Rng) => Tensor }
> = {
  input: { build: (g, rng) => input(g, rng) },
  output: { build: (g, rng) => g.relu('r', input(g, rng)) },
  conv2d: { build: (g, rng) => tail(g, rng, randomConv(g, rng, input(g, rng))) },
  convTranspose2d: { build: (g, rng) => tail(g, rng, randomConvTranspose(g, rng, input(g, rng))) },
  // BN on the input cannot fold: tf.batchNorm.
  batchNorm: { build: (g, rng) => g.batchNorm('bn', input(g, rng)) },
  relu: { build: (g, rng) => g.relu('r', g.batchNorm('bn', input(g, rng))) },
  relu6: { gain: 8, build: (g, rng) => g.relu6('r', g.batchNorm('bn', input(g, rng))) },
  add: {
    build: (g, rng) => {
      const x = input(g, rng);
      const n = int(rng, 2, 3);
      return g.add('sum', x, ...Array.from({ length: n - 1 }, (_, i) => conv1x1(g, `c${i}`, x, x.shape[1])));
    },
  },
  concat: {
    build: (g, rng) => {
      const x = input(g, rng);
      return g.concat('cat', conv1x1(g, 'a', x, int(rng, 1, 4)), x, conv1x1(g, 'b', x, int(rng, 1, 4)));
    },
  },
  upsample: {
    build: (g, rng) =>
      g.upsample(
        'up',
        g.batchNorm('bn', input(g, rng, int(rng, 1, 6), false)),
        pick(rng, ['nearest', 'bilinear'] as const),
      ),
  },
  resize: {
    build: (g, rng) => {
      const x = g.batchNorm('bn', input(g, rng, int(rng, 1, 6), false));
      const mode = pick(rng, ['nearest', 'bilinear'] as const);
      return rng.uniform() < 0.5
        ? g.resize('r', x, mode, { scale: [int(rng, 1, 4), int(rng, 1, 4)] })
        : g.resize('r', x, mode, { size: [int(rng, 1, 19), int(rng, 1, 19)] });
    },
  },
  unpool: { build: (g, rng) => g.unpool('unpool', g.batchNorm('bn', input(g, rng, int(rng, 1, 6), false))) },
  pixelShuffle: {
    build: (g, rng) => {
      const x = input(g, rng, 4 * int(rng, 1, 3), false);
      // Either folded into the producing conv's weights, or reordered at run time.
      if (rng.uniform() < 0.5) return g.pixelShuffle('shuffle', g.batchNorm('bn', x));
      const conv = g.conv2d('conv', x, { outChannels: 4 * int(rng, 1, 3), kernel: 3, pads: 1, bias: true });
      return g.pixelShuffle('shuffle', rng.uniform() < 0.5 ? g.relu('conv_relu', conv) : conv);
    },
  },
  maxPool: {
    build: (g, rng) => {
      const kernel: [number, number] = [int(rng, 1, 4), int(rng, 1, 4)];
      const pads = [0, 1, 2, 3].map((i) => int(rng, 0, kernel[i % 2 === 0 ? 0 : 1] - 1)) as [
        number,
        number,
        number,
        number,
      ];
      return g.maxPool('pool', g.batchNorm('bn', input(g, rng)), { kernel, stride: pick(rng, [1, 2]), pads });
    },
  },
  // Gain 8 puts values past the bends at -3 and 3.
  sigmoid: { gain: 8, build: (g, rng) => g.sigmoid('s', g.batchNorm('bn', input(g, rng))) },
  hardSigmoid: { gain: 8, build: (g, rng) => g.hardSigmoid('hs', g.batchNorm('bn', input(g, rng))) },
  hardSwish: { gain: 8, build: (g, rng) => g.hardSwish('hw', g.batchNorm('bn', input(g, rng))) },
  clip: { gain: 8, build: (g, rng) => g.clip('c', g.batchNorm('bn', input(g, rng)), -1.5, 2) },
  mul: {
    build: (g, rng) => {
      const x = input(g, rng);
      // Squeeze-excite's per-channel gate, or a product of equal shapes.
      const gate = g.sigmoid('gate', conv1x1(g, 'excite', g.globalAvgPool('squeeze', x), x.shape[1]));
      return g.mul('m', x, rng.uniform() < 0.5 ? gate : conv1x1(g, 'c', x, x.shape[1]));
    },
  },
  avgPool2d: {
    build: (g, rng) => {
      const k = int(rng, 2, 3);
      const pads = [0, 1, 2, 3].map(() => int(rng, 0, k - 1)) as [number, number, number, number];
      return g.avgPool2d('pool', g.batchNorm('bn', input(g, rng)), {
        kernel: k,
        stride: pick(rng, [1, 2]),
        pads,
        countIncludePad: rng.uniform() < 0.5,
      });
    },
  },
  globalAvgPool: { build: (g, rng) => g.globalAvgPool('gap', g.batchNorm('bn', input(g, rng))) },
};

/** Builds the case's graph, drawing again while the random attributes do not fit. */
function caseGraph(op: OpKind, seed: number): Graph {
  const rng = new SeededRandom(seed * 7919 + op.length);
  for (let attempt = 0; attempt < 100; attempt++) {
    const g = new GraphBuilder(`case_${op}_${seed}`);
    try {
      g.output('out', CASES[op].build(g, rng));
      return g.build();
    } catch (e) {
      if (!(e instanceof GraphError)) throw e;
    }
  }
  throw new Error(`no valid random graph for ${op}`);
}

async function checkGraph(
  graph: Graph,
  seed: number,
  gain: number,
  backends: readonly BackendName[],
): Promise<void> {
  const model = randomModel(graph, seed, gain);
  const inputNode = graph.nodes[0]!;
  if (inputNode.op !== 'input') throw new Error('first node must be the input');
  const shape = inputNode.attrs.shape;
  const x = randomInput(
    shape.reduce((a, b) => a * b, 1),
    seed,
  );
  const reference = Object.values(
    execute(graph, model.weights, { [inputNode.name]: { shape, data: x } }),
  )[0]!;
  const result = emitTfjs(model);
  const mod = await importGenerated(result.source, graph.name);
  for (const backend of backends) {
    await useBackend(backend);
    const err = relativeError(runOnce(mod, result, x), reference.data);
    expect(err, `${graph.name} on ${backend}`).toBeLessThanOrEqual(TOLERANCE);
  }
}

describe('generated tfjs code matches the reference executor', () => {
  beforeAll(async () => {
    await useBackend('wasm');
  });
  afterAll(async () => {
    await useBackend('cpu');
  });

  for (const op of Object.keys(CASES) as OpKind[]) {
    it(`${op} (random shapes and attributes)`, async () => {
      const seeds = op === 'conv2d' || op === 'convTranspose2d' ? CONV_SEEDS : SEEDS;
      for (const seed of seeds)
        await checkGraph(caseGraph(op, seed), seed, CASES[op].gain ?? 1, ['cpu', 'wasm']);
    });
  }

  // The layers of the FastDepth family, on sizes where tfjs 'same' would pad differently.
  const FIXED: Record<string, (g: GraphBuilder, x: Tensor) => Tensor> = {
    'conv 3x3 stride 2 pad 1 + BN + relu6': (g, x) =>
      g.relu6(
        'c_relu',
        g.batchNorm('c_bn', g.conv2d('c', x, { outChannels: 8, kernel: 3, stride: 2, pads: 1 })),
      ),
    'depthwise 3x3 stride 2 pad 1 + BN + relu6': (g, x) =>
      g.relu6(
        'c_relu',
        g.batchNorm('c_bn', g.conv2d('c', x, { outChannels: 4, kernel: 3, stride: 2, pads: 1, groups: 4 })),
      ),
    'depthwise 5x5 pad 2 + BN + relu, pointwise, nearest x2': (g, x) =>
      g.upsample(
        'up',
        g.conv2d(
          'pw',
          g.relu(
            'c_relu',
            g.batchNorm('c_bn', g.conv2d('c', x, { outChannels: 4, kernel: 5, pads: 2, groups: 4 })),
          ),
          { outChannels: 6, kernel: 1 },
        ),
        'nearest',
      ),
    'depthwise with channel multiplier 3': (g, x) =>
      g.conv2d('c', x, { outChannels: 12, kernel: 3, stride: 2, pads: 1, groups: 4, bias: true }),
    'deconv3: conv-transpose 3x3 stride 2 pad 1 output padding 1 + BN + relu': (g, x) =>
      g.relu(
        'c_relu',
        g.batchNorm(
          'c_bn',
          g.convTranspose2d('c', x, { outChannels: 6, kernel: 3, stride: 2, pads: 1, outputPadding: 1 }),
        ),
      ),
    'deconv5dw: depthwise conv-transpose 5x5 stride 2 pad 2 output padding 1 + BN + relu': (g, x) =>
      g.relu(
        'c_relu',
        g.batchNorm(
          'c_bn',
          g.convTranspose2d('c', x, {
            outChannels: 4,
            kernel: 5,
            stride: 2,
            pads: 2,
            outputPadding: 1,
            groups: 4,
          }),
        ),
      ),
    'upconv: unpool + 5x5 conv': (g, x) =>
      g.conv2d('c', g.unpool('unpool', x), { outChannels: 3, kernel: 5, pads: 2 }),
    'shuffle: conv + relu + pixel shuffle + 3x3 conv': (g, x) =>
      g.conv2d(
        'c2',
        g.pixelShuffle(
          'ps',
          g.relu('c_relu', g.batchNorm('c_bn', g.conv2d('c', x, { outChannels: 8, kernel: 3, pads: 1 }))),
        ),
        { outChannels: 2, kernel: 3, pads: 1 },
      ),
    'resize nearest and bilinear to odd sizes, up and down': (g, x) =>
      g.concat(
        'cat',
        g.resize('n1', g.resize('n0', x, 'nearest', { size: [17, 13] }), 'nearest', { size: [3, 5] }),
        g.resize('b1', g.resize('b0', x, 'bilinear', { scale: [3, 2] }), 'bilinear', { size: [3, 5] }),
      ),
    // PyTorch's float32 nearest indices differ from exact division at 82 rows (see nearestSourceIndex).
    'resize nearest where PyTorch reads other rows than exact division': (g, x) =>
      g.resize('n', g.resize('d', x, 'nearest', { size: [2, 3] }), 'nearest', { size: [82, 123] }),
    'max pool 3x3 stride 2 pad 1': (g, x) =>
      g.maxPool('pool', g.batchNorm('bn', x), { kernel: 3, stride: 2, pads: 1 }),
  };
  for (const [title, build] of Object.entries(FIXED)) {
    it(title, async () => {
      for (const [seed, size] of [
        [1, 8],
        [2, 10],
      ] as const) {
        const g = new GraphBuilder('fixed');
        g.output('out', build(g, g.input('input', [1, 4, size, size])));
        await checkGraph(g.build(), seed, 1, ['cpu', 'wasm']);
      }
    });
  }

  it('nearest resize gathers PyTorch rows only where its float32 indices differ from exact division', () => {
    const source = (from: [number, number], to: [number, number]): string => {
      const g = new GraphBuilder('near');
      g.output('out', g.resize('r', g.input('input', [1, 2, ...from]), 'nearest', { size: to }));
      return emitTfjs(randomModel(g.build(), 1, 1)).source;
    };
    const gathered = source([2, 3], [82, 123]);
    expect(gathered).toContain('tf.gather(');
    expect(gathered).not.toContain('resizeNearestNeighbor');
    const resized = source([5, 7], [13, 17]);
    expect(resized).toContain('tf.image.resizeNearestNeighbor(');
    expect(resized).not.toContain('tf.gather(');
  });

  it('the all-ops tiny graph', async () => {
    for (const seed of SEEDS) await checkGraph(tinyGraph(), seed, 1, ['cpu', 'wasm']);
  });

  it('relu6 clips (the relu6 case reaches values above 6)', () => {
    const graph = caseGraph('relu6', 1);
    const model = randomModel(graph, 1, 8);
    const shape = (graph.nodes[0] as Extract<Graph['nodes'][number], { op: 'input' }>).attrs.shape;
    const bn = execute(
      graph,
      model.weights,
      {
        input: {
          shape,
          data: randomInput(
            shape.reduce((a, b) => a * b, 1),
            1,
          ),
        },
      },
      { keepIntermediates: true },
    )['bn']!;
    expect(Math.max(...bn.data)).toBeGreaterThan(6);
  });
});
