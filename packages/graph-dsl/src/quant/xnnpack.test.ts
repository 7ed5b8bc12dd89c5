import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../builder.js';
import { FormatError, GraphError } from '../errors.js';
import { loadGraph, saveGraph } from '../serialize.js';
import { executeQuantized } from './execute.js';
import type { QuantizedModel, TensorI8 } from './ir.js';
import {
  roundHalfEven,
  xnnpackActivationRange,
  xnnpackAdd,
  xnnpackAddParams,
  xnnpackConvScale,
  xnnpackQuantizeBound,
  xnnpackRequantize,
} from './xnnpack.js';

const i8 = (shape: number[], values: number[]): TensorI8 => ({
  dtype: 'int8',
  shape,
  data: Int8Array.from(values),
});

/** The magic-bias sequence of XNNPACK's wasm/SSE kernels, on float32 bits, for comparison. */
function magicBiasRequant(acc: number, scale: number, zp: number, lo: number, hi: number): number {
  const f = new Float32Array(1);
  const u = new Int32Array(f.buffer);
  const magic = 12582912;
  f[0] = lo - zp + magic;
  const magicMin = u[0]!;
  f[0] = Math.fround(Math.fround(acc) * scale) + magic; // the float32 add of the kernel
  const v = Math.max(u[0]!, magicMin) - (0x4b400000 - zp);
  return Math.min(v, hi);
}

describe('XNNPACK int8 arithmetic', () => {
  it('rounds halves to even, negative values included', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999, -2.5001, 3].map(roundHalfEven)).toEqual([
      0, 2, 2, -0, -2, -2, 2, -3, 3,
    ]);
  });

  it('requantises acc * float32 scale with round-half-even, then zero point and clamp', () => {
    // scale 1/8 exactly: 12/8 = 1.5 -> 2, 20/8 = 2.5 -> 2, -12/8 = -1.5 -> -2, -20/8 -> -2,
    // 19/8 = 2.375 -> 2 (TFLite's double rounding gives 3), 28/8 = 3.5 -> 4.
    expect([12, 20, -12, -20, 19, 28].map((a) => xnnpackRequantize(a, 0.125, 3, -128, 127))).toEqual([
      5, 5, 1, 1, 5, 7,
    ]);
    expect(xnnpackRequantize(10000, 0.125, 3, -128, 127)).toBe(127);
    expect(xnnpackRequantize(-10000, 0.125, 3, -128, 20)).toBe(-128);
    expect(xnnpackRequantize(100, 0.125, 3, 0, 10)).toBe(10);
  });

  it('equals the magic-bias sequence of the SIMD kernels on every accumulator it meets', () => {
    const scales = [0.125, 0.0123456, 1.7, 0.000731, 3.3e-5, 0.5];
    for (const scale of scales.map(Math.fround))
      for (const zp of [-128, -3, 0, 17, 127])
        for (let acc = -70000; acc <= 70000; acc += 101)
          expect(xnnpackRequantize(acc, scale, zp, -128, 127)).toBe(
            magicBiasRequant(acc, scale, zp, -128, 127),
          );
    // Huge values clamp the same way.
    for (const acc of [2 ** 31 - 1, -(2 ** 31), 2 ** 24 + 1])
      expect(xnnpackRequantize(acc, 0.5, -5, -128, 127)).toBe(magicBiasRequant(acc, 0.5, -5, -128, 127));
  });

  it('computes the conv scale in float32 as (sIn * sW) / sOut', () => {
    const [sIn, sW, sOut] = [0.003921568859368563, 0.0123, 0.004687612410634756].map(Math.fround);
    const f32 = Math.fround;
    const expected = f32(f32(sIn! * sW!) / sOut!);
    expect(xnnpackConvScale(sIn!, sW!, sOut!, 'c')).toBe(expected);
    // Not the double quotient (TFLite's multiplier source) rounded once.
    expect(expected).not.toBe((sIn! * sW!) / sOut!);
    expect(() => xnnpackConvScale(16, 16, 1, 'conv7')).toThrow(/conv7.*not below 256/);
  });

  it('quantises activation bounds as xnn_qs8_quantize (float32, round half to even)', () => {
    expect(xnnpackQuantizeBound(0, { scale: 0.1, zeroPoint: -128 })).toBe(-128);
    // 6 / 12 = 0.5: a tie, to even 0 (TFLite's zp + round(0.5) gives 1).
    expect(xnnpackQuantizeBound(6, { scale: 12, zeroPoint: 0 })).toBe(0);
    expect(xnnpackQuantizeBound(6, { scale: 12, zeroPoint: 1 })).toBe(2); // 1.5 -> 2
    expect(xnnpackQuantizeBound(6, { scale: 4, zeroPoint: 0 })).toBe(2); // 1.5 -> 2
    expect(xnnpackQuantizeBound(6, { scale: 0.001, zeroPoint: -128 })).toBe(127);
    expect(xnnpackActivationRange('relu6', { scale: 0.05, zeroPoint: -100 })).toEqual([-100, 20]);
    expect(xnnpackActivationRange('relu', { scale: 0.05, zeroPoint: -100 })).toEqual([-100, 127]);
    expect(xnnpackActivationRange('none', { scale: 0.05, zeroPoint: -100 })).toEqual([-128, 127]);
  });

  it('ADD: 21-bit multipliers, shift from the larger ratio, bias with the zero points, round half up', () => {
    const a = { scale: 0.5, zeroPoint: -128 };
    const b = { scale: 0.25, zeroPoint: 0 };
    const out = { scale: 1, zeroPoint: 0 };
    const p = xnnpackAddParams(a, b, out, 'add');
    // Ratios 0.5 (exponent -1) and 0.25: shift 21, multipliers 2^20 and 2^19.
    expect(p).toEqual({
      aMultiplier: 2 ** 20,
      bMultiplier: 2 ** 19,
      shift: 21,
      bias: 2 ** 20 + 128 * 2 ** 20,
      outputZeroPoint: 0,
    });
    // real = 0.5 (qa + 128) + 0.25 qb.
    expect(xnnpackAdd(-127, 2, p)).toBe(1); // 1.0
    expect(xnnpackAdd(-127, 0, p)).toBe(1); // 0.5 -> 1 (up)
    expect(xnnpackAdd(-128, -2, p)).toBe(0); // -0.5 -> 0 (up; TFLite: -1, away from zero)
    expect(xnnpackAdd(-128, -6, p)).toBe(-1); // -1.5 -> -1 (up)
    expect(xnnpackAdd(-128, -7, p)).toBe(-2); // -1.75 -> -2
    expect(xnnpackAdd(127, 127, p)).toBe(127); // 159.25: clamped
    // Ratios that are not powers of two: multipliers are round-half-even of ratio * 2^shift.
    const q = xnnpackAddParams(
      { scale: 0.3, zeroPoint: 5 },
      { scale: 0.7, zeroPoint: -9 },
      { scale: 1.1, zeroPoint: 2 },
      'add',
    );
    const f32 = Math.fround;
    const ra = f32(f32(0.3) / f32(1.1));
    const rb = f32(f32(0.7) / f32(1.1));
    expect(q.shift).toBe(21); // rb = 0.636..: exponent -1
    expect(q.aMultiplier).toBe(Math.round(ra * 2 ** 21));
    expect(q.bMultiplier).toBe(Math.round(rb * 2 ** 21));
    expect(q.bias).toBe(2 ** 20 - q.aMultiplier * 5 + q.bMultiplier * 9);
    expect(() =>
      xnnpackAddParams({ scale: 1, zeroPoint: 0 }, b, { scale: 1e-3, zeroPoint: 0 }, 'skip2'),
    ).toThrow(/skip2.*first input.*\[2\^-10, 2\^8\)/);
  });
});

/** input -> conv 3x3 (pad 1) -> output, and a skip add of the input, one channel. */
function model(arithmetic?: 'tflite' | 'xnnpack'): QuantizedModel {
  const g = new GraphBuilder('q');
  const x = g.input('input', [1, 1, 3, 3]);
  const c = g.conv2d('conv', x, { outChannels: 1, kernel: 3, pads: 1, bias: false });
  g.output('out', g.add('sum', [c, x]));
  const inP = { scale: 0.5, zeroPoint: -10 };
  const convP = { scale: 1, zeroPoint: 3 };
  const sumP = { scale: 1, zeroPoint: 0 };
  return {
    graph: {
      ...g.build(),
      quantization: {
        scheme: 'int8',
        tensors: { input: inP, conv: convP, sum: sumP, out: sumP },
        weightScales: { conv: [0.25] },
        ...(arithmetic ? { arithmetic } : {}),
      },
    },
    weights: new Map([['conv.weight', i8([1, 1, 3, 3], new Array<number>(9).fill(1))]]),
  };
}

describe("executeQuantized with arithmetic 'xnnpack'", () => {
  const q = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((v) => v - 10); // q - zp = 0..8
  it('requantises convs and adds the XNNPACK way; the default stays TFLite', () => {
    const x = { input: i8([1, 1, 3, 3], q) };
    const xnn = executeQuantized(model('xnnpack'), x, { keepIntermediates: true });
    const tfl = executeQuantized(model(), x, { keepIntermediates: true });
    // acc = 3x3 sums of 0..8 = [8, 15, 12, 21, 36, 27, 20, 33, 24], scale 1/8:
    // rne: 1, 1.875->2, 1.5->2, 2.625->3, 4.5->4, 3.375->3, 2.5->2, 4.125->4, 3 (+3).
    expect([...xnn.conv!.data]).toEqual([4, 5, 5, 6, 7, 6, 5, 7, 6]);
    // TFLite: double rounding and halves away from zero.
    expect([...tfl.conv!.data]).toEqual([4, 5, 5, 6, 8, 7, 6, 7, 6]);
    // sum = (conv - 3) + 0.5 (q + 10): xnnpack adds halves up, e.g. 1 + 0 = 1, 2 + 0.5 = 2.5 -> 3.
    const expected = [...xnn.conv!.data].map((v, i) => Math.floor(v - 3 + 0.5 * i + 0.5));
    expect([...xnn.out!.data]).toEqual(expected);
  });

  it('round-trips through saveGraph/loadGraph and refuses an unknown arithmetic', () => {
    const m = model('xnnpack');
    const back = loadGraph(saveGraph(m.graph), 'q.json');
    expect(back.quantization?.arithmetic).toBe('xnnpack');
    expect(loadGraph(saveGraph(model().graph), 'q.json').quantization?.arithmetic).toBeUndefined();
    const bad = JSON.parse(saveGraph(m.graph)) as { quantization: Record<string, unknown> };
    bad.quantization['arithmetic'] = 'gemmlowp';
    expect(() => loadGraph(JSON.stringify(bad), 'bad.json')).toThrow(FormatError);
    expect(() => loadGraph(JSON.stringify(bad), 'bad.json')).toThrow(
      /bad\.json.*quantization\.arithmetic.*"tflite", "xnnpack".*gemmlowp/,
    );
    const wrong = {
      ...m,
      graph: { ...m.graph, quantization: { ...m.graph.quantization, arithmetic: 'x' as 'tflite' } },
    };
    expect(() => executeQuantized(wrong, { input: i8([1, 1, 3, 3], q) })).toThrow(GraphError);
  });
});
