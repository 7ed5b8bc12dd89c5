/**
 * int8 bilinear resizes with half-pixel centres in both arithmetics (TFLite's integer
 * RESIZE_BILINEAR; XNNPACK's s8 ibilinear with Q11 weights): hand-computed integers, the edges,
 * the rounding of negative sums, sizes whose 1/1024 steps or Q11 weights are inexact, where the
 * two differ by a step, agreement with the float executor and post-training quantisation.
 */
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../builder.js';
import { execute } from '../executor.js';
import type { Graph, UpsampleMode } from '../ir.js';
import { randomTensor } from '../numeric.js';
import { initWeights } from '../weights.js';
import { bilinearAxis, xnnpackBilinearAxis, xnnpackBilinearMix } from './bilinear.js';
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

  it.each(['tflite', 'xnnpack'] as const)(
    '%s: agrees with the float bilinear executor on the dequantised values within one step',
    (arithmetic) => {
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
        const model = resizeModel([...shape], build, arithmetic);
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
    },
  );

  it('validates under both arithmetics (bilinear has an int8 definition in each)', () => {
    for (const arithmetic of ['tflite', 'xnnpack'] as const)
      for (const mode of ['bilinear', 'nearest'] as const)
        expect(() => validateQuantizedModel(resizeModel([1, 1, 2, 2], up2(mode), arithmetic))).not.toThrow();
  });
});

describe('int8 bilinear axis under xnnpack (xnn_indirection_init_resize_bilinear2d_hwc_q11, half-pixel)', () => {
  it('x2: positions clamped into [0, in - 1], Q11 weights 512 and 1536, 0 at both edges', () => {
    // scale 1/2, offset -1/4: positions -0.25 (clamped to 0), 0.25, 0.75, 1.25, 1.75, 2.25 (to 2).
    const a = xnnpackBilinearAxis(3, 6);
    expect([...a.lower]).toEqual([0, 0, 0, 1, 1, 2]);
    expect([...a.upper]).toEqual([1, 1, 1, 2, 2, 2]);
    expect([...a.alpha]).toEqual([0, 512, 1536, 512, 1536, 0]);
    // 5 -> 10 and 7 -> 14: the same pattern, the last position clamped onto the last index.
    const rows = xnnpackBilinearAxis(5, 10);
    expect([...rows.lower]).toEqual([0, 0, 0, 1, 1, 2, 2, 3, 3, 4]);
    expect([...rows.upper]).toEqual([1, 1, 1, 2, 2, 3, 3, 4, 4, 4]);
    expect([...rows.alpha]).toEqual([0, 512, 1536, 512, 1536, 512, 1536, 512, 1536, 0]);
    expect([...xnnpackBilinearAxis(7, 14).alpha]).toEqual([
      0,
      ...Array<number[]>(6).fill([512, 1536]).flat(),
      0,
    ]);
  });

  it('x3 and 3 -> 5: float32 positions, weights rounded to 1/2048 half to even', () => {
    // scale = float32(1/3), offset = float32(-1/3): 2/3 * 2048 = 1365.33 -> 1365; at output 4
    // the float32 position lands on 1 exactly (in exact arithmetic it is 1 too).
    const x3 = xnnpackBilinearAxis(2, 6);
    expect([...x3.lower]).toEqual([0, 0, 0, 0, 1, 1]);
    expect([...x3.upper]).toEqual([1, 1, 1, 1, 1, 1]);
    expect([...x3.alpha]).toEqual([0, 0, 683, 1365, 0, 0]);
    // scale = float32(0.6): positions 0.4 (819.2 -> 819), 1.0000001 (-> index 1, weight 0), 1.6.
    const to5 = xnnpackBilinearAxis(3, 5);
    expect([...to5.lower]).toEqual([0, 0, 1, 1, 2]);
    expect([...to5.upper]).toEqual([1, 1, 2, 2, 2]);
    expect([...to5.alpha]).toEqual([0, 819, 0, 1229, 0]);
    // Downscaling 6 -> 4: no clamping, positions 0.25, 1.75, 3.25, 4.75.
    const down = xnnpackBilinearAxis(6, 4);
    expect([...down.lower]).toEqual([0, 1, 3, 4]);
    expect([...down.alpha]).toEqual([512, 1536, 512, 1536]);
    // One input pixel: every position clamps to 0, both taps the same.
    const one = xnnpackBilinearAxis(1, 3);
    expect([...one.lower, ...one.upper, ...one.alpha]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('larger ratios: the float32 position, not the exact one, and lrintf ties to even', () => {
    // 25 -> 91, output 85: float32 position 22.989013671875 (exact 22.98901...), fraction 2025.5
    // of 2048 -> 2026 (the exact position would give 2025).
    const a = xnnpackBilinearAxis(25, 91);
    expect([a.lower[85], a.upper[85], a.alpha[85]]).toEqual([22, 23, 2026]);
    // 44 -> 65, output 63: float32 position 42.484619140625, fraction exactly 992.5 -> 992 (even;
    // half up would give 993).
    const b = xnnpackBilinearAxis(44, 65);
    expect([b.lower[63], b.upper[63], b.alpha[63]]).toEqual([42, 43, 992]);
    // 10 -> 227, output 197: float32 fraction 410.5 -> 410, where the exact position (410.502)
    // and half up would both give 411.
    const c = xnnpackBilinearAxis(10, 227);
    expect([c.lower[197], c.alpha[197]]).toEqual([8, 410]);
  });

  it('the microkernel mix: (acc + 2^21) >> 22, halves up (toward +infinity), not away from zero', () => {
    // acc = tl * 2048 * 2048 at zero weights: exact.
    expect(xnnpackBilinearMix(-128, 127, 127, 127, 0, 0)).toBe(-128);
    expect(xnnpackBilinearMix(5, -128, -128, -128, 2048, 0)).toBe(-128);
    // Halfway between 0 and -5: acc = -5 * 1024 * 2048 = -2.5 * 2^22; (acc + 2^21) >> 22 = -2
    // (TFLite's rounding gives -3); +2.5 -> 3, -5.5 -> -5, 0.5 -> 1, -0.5 -> 0.
    expect(xnnpackBilinearMix(0, -5, 0, -5, 1024, 0)).toBe(-2);
    expect(xnnpackBilinearMix(0, 5, 0, 5, 1024, 0)).toBe(3);
    expect(xnnpackBilinearMix(-5, -6, -5, -6, 1024, 0)).toBe(-5);
    expect(xnnpackBilinearMix(0, 0, 1, 1, 0, 1024)).toBe(1);
    expect(xnnpackBilinearMix(0, 0, -1, -1, 0, 1024)).toBe(0);
    // Just below a half rounds down, just above up: -2.5 -/+ 2^-22 of a step is unreachable, but
    // Q11 weights give -2.5 +/- 5/2048: (0, -5, 0, -5) at ax = 1023 and 1025.
    expect(xnnpackBilinearMix(0, -5, 0, -5, 1023, 0)).toBe(-2);
    expect(xnnpackBilinearMix(0, -5, 0, -5, 1025, 0)).toBe(-3);
    // Horizontal then vertical: t = 10 * 2048 + (20 - 10) * 512, b = -30 * 2048 + (40 + 30) * 512,
    // acc = t * 2048 + (b - t) * 1536: 12.5 * 1/4 + -12.5 * 3/4 = -6.25 -> -6.
    expect(xnnpackBilinearMix(10, 20, -30, 40, 512, 1536)).toBe(-6);
  });
});

describe('int8 bilinear resize (executeQuantized, xnnpack arithmetic)', () => {
  const X: IntegerArithmetic = 'xnnpack';

  it('x2 of a 2x3 image: hand-computed integers, -12.5 rounded up where TFLite rounds away from zero', () => {
    const input = [10, -20, 7, -5, 100, -128];
    // x2 weights are exact in both arithmetics (1/4, 3/4): the exact values are TFLite's test's,
    // row 0: 10, 5/2, -25/2, -53/4, 1/4, 7. Rounded half up: -25/2 -> -12 (TFLite: -13).
    const want = [
      [10, 3, -12, -13, 0, 7],
      [6, 7, 9, 1, -18, -27],
      [-1, 17, 52, 29, -53, -94],
      [-5, 21, 74, 43, -71, -128],
    ].flat();
    expect(run(resizeModel([1, 1, 2, 3], up2('bilinear'), X), [1, 1, 2, 3], input)).toEqual(want);
    const tflite = run(resizeModel([1, 1, 2, 3], up2('bilinear'), 'tflite'), [1, 1, 2, 3], input);
    expect(tflite.map((v, i) => v - want[i]!)).toEqual([0, 0, -1, ...Array<number>(21).fill(0)]);
  });

  it('halves along a row and a column: up, not away from zero (TFLite is a step lower on negative ones)', () => {
    const row = resizeModel([1, 1, 1, 4], (g, x) => g.resize('up', x, 'bilinear', { scale: [1, 2] }), X);
    // Exact: -2, -1.5, -0.5, 0.5, 1.5, 0.25, -3.25, -5 (TFLite: -2, -2, -1, 1, 2, 0, -3, -5).
    expect(run(row, [1, 1, 1, 4], [-2, 0, 2, -5])).toEqual([-2, -1, 0, 1, 2, 0, -3, -5]);
    const col = resizeModel([1, 1, 2, 1], (g, x) => g.resize('up', x, 'bilinear', { scale: [2, 1] }), X);
    // Exact: -6, -4.5, -1.5, 0 (TFLite: -6, -5, -2, 0).
    expect(run(col, [1, 1, 2, 1], [-6, 0])).toEqual([-6, -4, -1, 0]);
  });

  it('x3 and 3 -> 5 follow the Q11 weights: a step away from TFLite where its 1/1024 steps drift', () => {
    const x3 = resizeModel([1, 1, 1, 2], (g, x) => g.resize('up', x, 'bilinear', { scale: [1, 3] }), X);
    // Output 3: t = 121 * 2048 - 235 * 1365 = -72967, (t * 2048 + 2^21) >> 22 = floor(-35.13) =
    // -36 (exact -35.67; TFLite's 343/1024 and 681/1024 give -35). Output 2: 87303 -> 43.
    expect(run(x3, [1, 1, 1, 2], [121, -114])).toEqual([121, 121, 43, -36, -114, -114]);
    const to5 = resizeModel([1, 1, 1, 3], (g, x) => g.resize('up', x, 'bilinear', { size: [1, 5] }), X);
    // Output 1: 67 * 2048 - 85 * 819 = 67601 -> floor(33.51) = 33 (exact 33); output 3:
    // -18 * 2048 + 106 * 1229 = 93410 -> floor(46.11) = 46 (exact 45.6; TFLite: 45).
    expect(run(to5, [1, 1, 1, 3], [67, -18, 88])).toEqual([67, 33, -18, 46, 88]);
  });

  it('larger ratios: integers that the float32 positions and the ties to even decide', () => {
    const one = (n: number, at: number, v: number): number[] =>
      Array.from({ length: n }, (_, i) => (i === at ? v : 0));
    // 25 -> 91, output 85: 46 * 2026 / 2048 = 45.51 -> 46 (46 * 0.98901 = 45.49 exactly: 45).
    const m91 = resizeModel([1, 1, 1, 25], (g, x) => g.resize('up', x, 'bilinear', { size: [1, 91] }), X);
    expect(run(m91, [1, 1, 1, 25], one(25, 23, 46))[85]).toBe(46);
    // 44 -> 65, output 63: 65 * 992 / 2048 = 31.48 -> 31 (a weight of 993 would give 32).
    const m65 = resizeModel([1, 1, 1, 44], (g, x) => g.resize('up', x, 'bilinear', { size: [1, 65] }), X);
    expect(run(m65, [1, 1, 1, 44], one(44, 43, 65))[63]).toBe(31);
  });

  it('5x7 -> 10x14, 2 channels: corners copied, edges mixed in one direction, the interior in two', () => {
    const shape = [1, 2, 5, 7];
    const values = Array.from({ length: 70 }, (_, i) => ((i * 37 + 11) % 256) - 128);
    const v = (c: number, y: number, x: number): number => values[(c * 5 + y) * 7 + x]!;
    const got = run(resizeModel([1, 2, 5, 7], up2('bilinear'), X), shape, values);
    const at = (c: number, y: number, x: number): number => got[(c * 10 + y) * 14 + x]!;
    expect(got).toHaveLength(2 * 10 * 14);
    for (const c of [0, 1]) {
      // Corners: both positions clamped, weights 0.
      expect([at(c, 0, 0), at(c, 0, 13), at(c, 9, 0), at(c, 9, 13)]).toEqual([
        v(c, 0, 0),
        v(c, 0, 6),
        v(c, 4, 0),
        v(c, 4, 6),
      ]);
      // Row 0, column 5 (position 2.25: columns 2 and 3, ax = 512): horizontal only.
      expect(at(c, 0, 5)).toBe(
        (v(c, 0, 2) * 2048 * 2048 + (v(c, 0, 3) - v(c, 0, 2)) * 512 * 2048 + 2 ** 21) >> 22,
      );
      // Output (3, 4): rows 1, 2 at ay = 512, columns 1, 2 at ax = 1536.
      const t = v(c, 1, 1) * 2048 + (v(c, 1, 2) - v(c, 1, 1)) * 1536;
      const b = v(c, 2, 1) * 2048 + (v(c, 2, 2) - v(c, 2, 1)) * 1536;
      expect(at(c, 3, 4)).toBe((t * 2048 + (b - t) * 512 + 2 ** 21) >> 22);
    }
    // By hand, channel 0 at (3, 4): taps -77, -40 (row 1) and -74, -37 (row 2); the rows give
    // -49.25 and -46.25, 3/4 and 1/4 of them -48.5: -48 here, -49 in TFLite's rounding.
    expect([v(0, 1, 1), v(0, 1, 2), v(0, 2, 1), v(0, 2, 2)]).toEqual([-77, -40, -74, -37]);
    expect(at(0, 3, 4)).toBe(-48);
    const tflite = run(resizeModel([1, 2, 5, 7], up2('bilinear'), 'tflite'), shape, values);
    expect(tflite[3 * 14 + 4]).toBe(-49);
    // Elsewhere the two differ by at most a step (the x2 weights are the same; only halves differ).
    expect(Math.max(...tflite.map((q, i) => Math.abs(q - got[i]!)))).toBe(1);
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
    const want = execute(graph, weights, { input: image }).depth!.data;
    const outputs: Partial<Record<IntegerArithmetic, Int8Array>> = {};
    for (const arithmetic of ['tflite', 'xnnpack'] as const) {
      // The same integers and parameters, read in either arithmetic (validation passes in both).
      const declared: QuantizedModel = {
        ...model,
        graph: { ...model.graph, quantization: { ...model.graph.quantization, arithmetic } },
      };
      expect(() => validateQuantizedModel(declared)).not.toThrow();
      const q = executeQuantized(declared, { input: { shape: image.shape, data: image.data } });
      outputs[arithmetic] = q.depth!.data;
      const got = dequantizeValues(q.depth!.data, q.depth!.params);
      let worst = 0;
      let peak = 0;
      for (let i = 0; i < got.length; i++) {
        worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
        peak = Math.max(peak, Math.abs(want[i]!));
      }
      expect(worst, arithmetic).toBeLessThan(0.05 * peak);
    }
    // The arithmetics really differ (requantisation and bilinear rounding), by a step or two.
    const a = outputs.tflite!;
    const b = outputs.xnnpack!;
    const steps = [...a].map((q, i) => Math.abs(q - b[i]!));
    expect(steps.some((d) => d > 0)).toBe(true);
    expect(Math.max(...steps)).toBeLessThanOrEqual(2);
  });
});
