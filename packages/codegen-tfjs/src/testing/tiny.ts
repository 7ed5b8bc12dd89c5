/** Small test graphs for the tfjs emitter (test-only; not part of the build). */
import {
  GraphBuilder,
  initWeights,
  SeededRandom,
  type Graph,
  type Model,
  type TensorF32,
} from '@fastdepth/graph-dsl';

/**
 * Random weights for every parameter, with BN statistics far from the identity (gamma, beta,
 * mean spread out, variance in [0.5, 2]), so folding errors show. `gain` scales conv weights and
 * BN gammas (to push values past relu6's 6).
 */
export function randomModel(graph: Graph, seed: number, gain = 1): Model {
  const rng = new SeededRandom(seed);
  const weights = new Map<string, TensorF32>();
  for (const [name, t] of initWeights(graph, seed)) {
    const data = new Float32Array(t.data.length);
    const suffix = name.slice(name.lastIndexOf('.') + 1);
    for (let i = 0; i < data.length; i++) {
      if (suffix === 'running_var') data[i] = 0.5 + 1.5 * rng.uniform();
      else if (suffix === 'running_mean' || suffix === 'bias') data[i] = rng.normal() * 0.3;
      else if (t.shape.length === 1) data[i] = (0.5 + rng.uniform()) * gain;
      else data[i] = t.data[i]! * gain;
    }
    weights.set(name, { shape: t.shape, data });
  }
  return { graph, weights };
}

/**
 * One graph that exercises every op and every emitter path: folded BN with fused relu6 /
 * relu, depthwise, grouped, asymmetric pads, unfoldable BN, max pool with pads, conv-transpose
 * (dense, depthwise, grouped), both upsamplings, unpool, pixel shuffle folded into the weights
 * and at run time, add, concat.
 */
export function tinyGraph(): Graph {
  const g = new GraphBuilder('tiny');
  const x = g.input('input', [1, 3, 16, 16]);
  const c0 = g.relu6(
    'conv0_relu',
    g.batchNorm('conv0_bn', g.conv2d('conv0', x, { outChannels: 8, kernel: 3, stride: 2, pads: 1 })),
  );
  const dw = g.relu(
    'dw_relu',
    g.batchNorm('dw_bn', g.conv2d('dw', c0, { outChannels: 8, kernel: 3, pads: 1, groups: 8 })),
  );
  const pw = g.conv2d('pw', dw, { outChannels: 8, kernel: 1, bias: true });
  const gc = g.conv2d('gconv', c0, { outChannels: 8, kernel: 3, pads: [1, 0, 1, 2], groups: 2 });
  const dwa = g.conv2d('dw_asym', gc, { outChannels: 16, kernel: 2, pads: [0, 0, 1, 1], groups: 8 });
  const sum = g.add('sum', pw, gc);
  const bn = g.batchNorm('sum_bn', sum);
  const pool = g.maxPool('pool', bn, { kernel: 3, stride: 2, pads: 1 });
  const up = g.relu(
    'up_relu',
    g.batchNorm(
      'up_bn',
      g.convTranspose2d('up', pool, { outChannels: 8, kernel: 3, stride: 2, pads: 1, outputPadding: 1 }),
    ),
  );
  const dwt = g.convTranspose2d('dwt', up, {
    outChannels: 8,
    kernel: 4,
    stride: 2,
    pads: 1,
    groups: 8,
    bias: true,
  });
  const gt = g.convTranspose2d('gt', up, { outChannels: 8, kernel: 2, stride: 2, groups: 2 });
  const near = g.upsample('near', dwa, 'nearest');
  const bil = g.upsample('bil', bn, 'bilinear');
  const unp = g.unpool('unp', c0);
  const shufConv = g.relu(
    'shuf_conv_relu',
    g.conv2d('shuf_conv', bn, { outChannels: 16, kernel: 3, pads: 1 }),
  );
  const shuf = g.pixelShuffle('shuf', shufConv);
  const shuf2 = g.pixelShuffle('shuf_rt', dwa);
  const cat = g.concat('cat', dwt, gt, near, bil, unp, shuf, shuf2);
  const head = g.relu('head_relu', g.conv2d('head', cat, { outChannels: 1, kernel: 1, bias: true }));
  g.output('depth', head);
  return g.build();
}
