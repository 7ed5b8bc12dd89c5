import { describe, expect, it } from 'vitest';
import { GraphBuilder } from './builder.js';
import { calibratedInitWeights } from './calibrate.js';
import { GraphError } from './errors.js';
import { execute } from './executor.js';
import { inferShapes, withInputSize } from './graph.js';
import type { Graph } from './ir.js';
import { constantValue, randomTensor } from './numeric.js';
import { initWeights } from './weights.js';

/** conv -> BN -> ReLU twice, stride 2 then upsampled back and added to a skip: a tiny FastDepth. */
function tinyNet(side: number): Graph {
  const g = new GraphBuilder('tiny', { inputSize: `${side}x${side}` });
  const x = g.input('input', [1, 3, side, side]);
  const a = g.relu('a_relu', g.batchNorm('a_bn', g.conv2d('a', x, { outChannels: 4, kernel: 3, pads: 1 })));
  const b = g.relu(
    'b_relu',
    g.batchNorm('b_bn', g.conv2d('b', a, { outChannels: 4, kernel: 3, stride: 2, pads: 1 })),
  );
  const sum = g.add('sum', a, g.upsample('up', b, 'nearest'));
  const head = g.relu(
    'head_relu',
    g.batchNorm('head_bn', g.conv2d('head', sum, { outChannels: 1, kernel: 1 })),
  );
  g.output('depth', head);
  return g.build();
}

describe('withInputSize', () => {
  it('re-infers every shape from the new input size and records it', () => {
    const resized = withInputSize(tinyNet(8), [16, 24]);
    expect(inferShapes(resized).get('depth')).toEqual([1, 1, 16, 24]);
    expect(resized.meta?.inputSize).toBe('16x24');
    // Same parameters: the weights of one size fit the other.
    expect(() =>
      execute(resized, initWeights(tinyNet(8)), { input: randomTensor([1, 3, 16, 24]) }),
    ).not.toThrow();
  });

  it('throws naming the layer when the size does not fit', () => {
    // The stride-2 conv cannot halve 9 (its shape rule refuses), so the skip would not line up.
    expect(() => withInputSize(tinyNet(8), [9, 9])).toThrow(GraphError);
    expect(() => withInputSize(tinyNet(8), [9, 9])).toThrow(
      /layer "b": input 9x9 is not divisible by stride/,
    );
  });
});

describe('calibratedInitWeights', () => {
  it('standardises the last BatchNorm on its seeded input (mean beta, std gamma); the others get random statistics', () => {
    const graph = tinyNet(16);
    const weights = calibratedInitWeights(graph, 3);
    const other = calibratedInitWeights(graph, 3, 99);
    expect(other.get('a.weight')).toEqual(weights.get('a.weight'));
    expect(other.get('a_bn.running_mean')).toEqual(weights.get('a_bn.running_mean'));
    expect(other.get('head_bn.running_mean')).not.toEqual(weights.get('head_bn.running_mean'));
    for (const bn of ['a_bn', 'b_bn', 'head_bn']) {
      for (const v of weights.get(`${bn}.bias`)!.data) expect(v).toBeGreaterThan(0);
      for (const v of weights.get(`${bn}.running_var`)!.data) expect(v).toBeGreaterThan(0);
    }
    for (const v of weights.get('a_bn.running_mean')!.data) expect(Math.abs(v)).toBeLessThanOrEqual(0.1);
    // The calibration input (inputSeed defaults to seed; uniform [0, 1)), fed again.
    const values = execute(
      graph,
      weights,
      { input: randomTensor([1, 3, 16, 16], 3, 0, 1) },
      { keepIntermediates: true },
    );
    const out = values['head_bn']!;
    const plane = out.data;
    const mean = plane.reduce((s, v) => s + v, 0) / plane.length;
    const std = Math.sqrt(plane.reduce((s, v) => s + (v - mean) ** 2, 0) / plane.length);
    expect(mean).toBeCloseTo(weights.get('head_bn.bias')!.data[0]!, 4);
    expect(std).toBeCloseTo(weights.get('head_bn.weight')!.data[0]!, 3);
  });

  it('keeps the conv weights of initWeights, is deterministic and gives a varying output', () => {
    const graph = tinyNet(16);
    const plain = initWeights(graph, 3);
    const calibrated = calibratedInitWeights(graph, 3);
    expect(calibrated.get('a.weight')).toEqual(plain.get('a.weight'));
    expect(calibratedInitWeights(graph, 3)).toEqual(calibrated);
    expect(calibratedInitWeights(graph, 4).get('head_bn.running_var')).not.toEqual(
      calibrated.get('head_bn.running_var'),
    );
    const out = execute(graph, calibrated, { input: randomTensor([1, 3, 16, 16], 11, 0, 1) }).depth!;
    expect(constantValue(out.data)).toBeUndefined();
  });

  it('measures graphs larger than 224x224 at 224x224, statistics that carry over to the full size', () => {
    const small = calibratedInitWeights(tinyNet(224), 1);
    const large = calibratedInitWeights(tinyNet(448), 1);
    expect(large.get('head_bn.running_mean')).toEqual(small.get('head_bn.running_mean'));
  });
});

describe('constantValue', () => {
  it('finds all-zero and constant outputs, within 1e-6 of their magnitude', () => {
    expect(constantValue(new Float32Array(10))).toBe(0);
    expect(constantValue([2, 2, 2 + 1e-7])).toBe(2);
    expect(constantValue([0, 0, 1e-9])).toBeUndefined();
    expect(constantValue([1, 2])).toBeUndefined();
    expect(constantValue([])).toBeUndefined();
  });
});
