/**
 * Beyond the two published networks: NetAdapt-style widths that are not multiples of 4 (every
 * padded lane through the skip adds), a non-square input, the ablations the wasm target compiles
 * (MobileNet + NNConv decoders, depthwise or dense, with or without skip adds), and the clear
 * error for one it does not (concatenated skips).
 */
import { buildArch, fastdepth } from '@fastdepth/fastdepth-arch';
import { GraphBuilder, GraphError, type Graph } from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { emitWasm } from './emit.js';
import { instantiate, randomInput, reference, relativeError, seededWeights } from './testing/harness.js';

async function expectParity(graph: Graph): Promise<void> {
  const weights = seededWeights(graph, 5);
  const artifact = emitWasm({ graph, weights }, { optimizeLevel: 2 });
  const x = randomInput(artifact.manifest.input.shape, 6);
  const out = (await instantiate(artifact, 'simd')).runSingleThread(x);
  const { rel, maxAbs } = relativeError(out, reference(graph, weights, x));
  expect(maxAbs).toBeGreaterThan(1e-2);
  expect(rel).toBeLessThan(1e-4);
}

describe('the FastDepth family on the wasm target', () => {
  it('odd NetAdapt widths (not multiples of 4), 64x96 input', async () => {
    const graph = fastdepth({
      inputSize: [64, 96],
      widths: {
        encoder: [7, 13, 10, 21, 9, 15, 11, 6, 5, 7, 9, 3, 17, 10],
        decoder: [9, 15, 21, 13, 5],
      },
    });
    await expectParity(graph);
  });

  it.each(['mobilenet-nnconv5dw', 'mobilenet-nnconv3-skipadd', 'mobilenet-nnconv7dw-skipadd'])(
    '%s at 64x64',
    async (arch) => {
      await expectParity(buildArch(arch, { inputSize: 64 }));
    },
  );

  it.each([
    ['mobilenet-nnconv5dw-skipconcat', /layer "skip2_concat"/],
    ['mobilenet-deconv5dw', /layer "decode_conv1_dw".*convTranspose2d/],
    ['resnet18-nnconv5dw-skipadd', /layer "maxpool"/],
  ])('%s: a GraphError naming the layers it cannot compile', (arch, message) => {
    const graph = buildArch(arch, { inputSize: 64 });
    const weights = seededWeights(graph, 1);
    expect(() => emitWasm({ graph, weights })).toThrow(GraphError);
    expect(() => emitWasm({ graph, weights })).toThrow(message);
  });

  it('names every layer without a kernel in one error, not only the first', () => {
    const g = new GraphBuilder('mobile');
    const x = g.input('input', [1, 8, 8, 8]);
    const act = g.hardSwish('act', g.conv2d('c', x, { outChannels: 8, kernel: 1 }));
    const gate = g.hardSigmoid(
      'gate',
      g.conv2d('e', g.globalAvgPool('pool', act), { outChannels: 8, kernel: 1 }),
    );
    g.output('out', g.upsample('up', g.mul('scale', act, gate), 'bilinear'));
    const graph = g.build();
    expect(() => emitWasm({ graph, weights: seededWeights(graph, 1) })).toThrow(
      'layer "act": the wasm target has no kernel yet for these 5 layers: "act" (hardSwish), "pool" (globalAvgPool), "gate" (hardSigmoid), "scale" (mul), "up" (bilinear upsample) (supported: ',
    );
  });
});
