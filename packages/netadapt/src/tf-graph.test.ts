import { buildArch } from '@fastdepth/fastdepth-arch';
import {
  execute,
  GraphBuilder,
  initWeights,
  maxRelativeError,
  randomizeBatchNorm,
  randomTensor,
  type Graph,
} from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { tf, useTfBackend } from './tf-backend.js';
import { nchwToNhwcTensor, TfGraph } from './tf-graph.js';
import { withInputShape } from './train.js';

function allOps(): Graph {
  const g = new GraphBuilder('all_ops');
  const x = g.input('input', [1, 3, 8, 8]);
  const a = g.relu6(
    'a_relu',
    g.batchNorm('a_bn', g.conv2d('a', x, { outChannels: 8, kernel: 3, pads: 1, bias: true })),
  );
  const p = g.maxPool('pool', a, { kernel: 3, stride: 2, pads: 1 });
  const t = g.convTranspose2d('t', p, { outChannels: 8, kernel: 3, stride: 2, pads: 1, outputPadding: 1 });
  const dt = g.convTranspose2d('dt', t, { outChannels: 8, kernel: 3, stride: 1, pads: 1, groups: 8 });
  const u = g.unpool('unpool', g.conv2d('b', dt, { outChannels: 4, kernel: 1, stride: 2 }));
  const c = g.concat('cat', u, g.relu('r', dt));
  const d = g.conv2d('dw', c, { outChannels: 12, kernel: 5, pads: 2, groups: 12 });
  const s = g.pixelShuffle('shuffle', g.conv2d('e', d, { outChannels: 16, kernel: 1 }));
  const up = g.upsample('bl', s, 'bilinear');
  const nn = g.upsample('nn', g.maxPool('pool2', up, { kernel: 2 }), 'nearest');
  const sum = g.add('sum', up, nn);
  // The mobile-network ops: activations, squeeze-excite's gate and product, average pools.
  // Resizes to odd sizes and back: nearest through gathers, bilinear through resizeBilinear.
  const odd = g.resize('rs_near', sum, 'nearest', { size: [11, 7] });
  const back = g.resize('rs_bil', odd, 'bilinear', { size: [sum.shape[2], sum.shape[3]] });
  const act = g.clip('clip', g.hardSwish('hswish', g.sigmoid('sig', back)), 0.1, 0.6);
  const gate = g.hardSigmoid(
    'gate',
    g.conv2d('excite', g.globalAvgPool('gap', act), { outChannels: 4, kernel: 1, bias: true }),
  );
  const scaled = g.mul('scale', act, gate);
  g.output('out', g.avgPool2d('avg', scaled, { kernel: 3, stride: 1, pads: 1, countIncludePad: false }));
  return g.build();
}

async function check(graph: Graph): Promise<number> {
  await useTfBackend('cpu');
  const weights = randomizeBatchNorm(graph, initWeights(graph, 5), 6);
  const inShape = graph.nodes[0]!.op === 'input' ? graph.nodes[0].attrs.shape : [1, 3, 8, 8];
  const input = randomTensor(inShape, 2);
  const ref = Object.values(execute(graph, weights, { input }))[0]!;
  const net = new TfGraph({ graph, weights });
  const y = tf.tidy(() => {
    const out = net.forward(nchwToNhwcTensor(input.data, inShape));
    return tf.transpose(out, [0, 3, 1, 2]);
  });
  const err = maxRelativeError(await y.data(), ref.data);
  // toWeights gives back exactly what went in (layouts round-trip)
  const back = net.toWeights();
  const mismatched = [...weights].filter(([name, t]) => {
    const b = back.get(name)!.data;
    return b.length !== t.data.length || b.some((v, i) => v !== t.data[i]);
  });
  expect(mismatched.map(([name]) => name)).toEqual([]);
  y.dispose();
  net.dispose();
  return err;
}

describe('TfGraph', () => {
  it('matches the reference executor on every op', async () => {
    expect(await check(allOps())).toBeLessThan(1e-4);
  });
  it('matches the reference executor on fastdepth', async () => {
    expect(await check(buildArch('fastdepth', { inputSize: 32 }))).toBeLessThan(1e-4);
  });
});

describe('TfGraph gradients', () => {
  it('flow through both resize modes to the conv before them', async () => {
    await useTfBackend('cpu');
    for (const mode of ['nearest', 'bilinear'] as const) {
      const g = new GraphBuilder('rs');
      const c = g.conv2d('c', g.input('input', [1, 2, 5, 7]), { outChannels: 3, kernel: 3, pads: 1 });
      g.output('out', g.resize('r', c, mode, { size: [13, 4] }));
      const graph = g.build();
      const net = new TfGraph({ graph, weights: initWeights(graph, 1) });
      const x = nchwToNhwcTensor(randomTensor([1, 2, 5, 7], 4).data, [1, 2, 5, 7]);
      const { grads } = tf.variableGrads(() => tf.mean(tf.square(net.forward(x))), net.variables);
      const gw = await grads[net.variables[0]!.name]!.data();
      expect(gw.every(Number.isFinite)).toBe(true);
      expect(gw.some((v) => v !== 0)).toBe(true);
      tf.dispose([x, ...Object.values(grads)]);
      net.dispose();
    }
  });

  it('are the same on wasm as on cpu for fastdepth (L1 loss, every variable)', async () => {
    const graph = withInputShape(buildArch('fastdepth', { inputSize: 32 }), [2, 3, 32, 32]);
    const weights = randomizeBatchNorm(graph, initWeights(graph, 5), 6);
    const input = randomTensor([2, 3, 32, 32], 2);
    const target = randomTensor([2, 32, 32, 1], 3);
    const run = async (backend: 'cpu' | 'wasm'): Promise<Float32Array[]> => {
      await useTfBackend(backend);
      const net = new TfGraph({ graph, weights });
      const x = nchwToNhwcTensor(input.data, input.shape);
      const y = tf.tensor4d(Float32Array.from(target.data), [2, 32, 32, 1]);
      const { grads } = tf.variableGrads(() => tf.mean(tf.abs(tf.sub(net.forward(x), y))), net.variables);
      const out = await Promise.all(
        net.variables.map(async (v) => Float32Array.from(await grads[v.name]!.data())),
      );
      tf.dispose([x, y, ...Object.values(grads)]);
      net.dispose();
      return out;
    };
    const ref = await run('cpu');
    const got = await run('wasm');
    // Relative to the largest gradient of each variable; the L1 loss's sign() makes tiny
    // forward differences flip a few terms, so allow 1e-3 here (per-op checks are at 1e-4).
    let worst = 0;
    ref.forEach((r, k) => {
      let scale = 1e-12;
      let diff = 0;
      for (let i = 0; i < r.length; i++) {
        scale = Math.max(scale, Math.abs(r[i]!));
        diff = Math.max(diff, Math.abs(r[i]! - got[k]![i]!));
      }
      worst = Math.max(worst, diff / scale);
    });
    expect(ref.length).toBeGreaterThan(50);
    expect(worst).toBeLessThan(1e-3);
  });
});
