/**
 * Beyond the two published networks: NetAdapt-style widths that are not multiples of 4 (every
 * padded lane through the skip adds), a non-square input, the ablations the wasm target compiles
 * (MobileNet + NNConv decoders, depthwise or dense, with or without skip adds, concatenated
 * skips, transposed convs, a ResNet encoder), and the int8 build's clear error for the ops it
 * has no kernel for.
 */
import { buildArch, fastdepth } from '@fastdepth/fastdepth-arch';
import { GraphBuilder, GraphError, type Graph } from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { emitWasm } from './emit.js';
import { emitWasmInt8 } from './int8/emit.js';
import { randomQuantizedModel } from './testing/int8-reference.js';
import { instantiate, randomInput, reference, relativeError, seededWeights } from './testing/harness.js';

async function expectParity(graph: Graph, seed = 5): Promise<void> {
  const weights = seededWeights(graph, seed);
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

  // Concatenated skips, transposed-conv decoders, a ResNet stem with max pooling: the float
  // build compiles every op of the table.
  // (Seed 5 gives the ResNet an all-zero ReLU output; seed 1 does not.)
  it.each([
    ['mobilenet-nnconv5dw-skipconcat', 5],
    ['mobilenet-deconv5dw', 5],
    ['resnet18-nnconv5dw-skipadd', 1],
  ] as const)('%s at 64x64 (concat, convTranspose2d, maxPool)', async (arch, seed) => {
    await expectParity(buildArch(arch, { inputSize: 64 }), seed);
  });

  it('the int8 build names every layer without an int8 kernel in one error, not only the first', () => {
    const g = new GraphBuilder('mobile');
    const x = g.input('input', [1, 8, 8, 8]);
    const c = g.conv2d('c', x, { outChannels: 8, kernel: 1 });
    const up = g.convTranspose2d('up', c, { outChannels: 8, kernel: 3, stride: 3 });
    const rs = g.resize('rs', g.conv2d('e', up, { outChannels: 8, kernel: 1 }), 'nearest', {
      size: [30, 30],
    });
    g.output('out', g.convTranspose2d('up2', rs, { outChannels: 8, kernel: 3, stride: 3 }));
    const graph = g.build();
    // Quantisation parameters and int8 weights of the two convs, grafted onto the graph.
    const base = new GraphBuilder('mobile');
    const bx = base.input('input', [1, 8, 8, 8]);
    const be = base.conv2d('e', base.conv2d('c', bx, { outChannels: 8, kernel: 1 }), {
      outChannels: 8,
      kernel: 1,
    });
    base.output('out', be);
    const q = randomQuantizedModel(base.build(), 1, randomInput([1, 8, 8, 8], 1));
    const model = { graph: { ...graph, quantization: q.graph.quantization }, weights: q.weights };
    expect(() => emitWasmInt8(model)).toThrow(GraphError);
    expect(() => emitWasmInt8(model)).toThrow(
      'layer "up": the wasm target has no kernel yet for these 2 layers: "up" (convTranspose2d), "up2" (convTranspose2d) (supported: ',
    );
    // The float build compiles the same graph.
    expect(emitWasm({ graph, weights: seededWeights(graph, 1) }).manifest.stages.length).toBeGreaterThan(4);
  });
});
