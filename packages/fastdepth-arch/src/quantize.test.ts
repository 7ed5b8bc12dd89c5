// Post-training int8 quantisation of the family's networks (graph-dsl `quantizeModel`), run by
// the int8 reference executor against the float one.
import {
  agreement,
  dequantizeValues,
  execute,
  executeQuantized,
  foldBatchNorm,
  initWeights,
  quantizeModel,
  randomizeBatchNorm,
  randomTensor,
  type Graph,
  type TensorF32,
} from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { buildArch } from './arch.js';

const SIDE = 64;
const images = (n: number, seed: number): TensorF32[] =>
  Array.from({ length: n }, (_, i) => randomTensor([1, 3, SIDE, SIDE], seed + i, 0, 1));

/**
 * Seeded weights with random BatchNorm statistics, and a shift before the last relu so that
 * the depth is positive and varies (the authors' init leaves it all zeros).
 */
function seededWeights(graph: Graph): Map<string, TensorF32> {
  const weights = randomizeBatchNorm(graph, initWeights(graph, 11), 12);
  const last = graph.nodes.filter((n) => n.op === 'batchNorm').at(-1)!;
  const input = images(1, 500)[0]!;
  const before = execute(graph, weights, { input }, { keepIntermediates: true })[last.inputs[0]!]!.data;
  // Centre the last conv's output on 1 with a spread of about 0.5.
  let mean = 0;
  for (const v of before) mean += v / before.length;
  let variance = 0;
  for (const v of before) variance += (v - mean) ** 2 / before.length;
  weights.set(`${last.name}.running_mean`, { shape: [1], data: Float32Array.of(mean) });
  weights.set(`${last.name}.running_var`, { shape: [1], data: Float32Array.of(variance) });
  weights.set(`${last.name}.weight`, { shape: [1], data: Float32Array.of(0.5) });
  weights.set(`${last.name}.bias`, { shape: [1], data: Float32Array.of(1) });
  return weights;
}

describe('quantizeModel on fastdepth-pruned (seeded weights)', () => {
  const graph = buildArch('fastdepth-pruned', { inputSize: SIDE });
  const weights = seededWeights(graph);
  const model = quantizeModel(graph, weights, images(4, 100));
  const folded = foldBatchNorm({ graph, weights });

  it('every weight within half a step of the folded float weight', () => {
    let convs = 0;
    for (const [name, scales] of Object.entries(model.graph.quantization.weightScales)) {
      convs++;
      const w = folded.weights.get(`${name}.weight`)!.data;
      const q = model.weights.get(`${name}.weight`)!.data;
      const per = w.length / scales.length;
      let worst = 0;
      for (let i = 0; i < w.length; i++) {
        const s = scales[Math.floor(i / per)]!;
        worst = Math.max(worst, Math.abs(q[i]! * s - w[i]!) / s);
      }
      expect(worst, name).toBeLessThanOrEqual(0.5 + 1e-6);
    }
    expect(convs).toBe(38);
  });

  it('the int8 reference executor agrees with the float network on unseen inputs', () => {
    const step = model.graph.quantization.tensors.depth!.scale;
    const float: number[] = [];
    const int8: number[] = [];
    for (const input of images(2, 900)) {
      float.push(...execute(graph, weights, { input }).depth!.data);
      const q = executeQuantized(model, { input }).depth!;
      int8.push(...dequantizeValues(q.data, q.params));
    }
    const a = agreement(float, int8, step);
    expect(Math.max(...float) - Math.min(...float)).toBeGreaterThan(20 * step); // the depth varies
    expect(a.meanRelativeDifference).toBeLessThan(0.05);
    expect(a.delta1).toBeGreaterThan(0.95);
    expect(a.maxAbsDifference).toBeLessThan(0.25 * Math.max(...float));
  });

  it('percentile calibration gives an int8 model as close as minmax, or closer', () => {
    const pct = quantizeModel(graph, weights, images(4, 100), {
      calibration: 'percentile',
      percentile: 99.9,
    });
    const input = images(1, 900)[0]!;
    const float = execute(graph, weights, { input }).depth!.data;
    const run = (m: typeof model): Float32Array => {
      const q = executeQuantized(m, { input }).depth!;
      return dequantizeValues(q.data, q.params);
    };
    const step = model.graph.quantization.tensors.depth!.scale;
    const minmax = agreement(float, run(model), step).meanRelativeDifference;
    const percentile = agreement(float, run(pct), step).meanRelativeDifference;
    expect(percentile).toBeLessThan(0.05);
    expect(percentile).toBeLessThan(minmax * 1.5);
  });
});
