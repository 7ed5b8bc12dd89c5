import {
  GraphBuilder,
  analyze,
  execute,
  initWeights,
  nodeByName,
  type Graph,
  type Tensor,
} from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import {
  basicBlock,
  bottleneck,
  deconv,
  invertedResidual,
  makeDivisible,
  separable,
  shuffle,
  upconv,
  upproj,
} from './blocks.js';

function builder(c = 8, size = 8): { g: GraphBuilder; x: Tensor } {
  const g = new GraphBuilder('block');
  return { g, x: g.input('input', [1, c, size, size]) };
}

/** Closes a block's graph with an output layer (build() requires one) and returns it. */
function finish(g: GraphBuilder, y: Tensor): Graph {
  g.output('out', y);
  return g.build();
}

describe('blocks', () => {
  it('separable: dw (groups = C, stride on dw) then pw, each with BN and the activation', () => {
    const { g, x } = builder();
    const y = separable(g, 'conv2', x, { outChannels: 16, stride: 2, act: 'relu6' });
    expect(y).toEqual({ name: 'conv2_pw_relu', shape: [1, 16, 4, 4] });
    const graph = finish(g, y);
    expect(graph.nodes.slice(0, -1).map((n) => `${n.name}:${n.op}`)).toEqual([
      'input:input',
      'conv2_dw:conv2d',
      'conv2_dw_bn:batchNorm',
      'conv2_dw_relu:relu6',
      'conv2_pw:conv2d',
      'conv2_pw_bn:batchNorm',
      'conv2_pw_relu:relu6',
    ]);
    const dw = nodeByName(graph).get('conv2_dw');
    expect(dw?.op === 'conv2d' && [dw.attrs.groups, dw.attrs.stride[0], dw.attrs.pads[0]]).toEqual([8, 2, 1]);
  });

  it('deconvK[dw] exactly doubles the size for K = 3, 5, 7, 9', () => {
    for (const kernel of [3, 5, 7, 9]) {
      for (const depthwise of [false, true]) {
        const { g, x } = builder();
        const y = deconv(g, 'd', x, { outChannels: 4, kernel, depthwise });
        expect(y.shape, `${kernel} ${depthwise}`).toEqual([1, 4, 16, 16]);
        const t = nodeByName(finish(g, y)).get(depthwise ? 'd_dw' : 'd');
        expect(t?.op).toBe('convTranspose2d');
        if (t?.op === 'convTranspose2d') {
          expect(t.attrs.groups).toBe(depthwise ? 8 : 1);
          expect(t.attrs.outputPadding).toEqual([kernel % 2, kernel % 2]);
          expect(t.attrs.pads[0]).toBe((kernel - 1) / 2);
        }
      }
    }
  });

  it('upconv and upproj unpool first; upproj adds a 5x5-3x3 branch to a 5x5 branch', () => {
    const a = builder();
    expect(upconv(a.g, 'u', a.x, { outChannels: 4 }).shape).toEqual([1, 4, 16, 16]);
    const b = builder();
    const p = upproj(b.g, 'p', b.x, { outChannels: 4 });
    expect(p).toEqual({ name: 'p_relu', shape: [1, 4, 16, 16] });
    const byName = nodeByName(finish(b.g, p));
    expect(byName.get('p_add')?.inputs).toEqual(['p_upper_bn2', 'p_bottom_bn']);
    expect(byName.get('p_upper_conv1')?.inputs).toEqual(['p_unpool']);
    expect(byName.get('p_bottom_conv')?.inputs).toEqual(['p_unpool']);
    const k = byName.get('p_upper_conv2');
    expect(k?.op === 'conv2d' && k.attrs.kernel).toEqual([3, 3]);
  });

  it('shuffle quarters the channels before the conv', () => {
    const { g, x } = builder(16);
    const y = shuffle(g, 's', x, { outChannels: 4, kernel: 3, depthwise: true });
    expect(y).toEqual({ name: 's_pw_relu', shape: [1, 4, 16, 16] });
    expect(nodeByName(finish(g, y)).get('s_dw')?.inputs).toEqual(['s_shuffle']);
  });

  it('ResNet blocks add a 1x1 downsample only when the shape changes', () => {
    const a = builder(64, 8);
    const ya = basicBlock(a.g, 'layer1_0', a.x, 64, 1);
    const b = builder(64, 8);
    const y = basicBlock(b.g, 'layer2_0', b.x, 128, 2);
    expect(y.shape).toEqual([1, 128, 4, 4]);
    expect(nodeByName(finish(a.g, ya)).has('layer1_0_downsample_0')).toBe(false);
    expect(nodeByName(finish(b.g, y)).get('layer2_0_add')?.inputs).toEqual([
      'layer2_0_bn2',
      'layer2_0_downsample_1',
    ]);
    const c = builder(64, 8);
    const z = bottleneck(c.g, 'layer1_0', c.x, 64, 1);
    const stats = analyze(finish(c.g, z));
    // torchvision resnet50 layer1[0]: 4096 + 36864 + 16384 + downsample 16384 conv weights.
    expect(stats.convWeights).toBe(4096 + 36864 + 16384 + 16384);
    expect(z.shape).toEqual([1, 256, 8, 8]);
  });
});

describe('mobile blocks: inverted residual and squeeze-excite', () => {
  it("a MobileNetV3 block has torchvision's parameter count and shapes", () => {
    const g = new GraphBuilder('v3_block');
    const x = g.input('input', [1, 16, 32, 32]);
    // torchvision InvertedResidualConfig(16, 3, 64, 24, use_se=True, 'HS', stride 2):
    // expand 16*64 + BN 128, dw 64*9 + BN 128, SE 64->16->64 with biases (1040 + 1088),
    // project 64*24 + BN 48 = 5568 trainable parameters.
    const y = invertedResidual(g, 'block', x, {
      outChannels: 24,
      expandRatio: 4,
      stride: 2,
      act: 'hardSwish',
      squeezeExcite: true,
    });
    g.output('out', y);
    const graph = g.build();
    expect(y.shape).toEqual([1, 24, 16, 16]);
    expect(analyze(graph).params).toBe(5568);
    const ops = graph.nodes.map((n) => n.op);
    expect(ops).toContain('globalAvgPool');
    expect(ops).toContain('hardSigmoid');
    expect(ops).toContain('mul');
    expect(ops).toContain('hardSwish');
    expect(ops).not.toContain('add'); // stride 2: no residual
  });

  it('adds the residual when stride is 1 and widths match; skips expansion at ratio 1', () => {
    const g = new GraphBuilder('v2_block');
    const x = g.input('input', [1, 32, 8, 8]);
    const y = invertedResidual(g, 'b', x, { outChannels: 32, expandRatio: 1, act: 'relu6' });
    g.output('out', y);
    const graph = g.build();
    expect(graph.nodes.map((n) => n.name)).toEqual(
      expect.arrayContaining(['b_dw', 'b_project', 'b_add']) as string[],
    );
    expect(graph.nodes.some((n) => n.name === 'b_expand')).toBe(false);
    const out = execute(graph, initWeights(graph, 1), {
      input: { shape: [1, 32, 8, 8], data: new Float32Array(32 * 64).fill(0.5) },
    }).out!;
    expect(out.data.some((v) => v !== 0.5)).toBe(true);
  });

  it('makeDivisible rounds like torchvision', () => {
    expect([
      makeDivisible(16),
      makeDivisible(10),
      makeDivisible(3),
      makeDivisible(37),
      makeDivisible(100),
    ]).toEqual([16, 16, 8, 40, 104]);
  });
});
