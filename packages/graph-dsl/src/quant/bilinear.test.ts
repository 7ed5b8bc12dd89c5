/**
 * int8 bilinear resizes (TFLite's integer RESIZE_BILINEAR, half-pixel centres): hand-computed
 * integers, the edges, the rounding of negative sums, sizes whose 1/1024 steps are inexact,
 * agreement with the float executor, the xnnpack refusal and post-training quantisation.
 */
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../builder.js';
import { GraphError } from '../errors.js';
import { execute } from '../executor.js';
import type { Graph, UpsampleMode } from '../ir.js';
import { randomTensor } from '../numeric.js';
import { initWeights } from '../weights.js';
import { bilinearAxis } from './bilinear.js';
import { dequantizeValues, executeQuantized } from './execute.js';
import type { IntegerArithmetic, QuantParams, QuantizedModel } from './ir.js';
import { quantizeModel } from './quantize.js';
import { validateQuantizedModel } from './validate.js';

const P: QuantParams = { scale: 0.5, zeroPoint: 3 };

/** input [1, c, h, w] -> one resize layer -> output, every tensor carrying `P`. */
function resizeModel(
  shape: [number, number, number, number],
  resize: (g: GraphBuilder, x: ReturnType<GraphBuilder['input']>) => ReturnType<GraphBuilder['input']>,
  arithmetic?: IntegerArithmetic,
): QuantizedModel {
  const g = new GraphBuilder('bl');
  g.output('out', resize(g, g.input('input', shape)));
  const graph: Graph = g.build();
  const tensors = Object.fromEntries(graph.nodes.map((n) => [n.name, P]));
  return {
    graph: {
      ...graph,
      quantization: { scheme: 'int8', tensors, weightScales: {}, ...(arithmetic ? { arithmetic } : {}) },
    },
    weights: new Map(),
  };
}

function run(model: QuantizedModel, shape: number[], values: number[]): number[] {
  const out = executeQuantized(model, { input: { dtype: 'int8', shape, data: Int8Array.from(values) } });
  return [...out.out!.data];
}

const up2 = (mode: UpsampleMode) => (g: GraphBuilder, x: ReturnType<GraphBuilder['input']>) =>
  g.upsample('up', x, mode);

describe('int8 bilinear axis (ComputeInterpolationValues, integer, half-pixel)', () => {
  it('x2: source positions 1/4 and 3/4 between pixels, the first clamped at 0 with a negative fraction', () => {
    const a = bilinearAxis(3, 6);
    expect([...a.lower]).toEqual([0, 0, 0, 1, 1, 2]);
    expect([...a.upper]).toEqual([0, 1, 1, 2, 2, 2]);
    expect([...a.frac]).toEqual([-256, 256, 768, 256, 768, 256]);
  });

  it('x3 and 3 -> 5: the scale is rounded to 1/1024 (341 and 614), so positions drift from the exact ones', () => {
    const x3 = bilinearAxis(2, 6);
    expect([...x3.lower]).toEqual([0, 0, 0, 0, 0, 1]);
    expect([...x3.upper]).toEqual([0, 0, 1, 1, 1, 1]);
    // -1 at output 1: truncating division puts it at source 0, like the clamp.
    expect([...x3.frac]).toEqual([-342, -1, 340, 681, 1022, 339]);
    const to5 = bilinearAxis(3, 5);
    expect([...to5.lower]).toEqual([0, 0, 0, 1, 2]);
    expect([...to5.upper]).toEqual([0, 1, 1, 2, 2]);
    // Output 2 sits exactly on source 1 in exact arithmetic, at 1023/1024 of the way here.
    expect([...to5.frac]).toEqual([-205, 409, 1023, 613, 203]);
  });
});

describe('int8 bilinear resize (executeQuantized, TFLite arithmetic)', () => {
  it('x2 of a 2x3 image: hand-computed integers, edge rows and columns copied or mixed in one direction', () => {
    const model = resizeModel([1, 1, 2, 3], up2('bilinear'));
    // Exact values (x2 weights are exact in 1/1024): row 0 is 10, 5/2, -25/2, -53/4, 1/4, 7;
    // each rounded half away from zero on the raw integers (the zero point is not subtracted).
    expect(run(model, [1, 1, 2, 3], [10, -20, 7, -5, 100, -128])).toEqual(
      [
        [10, 3, -13, -13, 0, 7],
        [6, 7, 9, 1, -18, -27],
        [-1, 17, 52, 29, -53, -94],
        [-5, 21, 74, 43, -71, -128],
      ].flat(),
    );
  });

  it('rounds halves away from zero and truncates negative sums toward zero', () => {
    const model = resizeModel([1, 1, 1, 4], (g, x) => g.resize('up', x, 'bilinear', { scale: [1, 2] }));
    // Exact: -2, -1.5, -0.5, 0.5, 1.5, 0.25, -3.25, -5.
    expect(run(model, [1, 1, 1, 4], [-2, 0, 2, -5])).toEqual([-2, -2, -1, 1, 2, 0, -3, -5]);
  });

  it('x3 and to a size follow the 1/1024 source positions, not the exact ones', () => {
    const x3 = resizeModel([1, 1, 1, 2], (g, x) => g.resize('up', x, 'bilinear', { scale: [1, 3] }));
    // Exact 4th value: -35.67 -> -36; TFLite's weights 343/1024 and 681/1024 give -35.
    expect(run(x3, [1, 1, 1, 2], [121, -114])).toEqual([121, 121, 43, -35, -114, -114]);
    const to5 = resizeModel([1, 1, 1, 3], (g, x) => g.resize('up', x, 'bilinear', { size: [1, 5] }));
    // Exact 4th value: 45.6 -> 46; TFLite's 411/1024 and 613/1024 give 45.
    expect(run(to5, [1, 1, 1, 3], [67, -18, 88])).toEqual([67, 33, -18, 45, 88]);
  });

  it('agrees with the float bilinear executor on the dequantised values within one step', () => {
    for (const [shape, build] of [
      [[1, 3, 5, 7], up2('bilinear')],
      [
        [1, 2, 4, 6],
        (g: GraphBuilder, x: ReturnType<GraphBuilder['input']>) =>
          g.resize('up', x, 'bilinear', { scale: [3, 2] }),
      ],
      [
        [1, 2, 6, 5],
        (g: GraphBuilder, x: ReturnType<GraphBuilder['input']>) =>
          g.resize('up', x, 'bilinear', { size: [4, 9] }),
      ],
    ] as const) {
      const model = resizeModel([...shape], build);
      const n = (shape as readonly number[]).reduce((a, b) => a * b, 1);
      const values = Array.from({ length: n }, (_, i) => ((i * 97 + 31) % 256) - 128);
      const q = executeQuantized(model, {
        input: { dtype: 'int8', shape: [...shape], data: Int8Array.from(values) },
      });
      const real = dequantizeValues(Int8Array.from(values), P);
      const float = execute(model.graph, new Map(), { input: { shape: [...shape], data: real } }).out!;
      const got = dequantizeValues(q.out!.data, P);
      expect(got.length).toBe(float.data.length);
      let worst = 0;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - float.data[i]!));
      expect(worst).toBeLessThanOrEqual(P.scale + 1e-9);
    }
  });

  it('is refused under the xnnpack arithmetic, naming the layer; nearest is not', () => {
    const bilinear = resizeModel([1, 1, 2, 2], up2('bilinear'), 'xnnpack');
    expect(() => validateQuantizedModel(bilinear)).toThrow(GraphError);
    expect(() => validateQuantizedModel(bilinear)).toThrow(
      /layer "up": bilinear upsampling has no int8 definition under the xnnpack arithmetic/,
    );
    expect(() => validateQuantizedModel(resizeModel([1, 1, 2, 2], up2('nearest'), 'xnnpack'))).not.toThrow();
    expect(() => validateQuantizedModel(resizeModel([1, 1, 2, 2], up2('bilinear'), 'tflite'))).not.toThrow();
  });
});

describe('post-training quantisation of a bilinear upsample', () => {
  it('keeps it in its producer chain and agrees with the float graph', () => {
    const g = new GraphBuilder('blconv');
    const x = g.input('input', [1, 3, 12, 10]);
    const c = g.relu('act', g.conv2d('conv', x, { outChannels: 4, kernel: 3, pads: 1, bias: true }));
    const up = g.resize('up', c, 'bilinear', { size: [24, 15] });
    g.output(
      'depth',
      g.conv2d('head', g.upsample('up2', up, 'bilinear'), { outChannels: 1, kernel: 1, bias: true }),
    );
    const graph = g.build();
    const weights = initWeights(graph, 4);
    const images = [0, 1, 2].map((s) => randomTensor([1, 3, 12, 10], 40 + s, 0, 1));
    const model = quantizeModel(graph, weights, images);
    const t = model.graph.quantization.tensors;
    expect(t.up).toEqual(t.conv);
    expect(t.up2).toEqual(t.conv);
    const image = images[0]!;
    const q = executeQuantized(model, { input: { shape: image.shape, data: image.data } });
    const got = dequantizeValues(q.depth!.data, q.depth!.params);
    const want = execute(graph, weights, { input: image }).depth!.data;
    let worst = 0;
    let peak = 0;
    for (let i = 0; i < got.length; i++) {
      worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
      peak = Math.max(peak, Math.abs(want[i]!));
    }
    expect(worst).toBeLessThan(0.05 * peak);
  });
});
