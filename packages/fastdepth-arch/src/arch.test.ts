import {
  FastDepthError,
  SIZE_CAPS,
  analyze,
  execute,
  inferShapes,
  initWeights,
  nodeByName,
  validateGraph,
  type Graph,
} from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import {
  FASTDEPTH_PRUNED_WIDTHS,
  FASTDEPTH_SKIP_TIES,
  FASTDEPTH_WIDTHS,
  buildArch,
  fastdepth,
  resolveInputSize,
} from './arch.js';
import { ARCH_NAMES } from './names.js';

function bnParams(graph: Graph): number {
  return analyze(graph)
    .layers.filter((l) => l.op === 'batchNorm')
    .reduce((a, l) => a + l.params, 0);
}

/** Every layer name of FastDepth, written out from FASTDEPTH.md rather than from the code. */
function expectedFastDepthNames(): string[] {
  const names = ['input', 'conv0', 'conv0_bn', 'conv0_relu'];
  const sep = (p: string): string[] =>
    ['dw', 'pw'].flatMap((s) => [`${p}_${s}`, `${p}_${s}_bn`, `${p}_${s}_relu`]);
  for (let i = 1; i <= 13; i++) names.push(...sep(`conv${i}`));
  for (let k = 1; k <= 5; k++) {
    names.push(...sep(`decode_conv${k}`), `decode_conv${k}_up`);
    if (k >= 2 && k <= 4) names.push(`skip${k}_add`);
  }
  names.push('decode_conv6', 'decode_conv6_bn', 'decode_conv6_relu', 'depth');
  return names;
}

describe('FastDepth sizes (exact, FASTDEPTH.md section 2)', () => {
  it('unpruned: 736,658,944 MACs, 3,933,088 conv weights, 27,842 BN parameters', () => {
    const stats = analyze(buildArch('fastdepth'));
    expect(stats.macs).toBe(736_658_944);
    expect(stats.convWeights).toBe(3_933_088);
    expect(bnParams(buildArch('fastdepth'))).toBe(27_842);
    expect(stats.params).toBe(3_933_088 + 27_842);
    expect(stats.outputShape).toEqual([1, 1, 224, 224]);
  });

  it('pruned: 366,393,384 MACs, 1,343,664 conv weights, 17,122 BN parameters', () => {
    const graph = buildArch('fastdepth-pruned');
    const stats = analyze(graph);
    expect(stats.macs).toBe(366_393_384);
    expect(stats.convWeights).toBe(1_343_664);
    expect(stats.params).toBe(1_343_664 + 17_122);
    expect(bnParams(graph)).toBe(17_122);
  });

  it('MobileNet-NNConv5 with full 5x5 decoder convs: 3,780,585,984 MACs, 20,644,320 conv weights', () => {
    const stats = analyze(buildArch('mobilenet-nnconv5'));
    expect(stats.macs).toBe(3_780_585_984);
    expect(stats.convWeights).toBe(20_644_320);
  });

  it('ResNet encoders match torchvision parameter counts (less the classifier) and MACs', () => {
    // torchvision: resnet18 11,689,512 - fc 513,000; resnet34 21,797,672 - 513,000;
    // resnet50 25,557,032 - 2,049,000. MACs 1.81 G / 3.66 G / 4.09 G at 224.
    const expected: Record<string, [number, number]> = {
      resnet18: [11_176_512, 1_813_561_344],
      resnet34: [21_284_672, 3_663_249_408],
      resnet50: [23_508_032, 4_087_136_256],
    };
    for (const [encoder, [params, macs]] of Object.entries(expected)) {
      const layers = analyze(buildArch(`${encoder}-nnconv5`)).layers;
      const backbone = layers.slice(
        0,
        layers.findIndex((l) => l.name === 'conv2'),
      );
      expect(backbone.reduce((a, l) => a + l.params, 0)).toBe(params);
      expect(backbone.reduce((a, l) => a + l.macs, 0)).toBe(macs);
    }
  });
});

describe('FastDepth structure', () => {
  it('declares exactly the layers of FASTDEPTH.md, in order', () => {
    expect(buildArch('fastdepth').nodes.map((n) => n.name)).toEqual(expectedFastDepthNames());
    expect(buildArch('fastdepth-pruned').nodes.map((n) => n.name)).toEqual(expectedFastDepthNames());
  });

  it('uses ReLU6 in the encoder, ReLU in the decoder, 5x5 depthwise decoder convs, bias-free convs', () => {
    for (const node of buildArch('fastdepth').nodes) {
      if (node.name.endsWith('_relu')) {
        expect(node.op, node.name).toBe(node.name.startsWith('conv') ? 'relu6' : 'relu');
      }
      if (node.op === 'conv2d') {
        expect(node.attrs.bias, node.name).toBe(false);
        if (/^decode_conv[1-5]_dw$/.test(node.name)) {
          expect(node.attrs.kernel).toEqual([5, 5]);
          expect(node.attrs.pads).toEqual([2, 2, 2, 2]);
        }
      }
      if (node.op === 'batchNorm') expect(node.attrs.epsilon).toBe(1e-5);
      if (node.op === 'upsample') expect(node.attrs.mode).toBe('nearest');
    }
    const byName = nodeByName(buildArch('fastdepth'));
    const strided = [...byName.values()].filter((n) => n.op === 'conv2d' && n.attrs.stride[0] === 2);
    expect(strided.map((n) => n.name)).toEqual(['conv0', 'conv2_dw', 'conv4_dw', 'conv6_dw', 'conv12_dw']);
  });

  it('ties conv1/conv3/conv5 to decode_conv4/3/2 through skip4/3/2_add', () => {
    const byName = nodeByName(buildArch('fastdepth'));
    expect(byName.get('skip4_add')?.inputs).toEqual(['decode_conv4_up', 'conv1_pw_relu']);
    expect(byName.get('skip3_add')?.inputs).toEqual(['decode_conv3_up', 'conv3_pw_relu']);
    expect(byName.get('skip2_add')?.inputs).toEqual(['decode_conv2_up', 'conv5_pw_relu']);
    for (const tie of FASTDEPTH_SKIP_TIES) {
      expect(byName.get(tie.add)?.inputs).toEqual([`${tie.decoder}_up`, `${tie.encoder}_pw_relu`]);
      expect(FASTDEPTH_WIDTHS.encoder[tie.encoderIndex]).toBe(FASTDEPTH_WIDTHS.decoder[tie.decoderIndex]);
      expect(FASTDEPTH_PRUNED_WIDTHS.encoder[tie.encoderIndex]).toBe(
        FASTDEPTH_PRUNED_WIDTHS.decoder[tie.decoderIndex],
      );
    }
    expect(byName.get('decode_conv5_up')?.inputs).toEqual(['decode_conv5_pw_relu']);
    expect(byName.get('decode_conv6')?.inputs).toEqual(['decode_conv5_up']);
  });

  it('is the same graph as mobilenet-nnconv5dw-skipadd (only the names differ)', () => {
    const a = buildArch('fastdepth');
    const b = buildArch('mobilenet-nnconv5dw-skipadd');
    expect([a.name, a.meta?.arch]).toEqual(['fastdepth', 'fastdepth']);
    expect([b.name, b.meta?.arch]).toEqual(['mobilenet-nnconv5dw-skipadd', 'mobilenet-nnconv5dw-skipadd']);
    expect({ ...b, name: 'fastdepth', meta: { ...b.meta, arch: 'fastdepth' } }).toEqual(a);
    expect(JSON.stringify(fastdepth().nodes)).toBe(JSON.stringify(a.nodes));
  });

  it('records arch, input size and widths in meta', () => {
    const g = buildArch('fastdepth-pruned', { inputSize: [256, 320] });
    expect(g.meta).toMatchObject({
      arch: 'fastdepth-pruned',
      inputSize: '256x320',
      inputHeight: 256,
      inputWidth: 320,
    });
    expect(JSON.parse(String(g.meta?.widths))).toEqual(FASTDEPTH_PRUNED_WIDTHS);
    expect(buildArch('resnet18-upconv').meta).toEqual({
      arch: 'resnet18-upconv',
      inputSize: '224x224',
      inputHeight: 224,
      inputWidth: 224,
    });
    expect(fastdepth({ name: 'netadapt_iter3' }).name).toBe('netadapt_iter3');
  });
});

describe('input size', () => {
  it('gives a 1x1xHxW depth map for any multiple of 32', () => {
    expect(analyze(buildArch('fastdepth', { inputSize: [256, 320] })).outputShape).toEqual([1, 1, 256, 320]);
    expect(analyze(buildArch('resnet50-upproj-skipadd', { inputSize: [256, 320] })).outputShape).toEqual([
      1, 1, 256, 320,
    ]);
    expect(analyze(fastdepth({ inputSize: 64 })).inputShape).toEqual([1, 3, 64, 64]);
  });

  it('rejects sizes that are not positive multiples of 32, naming the option and value', () => {
    expect(() => buildArch('fastdepth', { inputSize: 100 })).toThrow(FastDepthError);
    expect(() => buildArch('fastdepth', { inputSize: 100 })).toThrow(
      /^inputSize: .*multiple of 32.*found 100$/,
    );
    expect(() => buildArch('fastdepth', { inputSize: [224, 200] })).toThrow(/inputSize: .*found \[224,200\]/);
    expect(() => resolveInputSize(0)).toThrow(/inputSize/);
    expect(() => resolveInputSize(-32)).toThrow(/inputSize/);
    expect(() => resolveInputSize(32.5)).toThrow(/inputSize/);
    expect(resolveInputSize()).toEqual([224, 224]);
    expect(resolveInputSize([32, 64])).toEqual([32, 64]);
  });
});

describe('widths', () => {
  it('builds any width vector that respects the ties', () => {
    const widths = {
      encoder: [8, 24, 40, 16, 48, 32, 56, 64, 72, 80, 88, 96, 104, 112],
      decoder: [40, 32, 16, 24, 8],
    };
    const graph = validateGraph(fastdepth({ widths, inputSize: 64 }));
    const byName = nodeByName(graph);
    const conv7 = byName.get('conv7_pw');
    expect(conv7?.op === 'conv2d' && conv7.attrs.outChannels).toBe(64);
    const dw = byName.get('decode_conv1_dw');
    expect(dw?.op === 'conv2d' && dw.attrs.groups).toBe(112);
    expect(JSON.parse(String(graph.meta?.widths))).toEqual(widths);
  });

  it('checks the skip ties first and names both layers', () => {
    const widths = { encoder: FASTDEPTH_WIDTHS.encoder, decoder: [512, 200, 128, 64, 32] };
    expect(() => fastdepth({ widths })).toThrow(FastDepthError);
    expect(() => fastdepth({ widths })).toThrow(
      'widths: conv5 (256) and decode_conv2 (200) are tied by skip add skip2_add and must be equal',
    );
    const enc = [...FASTDEPTH_WIDTHS.encoder];
    enc[1] = 48;
    expect(() => fastdepth({ widths: { encoder: enc, decoder: FASTDEPTH_WIDTHS.decoder } })).toThrow(
      'widths: conv1 (48) and decode_conv4 (64) are tied by skip add skip4_add and must be equal',
    );
  });

  it('rejects non-positive or fractional widths and wrong lengths, naming the index and layer', () => {
    const enc = [...FASTDEPTH_WIDTHS.encoder];
    enc[7] = 0;
    expect(() => fastdepth({ widths: { encoder: enc, decoder: FASTDEPTH_WIDTHS.decoder } })).toThrow(
      'widths.encoder[7] (conv7) must be a positive integer, found 0',
    );
    expect(() =>
      fastdepth({ widths: { encoder: FASTDEPTH_WIDTHS.encoder, decoder: [512, 256, 128, 64, 2.5] } }),
    ).toThrow('widths.decoder[4] (decode_conv5) must be a positive integer, found 2.5');
    expect(() => fastdepth({ widths: { encoder: [32, 64], decoder: FASTDEPTH_WIDTHS.decoder } })).toThrow(
      'widths.encoder must list 14 widths (conv0..conv13), found 2 entries',
    );
  });
});

describe('the family', () => {
  it('builds every name at 224; each validates and ends in a 1x1x224x224 depth map', () => {
    for (const name of ARCH_NAMES) {
      const graph = validateGraph(buildArch(name));
      const stats = analyze(graph);
      expect(stats.inputShape, name).toEqual([1, 3, 224, 224]);
      expect(stats.outputShape, name).toEqual([1, 1, 224, 224]);
      expect(graph.nodes.at(-1)?.name).toBe('depth');
      expect(graph.nodes.at(-2)?.name).toBe('decode_conv6_relu');
    }
  });

  it("builds every name within graph-dsl's size caps at the CLI's largest input, 4096x4096", () => {
    let largest = 0;
    for (const name of ARCH_NAMES) {
      // The builder and inferShapes both check SIZE_CAPS; this passing is the check.
      const shapes = inferShapes(buildArch(name, { inputSize: 4096 }));
      for (const s of shapes.values()) largest = Math.max(largest, s[0] * s[1] * s[2] * s[3]);
    }
    // The caps are generous but not loose: the widest tensor of the family sits at the cap.
    expect(largest).toBe(SIZE_CAPS.elements);
  });

  it('throws on unknown names with a suggestion', () => {
    expect(() => buildArch('resnet50-upprj')).toThrow(FastDepthError);
    expect(() => buildArch('resnet50-upprj')).toThrow(
      /^unknown architecture "resnet50-upprj" \(did you mean "resnet50-upproj".*`fastdepth list`/,
    );
  });

  it('projects encoder skips with a lateral 1x1 conv + BN only where the widths differ', () => {
    const byName = nodeByName(buildArch('resnet18-nnconv5-skipadd'));
    // layer2 (128) -> decode_conv2 (256), layer1 (64) -> decode_conv3 (128), stem relu (64) = decode_conv4 (64).
    expect(byName.get('skip2_proj')?.inputs).toEqual(['layer2_1_relu']);
    expect(byName.get('skip2_add')?.inputs).toEqual(['decode_conv2_up', 'skip2_proj_bn']);
    expect(byName.get('skip3_proj')?.inputs).toEqual(['layer1_1_relu']);
    expect(byName.has('skip4_proj')).toBe(false);
    expect(byName.get('skip4_add')?.inputs).toEqual(['decode_conv4_up', 'relu']);
    const shuffle = nodeByName(buildArch('mobilenet-shuffle3-skipadd'));
    expect(shuffle.get('skip4_proj_bn')?.inputs).toEqual(['skip4_proj']);
    expect(
      [...nodeByName(buildArch('mobilenet-deconv3-skipadd')).keys()].some((n) => n.includes('proj')),
    ).toBe(false);
  });

  it('concatenates skips after the decoder output, widening the next block', () => {
    const graph = buildArch('mobilenet-nnconv5-skipconcat');
    const byName = nodeByName(graph);
    expect(byName.get('skip2_concat')?.inputs).toEqual(['decode_conv2_up', 'conv5_pw_relu']);
    const layers = new Map(analyze(graph).layers.map((l) => [l.name, l]));
    expect(layers.get('skip2_concat')?.shape).toEqual([1, 512, 28, 28]);
    expect(layers.get('skip4_concat')?.shape).toEqual([1, 128, 112, 112]);
    // decode_conv5 reads the widened 128 channels: 32 x 128 x 5 x 5 weights.
    expect(layers.get('decode_conv5')?.shape).toEqual([1, 32, 112, 112]);
    expect(layers.get('decode_conv5')?.convWeights).toBe(32 * 128 * 25);
  });

  it('keeps the authors layer names for ResNet-50 (torchvision with _ for .)', () => {
    const names = new Set(buildArch('resnet50-deconv3').nodes.map((n) => n.name));
    for (const n of [
      'conv1',
      'bn1',
      'relu',
      'maxpool',
      'layer1_0_conv3',
      'layer1_0_downsample_0',
      'layer1_0_downsample_1',
      'layer3_5_bn3',
      'layer4_2_relu',
      'conv2',
      'bn2',
    ]) {
      expect(names.has(n), n).toBe(true);
    }
    expect(names.has('layer1_1_downsample_0')).toBe(false);
  });
});

describe('reference execution', () => {
  it('runs a 64x64 FastDepth with initialised weights to a finite, non-negative depth map', () => {
    const graph = fastdepth({ inputSize: 64 });
    const weights = initWeights(graph, 1);
    const data = Float32Array.from({ length: 3 * 64 * 64 }, (_, i) => ((i * 7919) % 256) / 255);
    const out = execute(graph, weights, { input: { shape: [1, 3, 64, 64], data } });
    const depth = out.depth!;
    expect(depth.shape).toEqual([1, 1, 64, 64]);
    expect(depth.data.every((v) => Number.isFinite(v) && v >= 0)).toBe(true);
    expect(depth.data.some((v) => v > 0)).toBe(true);
  });
});
