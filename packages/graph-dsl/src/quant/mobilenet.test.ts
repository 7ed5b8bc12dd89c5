/**
 * int8 MobileNetV3 ops (clip, average pools, mul, the sigmoid / hard-sigmoid / hard-swish tables):
 * hand-computed integers in both arithmetics (padding, negative sums and halves for the
 * rounding, saturation), the fixed and shared parameters validation checks, and post-training
 * quantisation of a squeeze-excite block against the float executor.
 */
import { describe, expect, it } from 'vitest';
import { GraphBuilder, type Tensor } from '../builder.js';
import { FormatError, GraphError } from '../errors.js';
import { execute } from '../executor.js';
import type { Graph } from '../ir.js';
import { randomTensor } from '../numeric.js';
import { initWeights } from '../weights.js';
import { dequantizeValues, executeQuantized } from './execute.js';
import type { IntegerArithmetic, QuantParams, QuantizedModel } from './ir.js';
import { LOGISTIC_OUTPUT_PARAMS, lookupTable } from './lut.js';
import { agreement, quantizeModel } from './quantize.js';
import { parseQuantization, validateQuantizedModel } from './validate.js';

const P: QuantParams = { scale: 0.5, zeroPoint: 3 };

/** `graph` with every tensor's parameters from `params` (default P) and no weights. */
function annotate(
  graph: Graph,
  arithmetic: IntegerArithmetic,
  params: Readonly<Record<string, QuantParams>> = {},
): QuantizedModel {
  const tensors = Object.fromEntries(graph.nodes.map((n) => [n.name, params[n.name] ?? P]));
  return {
    graph: { ...graph, quantization: { scheme: 'int8', tensors, weightScales: {}, arithmetic } },
    weights: new Map(),
  };
}

/** input [1, c, h, w] -> `layer` -> output `out` (carrying the layer's parameters). */
function oneLayer(
  shape: [number, number, number, number],
  layer: (g: GraphBuilder, x: Tensor) => Tensor,
  arithmetic: IntegerArithmetic,
  params: Readonly<Record<string, QuantParams>> = {},
): QuantizedModel {
  const g = new GraphBuilder('t');
  g.output('out', layer(g, g.input('input', shape)));
  const graph = g.build();
  const last = graph.nodes[graph.nodes.length - 2]!.name;
  return annotate(graph, arithmetic, params[last] ? { ...params, out: params[last] } : params);
}

function run(model: QuantizedModel, inputs: Record<string, { shape: number[]; values: number[] }>): number[] {
  const fed = Object.fromEntries(
    Object.entries(inputs).map(([k, v]) => [
      k,
      { dtype: 'int8' as const, shape: v.shape, data: Int8Array.from(v.values) },
    ]),
  );
  return [...executeQuantized(model, fed).out!.data];
}

const both: IntegerArithmetic[] = ['tflite', 'xnnpack'];

describe('int8 clip: a clamp at the quantised bounds, the input parameters', () => {
  const ints = [-128, 0, 1, 2, 5, 10, 11, 127];
  it('bounds on exact halves: tflite rounds f / s half away from zero, xnnpack f / s + zp half to even', () => {
    // scale 0.5, zero point 4: -1.25 / 0.5 = -2.5 -> tflite 4 - 3 = 1, xnnpack rne(1.5) = 2;
    // 2.75 / 0.5 = 5.5 -> tflite 4 + 6 = 10, xnnpack rne(9.5) = 10.
    const p = { scale: 0.5, zeroPoint: 4 };
    const params = { input: p, c: p };
    const clip = (g: GraphBuilder, x: Tensor) => g.clip('c', x, -1.25, 2.75);
    const input = { input: { shape: [1, 1, 1, 8], values: ints } };
    expect(run(oneLayer([1, 1, 1, 8], clip, 'tflite', params), input)).toEqual([1, 1, 1, 2, 5, 10, 10, 10]);
    expect(run(oneLayer([1, 1, 1, 8], clip, 'xnnpack', params), input)).toEqual([2, 2, 2, 2, 5, 10, 10, 10]);
  });

  it.each(both)('%s: bounds beyond the representable range saturate at the int8 limits', (arithmetic) => {
    const clip = (g: GraphBuilder, x: Tensor) => g.clip('c', x, -1000, 1000);
    const input = { input: { shape: [1, 1, 1, 8], values: ints } };
    expect(run(oneLayer([1, 1, 1, 8], clip, arithmetic), input)).toEqual(ints);
  });
});

describe('int8 average pooling (TFLite AVERAGE_POOL_2D): raw integers, rounded half away from zero', () => {
  // Input 2x3, zero point 3; window 2x2, stride 1, padded one row above and one column left.
  const values = [10, -20, 7, -5, 100, -128];
  const pool = (countIncludePad: boolean) => (g: GraphBuilder, x: Tensor) =>
    g.avgPool2d('pool', x, { kernel: 2, stride: 1, pads: [1, 1, 0, 0], countIncludePad });

  it.each(both)('%s, padded taps left out: sums 10/1, -10/2, -13/2, 5/2, 85/4, -41/4', (arithmetic) => {
    // -13/2 = -6.5 -> -7 and 5/2 = 2.5 -> 3 (halves away from zero); 85/4 = 21.25 -> 21.
    expect(
      run(oneLayer([1, 1, 2, 3], pool(false), arithmetic), { input: { shape: [1, 1, 2, 3], values } }),
    ).toEqual([10, -5, -7, 3, 21, -10]);
  });

  it.each(both)('%s, padded taps counted as the zero point 3, divisor 4', (arithmetic) => {
    // (10 + 3 * 3) / 4 = 4.75 -> 5; (-10 + 6) / 4 = -1; (-13 + 6) / 4 = -1.75 -> -2;
    // (5 + 6) / 4 = 2.75 -> 3; the inner windows as above.
    expect(
      run(oneLayer([1, 1, 2, 3], pool(true), arithmetic), { input: { shape: [1, 1, 2, 3], values } }),
    ).toEqual([5, -1, -2, 3, 21, -10]);
  });

  it.each(both)('%s global average: 10/4 = 2.5 -> 3, -10/4 = -2.5 -> -3, 507/4 -> 127', (arithmetic) => {
    const model = oneLayer([1, 3, 2, 2], (g, x) => g.globalAvgPool('gap', x), arithmetic);
    const ints = [1, 2, 3, 4, -1, -2, -3, -4, 127, 127, 127, 126];
    expect(run(model, { input: { shape: [1, 3, 2, 2], values: ints } })).toEqual([3, -3, 127]);
  });

  it('agrees with the float pools on the dequantised values within half a step', () => {
    const g = new GraphBuilder('t');
    const x = g.input('input', [1, 3, 6, 8]);
    const a = g.avgPool2d('a', x, { kernel: 3, stride: 2, pads: 1, countIncludePad: true });
    const b = g.avgPool2d('b', a, { kernel: [2, 3], stride: 1, pads: [1, 0, 0, 2], countIncludePad: false });
    g.output('out', g.globalAvgPool('gap', b));
    const graph = g.build();
    for (const arithmetic of both) {
      const model = annotate(graph, arithmetic);
      const ints = Array.from({ length: 144 }, (_, i) => ((i * 97 + 31) % 256) - 128);
      const data = Int8Array.from(ints);
      const q = executeQuantized(
        model,
        { input: { dtype: 'int8', shape: [1, 3, 6, 8], data } },
        { keepIntermediates: true },
      );
      const float = execute(
        graph,
        new Map(),
        { input: { shape: [1, 3, 6, 8], data: dequantizeValues(data, P) } },
        { keepIntermediates: true },
      );
      // One rounding per pool: a is within half a step; b averages a's errors and adds its own.
      for (const [layer, steps] of [
        ['a', 0.5],
        ['b', 1],
        ['gap', 1.5],
      ] as const) {
        const got = dequantizeValues(q[layer]!.data, P);
        const want = float[layer]!.data;
        for (let i = 0; i < got.length; i++)
          expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(steps * P.scale + 1e-9);
      }
    }
  });
});

describe('int8 mul: the centred product requantised (TFLite MUL, XNNPACK qs8-vmul fp32)', () => {
  // s_x * s_s / s_out = 0.5 * 0.3125 / 0.125 = 1.25 exactly (in double and in float32).
  const params = {
    input: P,
    s: { scale: 0.3125, zeroPoint: -2 },
    m: { scale: 0.125, zeroPoint: 1 },
  };
  function mulModel(arithmetic: IntegerArithmetic): QuantizedModel {
    const g = new GraphBuilder('t');
    const x = g.input('input', [1, 2, 1, 3]);
    const s = g.input('s', [1, 2, 1, 1]);
    g.output('out', g.mul('m', x, s));
    return annotate(g.build(), arithmetic, { ...params, out: params.m });
  }
  // Channel 0: factor 0 (centred 2) times x - 3 = 1, -1, 5: products 2, -2, 10 -> 2.5, -2.5, 12.5.
  // Channel 1: factor -102 (centred -100) times 124, -131, 0: -15500 and 16375 saturate, 0 -> zp.
  const inputs = {
    input: { shape: [1, 2, 1, 3], values: [4, 2, 8, 127, -128, 3] },
    s: { shape: [1, 2, 1, 1], values: [0, -102] },
  };

  it('tflite: MultiplyByQuantizedMultiplier rounds the halves up (3, -2, 13: its nudge, then truncation), + 1', () => {
    expect(run(mulModel('tflite'), inputs)).toEqual([4, -1, 14, -128, 127, 1]);
  });

  it('xnnpack: the float32 product rounded half to even (2, -2, 12), + 1', () => {
    expect(run(mulModel('xnnpack'), inputs)).toEqual([3, -1, 13, -128, 127, 1]);
  });

  it('elementwise (same shapes) agrees with the float product within one step', () => {
    const g = new GraphBuilder('t');
    const x = g.input('input', [1, 2, 3, 4]);
    const s = g.input('s', [1, 2, 3, 4]);
    g.output('out', g.mul('m', x, s));
    const graph = g.build();
    const out = { scale: Math.fround(1 / 16), zeroPoint: -5 };
    for (const arithmetic of both) {
      const model = annotate(graph, arithmetic, {
        input: { scale: 0.25, zeroPoint: 3 },
        s: { scale: 0.125, zeroPoint: -7 },
        m: out,
        out,
      });
      const a = Int8Array.from({ length: 24 }, (_, i) => ((i * 53) % 61) - 20);
      const b = Int8Array.from({ length: 24 }, (_, i) => ((i * 29) % 47) - 30);
      const q = executeQuantized(model, {
        input: { dtype: 'int8', shape: [1, 2, 3, 4], data: a },
        s: { dtype: 'int8', shape: [1, 2, 3, 4], data: b },
      }).out!;
      const got = dequantizeValues(q.data, out);
      for (let i = 0; i < 24; i++) {
        const want = 0.25 * (a[i]! - 3) * 0.125 * (b[i]! + 7);
        const clamped = Math.min(
          Math.max(want, out.scale * (-128 - out.zeroPoint)),
          out.scale * (127 - out.zeroPoint),
        );
        expect(Math.abs(got[i]! - clamped)).toBeLessThanOrEqual(out.scale / 2 + 1e-9);
      }
    }
  });

  it('xnnpack: a scale outside [2^-16, 2^8) is refused naming the layer', () => {
    const model = mulModel('xnnpack');
    const tensors = {
      ...model.graph.quantization.tensors,
      m: { scale: 1e-6, zeroPoint: 0 },
      out: { scale: 1e-6, zeroPoint: 0 },
    };
    const bad = {
      ...model,
      graph: { ...model.graph, quantization: { ...model.graph.quantization, tensors } },
    };
    const feed = {
      input: { dtype: 'int8' as const, shape: [1, 2, 1, 3], data: new Int8Array(6) },
      s: { dtype: 'int8' as const, shape: [1, 2, 1, 1], data: new Int8Array(2) },
    };
    expect(() => executeQuantized(bad, feed)).toThrow(GraphError);
    expect(() => executeQuantized(bad, feed)).toThrow(
      /layer "m": xnnpack int8 arithmetic: mul scale .* outside \[2\^-16, 2\^8\)/,
    );
  });
});

describe('int8 sigmoid, hardSigmoid, hardSwish: 256-entry tables of the float32 function', () => {
  // Input scale 3/256: hardSigmoid(q * 3/256) * 256 = 128 + q / 2, exact halves for odd q.
  const hsIn = { scale: 3 / 256, zeroPoint: 0 };
  const hardSigmoid = (arithmetic: IntegerArithmetic) =>
    oneLayer([1, 1, 1, 7], (g, x) => g.hardSigmoid('h', x), arithmetic, {
      input: hsIn,
      h: LOGISTIC_OUTPUT_PARAMS,
    });
  const ints = [-3, -1, 0, 1, 3, 127, -128];

  it('hardSigmoid, tflite: round(128 + q / 2) half away from zero, then - 128', () => {
    // 126.5 -> 127, 127.5 -> 128, 128, 128.5 -> 129, 129.5 -> 130, 191.5 -> 192, 64 (all - 128).
    expect(run(hardSigmoid('tflite'), { input: { shape: [1, 1, 1, 7], values: ints } })).toEqual([
      -1, 0, 0, 1, 2, 64, -64,
    ]);
  });

  it('hardSigmoid, xnnpack: round(128 + q / 2 - 128) half to even', () => {
    // -1.5 -> -2, -0.5 -> 0, 0, 0.5 -> 0, 1.5 -> 2, 63.5 -> 64, -64.
    expect(run(hardSigmoid('xnnpack'), { input: { shape: [1, 1, 1, 7], values: ints } })).toEqual([
      -2, 0, 0, 0, 2, 64, -64,
    ]);
  });

  it.each(both)(
    '%s: saturation at 1 (-> 127) and 0 (-> -128), sigmoid(0) = 1/2 and sigmoid(ln 3) = 3/4',
    (arithmetic) => {
      const big = { input: { scale: 1, zeroPoint: 0 }, h: LOGISTIC_OUTPUT_PARAMS };
      const sat = oneLayer([1, 1, 1, 4], (g, x) => g.hardSigmoid('h', x), arithmetic, big);
      expect(run(sat, { input: { shape: [1, 1, 1, 4], values: [10, -10, 127, -128] } })).toEqual([
        127, -128, 127, -128,
      ]);
      const ln3 = { input: { scale: Math.fround(Math.log(3)), zeroPoint: 0 }, h: LOGISTIC_OUTPUT_PARAMS };
      const sig = oneLayer([1, 1, 1, 5], (g, x) => g.sigmoid('h', x), arithmetic, ln3);
      // 1/2 -> 128 - 128, 3/4 -> 192 - 128, 1/4 -> 64 - 128, ~1 -> 127, ~0 -> -128.
      expect(run(sig, { input: { shape: [1, 1, 1, 5], values: [0, 1, -1, 100, -100] } })).toEqual([
        0, 64, -64, 127, -128,
      ]);
    },
  );

  it.each(both)('%s hardSwish: x relu6(x + 3) / 6 at 1/64, zero point -10', (arithmetic) => {
    const params = { input: { scale: 0.25, zeroPoint: 0 }, h: { scale: 1 / 64, zeroPoint: -10 } };
    const model = oneLayer([1, 1, 1, 6], (g, x) => g.hardSwish('h', x), arithmetic, params);
    // x = 1: 2/3 * 64 = 42.7 -> 43; x = -1: -21.3 -> -21; x = 0.5: 18.7 -> 19; x = -3: 0;
    // x = -1.5: -24 exactly; x = 31.75: saturates. Each + (-10).
    expect(run(model, { input: { shape: [1, 1, 1, 6], values: [4, -4, 2, -12, -6, 127] } })).toEqual([
      33, -31, 9, -10, -34, 127,
    ]);
  });

  it('the two arithmetics tabulate sigmoid within one step of each other and of the exact value', () => {
    const input = { scale: Math.fround(0.0625), zeroPoint: -7 };
    const t = lookupTable('sigmoid', input, LOGISTIC_OUTPUT_PARAMS, 'tflite');
    const x = lookupTable('sigmoid', input, LOGISTIC_OUTPUT_PARAMS, 'xnnpack');
    for (let q = -128; q < 128; q++) {
      const exact = 256 / (1 + Math.exp(-0.0625 * (q + 7))) - 128;
      expect(Math.abs(t[q + 128]! - Math.min(exact, 127))).toBeLessThanOrEqual(0.5 + 1e-3);
      expect(Math.abs(t[q + 128]! - x[q + 128]!)).toBeLessThanOrEqual(1);
    }
  });
});

describe('validation of the fixed and shared parameters, naming the layer', () => {
  const g = new GraphBuilder('t');
  const x = g.input('input', [1, 2, 4, 4]);
  const c = g.clip('c', x, -1, 1);
  const a = g.avgPool2d('a', c, { kernel: 2 });
  g.output('out', g.sigmoid('s', g.globalAvgPool('gap', a)));
  const graph = g.build();
  const fine = { input: P, c: P, a: P, gap: P, s: LOGISTIC_OUTPUT_PARAMS, out: LOGISTIC_OUTPUT_PARAMS };

  it('accepts the fixed sigmoid output and the pass-through ops carrying their input parameters', () => {
    expect(() => validateQuantizedModel(annotate(graph, 'tflite', fine))).not.toThrow();
  });

  it.each([
    [
      's',
      { s: { scale: 1 / 128, zeroPoint: -128 } },
      /layer "s": int8 sigmoid must output scale 1\/256 and zero point -128/,
    ],
    ['c', { c: { scale: 0.5, zeroPoint: 4 } }, /layer "c": clip must carry its input's int8 parameters/],
    [
      'a',
      { a: { scale: 0.25, zeroPoint: 3 } },
      /layer "a": avgPool2d must carry its input's int8 parameters/,
    ],
    [
      'gap',
      { gap: { scale: 0.5, zeroPoint: 0 } },
      /layer "gap": globalAvgPool must carry its input's int8 parameters/,
    ],
  ] as const)('refuses %s with other parameters', (_layer, change, message) => {
    const model = annotate(graph, 'tflite', { ...fine, ...change });
    expect(() => validateQuantizedModel(model)).toThrow(GraphError);
    expect(() => validateQuantizedModel(model)).toThrow(message);
    // At load too, as a FormatError naming the field's layer.
    expect(() => parseQuantization(model.graph.quantization, graph, 'm.json')).toThrow(FormatError);
    expect(() => parseQuantization(model.graph.quantization, graph, 'm.json')).toThrow(message);
  });

  it('lists the new ops among the int8 ops when refusing one it lacks', () => {
    const h = new GraphBuilder('t');
    const y = h.input('input', [1, 2, 4, 4]);
    h.output('out', h.batchNorm('bn', y));
    const bn = annotate(h.build(), 'tflite');
    expect(() => validateQuantizedModel(bn)).toThrow(
      /layer "bn": op batchNorm has no int8 definition \(int8 graphs use .*clip, avgPool2d, globalAvgPool, mul, sigmoid, hardSigmoid, hardSwish/,
    );
  });
});

/**
 * A MobileNetV3-style block: conv + hardSwish, squeeze-excite (global pool, 1x1 + relu, 1x1 +
 * gate, per-channel mul), average pool, clip, 1x1 head.
 */
function seBlock(gate: 'hardSigmoid' | 'sigmoid'): Graph {
  const g = new GraphBuilder('se');
  const x = g.input('input', [1, 3, 16, 12]);
  const y = g.hardSwish(
    'hs',
    g.batchNorm('bn', g.conv2d('conv', x, { outChannels: 13, kernel: 3, stride: 2, pads: 1 })),
  );
  const pooled = g.globalAvgPool('gap', y);
  const reduced = g.relu(
    'reduce_relu',
    g.conv2d('reduce', pooled, { outChannels: 4, kernel: 1, bias: true }),
  );
  const expanded = g.conv2d('expand', reduced, { outChannels: 13, kernel: 1, bias: true });
  const gated = gate === 'sigmoid' ? g.sigmoid('gate', expanded) : g.hardSigmoid('gate', expanded);
  const scaled = g.mul('scale', y, gated);
  const avg = g.avgPool2d('avg', scaled, { kernel: 3, stride: 1, pads: 1, countIncludePad: false });
  const clipped = g.clip('clip', avg, -0.5, 0.75);
  g.output('depth', g.conv2d('head', clipped, { outChannels: 2, kernel: 1, bias: true }));
  return g.build();
}

describe('post-training quantisation of a squeeze-excite block', () => {
  it.each(['hardSigmoid', 'sigmoid'] as const)(
    '%s gate: parameters shared, fixed or calibrated; agrees with the float graph',
    (gate) => {
      const graph = seBlock(gate);
      const weights = initWeights(graph, 7);
      const images = [0, 1, 2, 3].map((s) => randomTensor([1, 3, 16, 12], 60 + s, 0, 1));
      const model = quantizeModel(graph, weights, images);
      const t = model.graph.quantization.tensors;
      // Pass-through ops join their producer's parameters; the gate's are TFLite LOGISTIC's.
      expect(t.gap).toEqual(t.hs);
      expect(t.avg).toEqual(t.scale);
      expect(t.clip).toEqual(t.scale);
      expect(t.gate).toEqual(LOGISTIC_OUTPUT_PARAMS);
      expect(t.hs).not.toEqual(t.conv);
      for (const arithmetic of both) {
        const m = {
          ...model,
          graph: { ...model.graph, quantization: { ...model.graph.quantization, arithmetic } },
        };
        for (const image of images.slice(0, 2)) {
          const q = executeQuantized(m, { input: image }).depth!;
          const want = execute(graph, weights, { input: image }).depth!.data;
          const got = dequantizeValues(q.data, q.params);
          const a = agreement(want, got, q.params.scale);
          // The quantisation error of eight int8 layers: most values within a few output steps.
          expect(a.meanRelativeDifference, arithmetic).toBeLessThan(0.08);
          expect(a.maxAbsDifference, arithmetic).toBeLessThan(8 * q.params.scale);
        }
      }
    },
  );

  it('refuses a concat of a sigmoid output (fixed parameters) with another tensor, naming the concat', () => {
    const g = new GraphBuilder('t');
    const x = g.input('input', [1, 3, 8, 8]);
    const c = g.conv2d('c', x, { outChannels: 2, kernel: 1 });
    g.output('o', g.concat('cat', g.sigmoid('s', c), c));
    const graph = g.build();
    expect(() => quantizeModel(graph, initWeights(graph, 0), [randomTensor([1, 3, 8, 8], 1, 0, 1)])).toThrow(
      /layer "cat": int8 concat joins the sigmoid "s", whose output parameters are fixed/,
    );
  });
});
