/**
 * Whole-network parity: FastDepth and its pruned variant at 224x224, emitted with BatchNorm
 * kept and folded, run by onnxruntime and compared with the float64 reference executor (slow:
 * about 20 s for fastdepth on a 2-core VM, so it runs once per architecture).
 */
import { buildArch } from '@fastdepth/fastdepth-arch';
import {
  execute,
  initWeights,
  paramSpecs,
  type Graph,
  type Tensor64,
  type WeightMap,
} from '@fastdepth/graph-dsl';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeOnnx, encodeOnnx } from './emit.js';
import { compare, perturbBatchNorm, randomTensor } from './testing/fixtures.js';
import { runOnnx, type F32Tensor } from './testing/ort.js';
import { viewGraph } from './testing/view.js';

const ARCHS = ['fastdepth', 'fastdepth-pruned'];

describe.each(ARCHS)('%s at 224x224', (arch) => {
  let graph: Graph;
  let weights: WeightMap;
  let input: F32Tensor;
  let reference: Tensor64;

  beforeAll(() => {
    graph = buildArch(arch, { inputSize: 224 });
    weights = perturbBatchNorm(graph, initWeights(graph, 11), 12);
    input = randomTensor([1, 3, 224, 224], 13, 'image');
    reference = execute(graph, weights, { input })['depth']!;
  });

  for (const opset of [13, 17]) {
    for (const foldBatchNorm of [false, true]) {
      it(`matches the reference (opset ${opset}, BN ${foldBatchNorm ? 'folded' : 'kept'})`, async () => {
        const out = await runOnnx(encodeOnnx({ graph, weights }, { opset, foldBatchNorm }), input);
        expect(out.shape).toEqual([1, 1, 224, 224]);
        const { maxAbsError, maxAbs } = compare(out.data, reference.data);
        // A degenerate (all-zero) reference would make the comparison vacuous.
        expect(maxAbs).toBeGreaterThan(0.1);
        expect(maxAbsError, `max abs error ${maxAbsError}, max |ref| ${maxAbs}`).toBeLessThanOrEqual(
          1e-4 * maxAbs,
        );
      });
    }
  }

  it('names initializers and nodes after the layers', () => {
    const kept = viewGraph(decodeOnnx(encodeOnnx({ graph, weights })));
    const layers = graph.nodes.filter((n) => n.op !== 'input' && n.op !== 'output').map((n) => n.name);
    expect(kept.name).toBe(graph.name);
    expect(kept.inputs.map((v) => [v.name, v.dims])).toEqual([['input', [1, 3, 224, 224]]]);
    expect(kept.outputs.map((v) => [v.name, v.dims])).toEqual([['depth', [1, 1, 224, 224]]]);
    expect(kept.nodes.map((n) => n.name)).toEqual(layers);
    const weightNames = paramSpecs(graph).map((p) => p.name);
    expect(weightNames).toContain('conv0.weight');
    expect(weightNames).toContain('conv0_bn.running_mean');
    const initNames = kept.initializers.map((t) => t.name);
    expect(initNames.filter((n) => weightNames.includes(n))).toEqual(weightNames);
    expect(kept.nodes.filter((n) => n.opType === 'BatchNormalization').length).toBe(
      graph.nodes.filter((n) => n.op === 'batchNorm').length,
    );

    const folded = viewGraph(decodeOnnx(encodeOnnx({ graph, weights }, { foldBatchNorm: true })));
    expect(folded.nodes.map((n) => n.name)).toEqual(layers.filter((n) => !n.endsWith('_bn')));
    expect(folded.nodes.filter((n) => n.opType === 'BatchNormalization')).toEqual([]);
    const foldedInits = folded.initializers.map((t) => t.name);
    expect(foldedInits).toContain('conv0.bias');
    expect(foldedInits.filter((n) => n.includes('_bn.'))).toEqual([]);
    // Every FastDepth conv is followed by BN, so every conv gains a bias.
    for (const n of folded.nodes.filter((x) => x.opType === 'Conv'))
      expect(n.input).toEqual([n.input[0], `${n.name}.weight`, `${n.name}.bias`]);
  });
});
