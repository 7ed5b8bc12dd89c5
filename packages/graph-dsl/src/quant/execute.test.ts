import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../builder.js';
import { FormatError, GraphError, WeightsError } from '../errors.js';
import { execute } from '../executor.js';
import type { Graph } from '../ir.js';
import { loadGraph, saveGraph } from '../serialize.js';
import { SeededRandom } from '../weights.js';
import { dequantizeValues, executeQuantized, quantizeValues } from './execute.js';
import type { GraphQuantization, QuantParams, QuantTensor, QuantizedModel, TensorI8 } from './ir.js';
import { decodeQuantizedWeights, dequantizeModel, encodeQuantizedWeights, quantizedModel } from './model.js';

const i8 = (shape: number[], values: number[]): TensorI8 => ({
  dtype: 'int8',
  shape,
  data: Int8Array.from(values),
});
const i32 = (values: number[]): QuantTensor => ({
  dtype: 'int32',
  shape: [values.length],
  data: Int32Array.from(values),
});

function withQuantization(graph: Graph, q: Omit<GraphQuantization, 'scheme'>): QuantizedModel['graph'] {
  return { ...graph, quantization: { scheme: 'int8', ...q } };
}

/** input -> conv 3x3 (pad 1) -> relu6 -> output, one channel. */
function convModel(): QuantizedModel {
  const g = new GraphBuilder('q');
  const x = g.input('input', [1, 1, 3, 3]);
  g.output('out', g.relu6('act', g.conv2d('conv', x, { outChannels: 1, kernel: 3, pads: 1, bias: true })));
  const inP = { scale: 0.5, zeroPoint: -10 };
  const outP = { scale: 1, zeroPoint: 3 };
  return {
    graph: withQuantization(g.build(), {
      tensors: { input: inP, conv: outP, act: outP, out: outP },
      weightScales: { conv: [0.25] },
    }),
    weights: new Map([
      ['conv.weight', i8([1, 1, 3, 3], new Array<number>(9).fill(1))],
      ['conv.bias', i32([4])],
    ]),
  };
}

describe('int8 reference executor (TFLite semantics)', () => {
  it('conv: padded taps read the zero point, TFLite double rounding, output zero point', () => {
    const m = convModel();
    const q = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((v) => v - 10); // q - zp = 0..8
    const out = executeQuantized(m, { input: i8([1, 1, 3, 3], q) }).out!;
    // acc = 4 + 3x3 sums of 0..8 = [12, 19, 16, 25, 40, 31, 24, 37, 28]; M = 0.5 * 0.25 / 1 = 1/8.
    // TFLite rounds twice for a power-of-two M (high multiply, then shift): 12/8 -> 2,
    // 19/8 = 2.375 -> 3 (9.5 -> 10, then 2.5 -> 3), 28/8 = 3.5 -> 4.
    expect([...out.data]).toEqual([5, 6, 5, 6, 8, 7, 6, 8, 7]);
    expect(out.params).toEqual({ scale: 1, zeroPoint: 3 });
  });

  it('relu6 clamps at the quantised 6, and gives the same integers fused or not', () => {
    const m = convModel();
    const p = { scale: 0.05, zeroPoint: -128 };
    const graph = withQuantization(m.graph, {
      tensors: { input: { scale: 0.5, zeroPoint: -10 }, conv: p, act: p, out: p },
      weightScales: { conv: [0.25] },
    });
    const q = [100, 100, 100, 100, 100, 100, 100, 100, 100];
    const out = executeQuantized(
      { ...m, graph },
      { input: i8([1, 1, 3, 3], q) },
      { keepIntermediates: true },
    );
    expect(Math.max(...out.conv!.data)).toBe(127); // the conv saturates at int8
    expect([...out.out!.data]).toEqual(Array(9).fill(-128 + 120)); // 6 / 0.05 = 120 steps above zero
  });

  it('add rescales both inputs to twice the larger scale (TFLite int8 ADD)', () => {
    const g = new GraphBuilder('a');
    const a = g.input('a', [1, 1, 1, 3]);
    const b = g.input('b', [1, 1, 1, 3]);
    g.output('out', g.add('sum', a, b));
    const outP = { scale: 1, zeroPoint: -5 };
    const model: QuantizedModel = {
      graph: withQuantization(g.build(), {
        tensors: { a: { scale: 0.5, zeroPoint: 0 }, b: { scale: 0.25, zeroPoint: 10 }, sum: outP, out: outP },
        weightScales: {},
      }),
      weights: new Map(),
    };
    const out = executeQuantized(model, {
      a: i8([1, 1, 1, 3], [3, -4, 127]),
      b: i8([1, 1, 1, 3], [14, 10, 127]),
    }).out!;
    // 1.5 + 1.0 = 2.5 -> 3 (halves away from zero) - 5; -2 + 0 = -2 -> -7; 63.5 + 29.25 -> 93 - 5 = 88.
    expect([...out.data]).toEqual([-2, -7, 88]);
  });

  it('quantises real inputs (halves away from zero, saturating) and dequantises outputs', () => {
    const p: QuantParams = { scale: 0.5, zeroPoint: -10 };
    expect([...quantizeValues([0, 0.25, -0.25, 1000, -1000, 0.74], p)]).toEqual([
      -10, -9, -11, 127, -128, -9,
    ]);
    expect([...dequantizeValues(Int8Array.from([-10, 0, 127]), p)]).toEqual([0, 5, 68.5]);
  });

  it('upsample and max pool act on the integers; output carries its input parameters', () => {
    const g = new GraphBuilder('u');
    const x = g.input('input', [1, 1, 2, 2]);
    g.output('out', g.maxPool('pool', g.upsample('up', x, 'nearest'), { kernel: 2, stride: 2 }));
    const p = { scale: 0.1, zeroPoint: 0 };
    const model: QuantizedModel = {
      graph: withQuantization(g.build(), { tensors: { input: p, up: p, pool: p, out: p }, weightScales: {} }),
      weights: new Map(),
    };
    const out = executeQuantized(
      model,
      { input: i8([1, 1, 2, 2], [1, -2, 3, -128]) },
      { keepIntermediates: true },
    );
    expect([...out.up!.data]).toEqual([1, 1, -2, -2, 1, 1, -2, -2, 3, 3, -128, -128, 3, 3, -128, -128]);
    expect([...out.out!.data]).toEqual([1, -2, 3, -128]);
  });

  it('agrees with the float executor on the dequantised model to within a step or two', () => {
    const g = new GraphBuilder('r');
    const x = g.input('input', [1, 3, 8, 10]);
    const c1 = g.relu('r1', g.conv2d('c1', x, { outChannels: 8, kernel: 3, stride: 2, pads: 1, bias: true }));
    const dw = g.relu6(
      'r2',
      g.conv2d('dw', c1, { outChannels: 8, kernel: 3, pads: 1, groups: 8, bias: true }),
    );
    g.output('out', g.conv2d('pw', dw, { outChannels: 4, kernel: 1, bias: true }));
    const rng = new SeededRandom(5);
    const rand = (n: number, lo: number, hi: number): number[] =>
      Array.from({ length: n }, () => lo + Math.floor(rng.uniform() * (hi - lo + 1)));
    const p = (scale: number, zeroPoint: number): QuantParams => ({ scale: Math.fround(scale), zeroPoint });
    const model = quantizedModel(
      withQuantization(g.build(), {
        tensors: {
          input: p(1 / 255, -128),
          c1: p(0.02, -128),
          r1: p(0.02, -128),
          dw: p(0.03, -128),
          r2: p(0.03, -128),
          pw: p(0.05, 7),
          out: p(0.05, 7),
        },
        weightScales: {
          c1: rand(8, 1, 9).map((v) => Math.fround(v / 1000)),
          dw: [Math.fround(0.01)],
          pw: rand(4, 1, 9).map((v) => Math.fround(v / 500)),
        },
      }),
      new Map([
        ['c1.weight', i8([8, 3, 3, 3], rand(216, -127, 127))],
        ['c1.bias', i32(rand(8, -3000, 3000))],
        ['dw.weight', i8([8, 1, 3, 3], rand(72, -127, 127))],
        ['dw.bias', i32(rand(8, -500, 500))],
        ['pw.weight', i8([4, 8, 1, 1], rand(32, -127, 127))],
        ['pw.bias', i32(rand(4, -500, 500))],
      ]),
    );
    const image = Float32Array.from({ length: 3 * 8 * 10 }, () => rng.uniform());
    const q = executeQuantized(model, { input: { shape: [1, 3, 8, 10], data: image } }).out!;
    const f = dequantizeModel(model);
    const ref = execute(f.graph, f.weights, {
      input: {
        shape: [1, 3, 8, 10],
        data: dequantizeValues(quantizeValues(image, p(1 / 255, -128)), p(1 / 255, -128)),
      },
    }).out!;
    const deq = dequantizeValues(q.data, q.params);
    const steps = [...deq].map((v, i) => Math.abs(v - ref.data[i]!) / q.params.scale);
    expect(q.shape).toEqual([1, 4, 4, 5]);
    expect(Math.max(...steps)).toBeLessThanOrEqual(3);
    expect(new Set(q.data).size).toBeGreaterThan(5); // not saturated to a constant
  });
});

describe('quantised models: validation, files', () => {
  it('round-trips the annotation through graph JSON and the integer weights through safetensors', () => {
    const m = convModel();
    const back = loadGraph(saveGraph(m.graph), 'q.json');
    expect(back.quantization).toEqual(m.graph.quantization);
    const w = decodeQuantizedWeights(encodeQuantizedWeights(m.weights), 'q.safetensors');
    expect(w.get('conv.weight')).toEqual(m.weights.get('conv.weight'));
    expect(w.get('conv.bias')).toEqual(m.weights.get('conv.bias'));
    const again = quantizedModel(back, w, 'q.safetensors');
    expect([
      ...executeQuantized(again, { input: i8([1, 1, 3, 3], new Array<number>(9).fill(0)) }).out!.data,
    ]).toEqual([...executeQuantized(m, { input: i8([1, 1, 3, 3], new Array<number>(9).fill(0)) }).out!.data]);
  });

  it('refuses bad annotations at load, naming the field', () => {
    const json = JSON.parse(saveGraph(convModel().graph)) as Record<string, unknown> & {
      quantization: { tensors: Record<string, unknown>; weightScales: Record<string, unknown> };
    };
    const load = (mutate: (j: typeof json) => void): (() => unknown) => {
      const j = structuredClone(json);
      mutate(j);
      return () => loadGraph(JSON.stringify(j), 'bad.json');
    };
    expect(load((j) => (j.quantization.tensors.conv = { scale: 0.1, zeroPoint: 3 }))).toThrow(
      /quantization.tensors.conv.scale" must be a float32/,
    );
    expect(load((j) => (j.quantization.tensors.conv = { scale: -1, zeroPoint: 3 }))).toThrow(/positive/);
    expect(load((j) => (j.quantization.tensors.conv = { scale: 1, zeroPoint: 200 }))).toThrow(
      /zeroPoint" must be an integer in \[-128, 127\]/,
    );
    expect(load((j) => (j.quantization.tensors.nope = { scale: 1, zeroPoint: 0 }))).toThrow(/names no layer/);
    expect(load((j) => delete j.quantization.tensors.conv)).toThrow(/layer "conv": has no int8 parameters/);
    expect(load((j) => (j.quantization.tensors.act = { scale: 2, zeroPoint: 3 }))).toThrow(
      /relu6 must carry its input's int8 parameters/,
    );
    expect(load((j) => (j.quantization.weightScales.conv = [1, 1]))).toThrow(
      /2 weight scales; expected 1 or one per output channel \(1\)/,
    );
    expect(load((j) => ((j.quantization as Record<string, unknown>).scheme = 'int4'))).toThrow(FormatError);
    expect(load((j) => delete j.quantization.tensors.conv)).toThrow(/^bad\.json: /);
  });

  it('refuses integer weights that do not fit, and ops without an int8 meaning', () => {
    const m = convModel();
    expect(() => quantizedModel(m.graph, new Map([['conv.bias', i32([1])]]), 'w.safetensors')).toThrow(
      WeightsError,
    );
    expect(() =>
      quantizedModel(
        m.graph,
        new Map([...m.weights, ['conv.weight', i8([1, 1, 1, 9], new Array<number>(9).fill(1))]]),
        'w.safetensors',
      ),
    ).toThrow(/tensor "conv.weight": must be int8 of shape 1x1x3x3/);
    const g = new GraphBuilder('bn');
    g.output('out', g.batchNorm('bn', g.input('input', [1, 1, 2, 2])));
    const p = { scale: 1, zeroPoint: 0 };
    const bn = withQuantization(g.build(), { tensors: { input: p, bn: p, out: p }, weightScales: {} });
    expect(() => executeQuantized({ graph: bn, weights: new Map() }, {})).toThrow(GraphError);
    expect(() => executeQuantized({ graph: bn, weights: new Map() }, {})).toThrow(/fold BatchNorm first/);
  });
});
