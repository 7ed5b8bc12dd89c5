import { describe, expect, it } from 'vitest';
import { GraphBuilder, type Tensor } from './builder.js';
import { execute } from './executor.js';
import type { Shape } from './ir.js';
import { randomTensor } from './numeric.js';
import { initWeights, type TensorF32 } from './weights.js';

/** Runs a one-op graph on `data` with the given weights; returns the output values. */
function run(
  shape: Shape,
  data: number[] | Float32Array,
  declare: (g: GraphBuilder, x: Tensor) => Tensor,
  weights: Record<string, number[] | Float32Array> = {},
): { shape: Shape; values: number[] } {
  const g = new GraphBuilder('t');
  const x = g.input('input', shape);
  g.output('out', declare(g, x));
  const graph = g.build();
  const w = initWeights(graph, 0);
  for (const [name, values] of Object.entries(weights))
    w.set(name, { shape: w.get(name)!.shape, data: Float32Array.from(values) });
  const out = execute(graph, w, { input: { shape, data } }).out!;
  return { shape: out.shape, values: [...out.data] };
}

const iota = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

describe('reference executor', () => {
  it('conv2d: zero padding, bias', () => {
    const { values } = run(
      [1, 1, 3, 3],
      iota(9),
      (g, x) => g.conv2d('c', x, { outChannels: 1, kernel: 3, pads: 1, bias: true }),
      {
        'c.weight': Array(9).fill(1),
        'c.bias': [0.5],
      },
    );
    expect(values).toEqual([12.5, 21.5, 16.5, 27.5, 45.5, 33.5, 24.5, 39.5, 28.5]);
  });

  it('conv2d: stride, dilation and asymmetric pads', () => {
    // 1x1x4x4, kernel 2x2 of ones, dilation 2, stride 2, pads [0,0,1,1].
    const { shape, values } = run(
      [1, 1, 4, 4],
      iota(16),
      (g, x) => g.conv2d('c', x, { outChannels: 1, kernel: 2, stride: 2, dilation: 2, pads: [0, 0, 1, 1] }),
      { 'c.weight': [1, 1, 1, 1] },
    );
    expect(shape).toEqual([1, 1, 2, 2]);
    // out(0,0) = x(0,0)+x(0,2)+x(2,0)+x(2,2) = 1+3+9+11; out(0,1) = x(0,2)+x(2,2) (x(.,4) is padding).
    expect(values).toEqual([24, 14, 20, 11]);
  });

  it('conv2d: depthwise groups keep channels apart', () => {
    const { values } = run(
      [1, 2, 1, 1],
      [3, 5],
      (g, x) => g.conv2d('dw', x, { outChannels: 2, kernel: 1, groups: 2 }),
      { 'dw.weight': [2, 10] },
    );
    expect(values).toEqual([6, 50]);
  });

  it('convTranspose2d equals a conv of the zero-stuffed input with the flipped, transposed kernel', () => {
    // stride 2, k 3, pad 1, output padding 1 (deconv3) — the classic equivalence, two code paths.
    const x = randomTensor([1, 2, 3, 3], 11, -1, 1);
    const w = randomTensor([2, 3, 3, 3], 12, -1, 1); // (in, out, kh, kw)
    const flipped = new Float32Array(3 * 2 * 9); // (out, in, kh, kw), spatially flipped
    for (let i = 0; i < 2; i++)
      for (let o = 0; o < 3; o++)
        for (let k = 0; k < 9; k++) flipped[(o * 2 + i) * 9 + (8 - k)] = w.data[(i * 3 + o) * 9 + k]!;
    const t = run(
      [1, 2, 3, 3],
      x.data,
      (g, inp) =>
        g.convTranspose2d('t', inp, { outChannels: 3, kernel: 3, stride: 2, pads: 1, outputPadding: 1 }),
      { 't.weight': w.data },
    );
    const c = run(
      [1, 2, 3, 3],
      x.data,
      (g, inp) => g.conv2d('c', g.unpool('u', inp), { outChannels: 3, kernel: 3, pads: 1 }),
      { 'c.weight': flipped },
    );
    expect(t.shape).toEqual([1, 3, 6, 6]);
    expect(c.shape).toEqual(t.shape);
    t.values.forEach((v, i) => expect(v).toBeCloseTo(c.values[i]!, 12));
  });

  it('batchNorm uses running statistics and epsilon', () => {
    const { values } = run([1, 1, 1, 2], [1, 3], (g, x) => g.batchNorm('bn', x, 1e-5), {
      'bn.weight': [2],
      'bn.bias': [1],
      'bn.running_mean': [1],
      'bn.running_var': [4],
    });
    // (x - 1) * 2 / sqrt(4 + 1e-5) + 1
    expect(values[0]).toBeCloseTo(1, 12);
    expect(values[1]).toBeCloseTo(1 + 4 / Math.sqrt(4 + 1e-5), 12);
  });

  it('relu and relu6 clamp', () => {
    expect(run([1, 1, 1, 3], [-1, 3, 9], (g, x) => g.relu('r', x)).values).toEqual([0, 3, 9]);
    expect(run([1, 1, 1, 3], [-1, 3, 9], (g, x) => g.relu6('r', x)).values).toEqual([0, 3, 6]);
  });

  it('nearest x2 is PyTorch nearest: out(y, x) = in(floor(y/2), floor(x/2))', () => {
    expect(run([1, 1, 2, 2], [1, 2, 3, 4], (g, x) => g.upsample('u', x, 'nearest')).values).toEqual([
      1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4,
    ]);
  });

  it('bilinear x2 is align_corners=False (half-pixel, clamped at the border)', () => {
    // in(y, x) = 2y + x, so out = 2*sy + sx with source coordinates [0, .25, .75, 1].
    const s = [0, 0.25, 0.75, 1];
    const expected = s.flatMap((sy) => s.map((sx) => 2 * sy + sx));
    expect(run([1, 1, 2, 2], [0, 1, 2, 3], (g, x) => g.upsample('u', x, 'bilinear')).values).toEqual(
      expected,
    );
  });

  it('unpool inserts zeros, value at the top-left of each 2x2', () => {
    expect(run([1, 1, 1, 2], [7, 8], (g, x) => g.unpool('u', x)).values).toEqual([7, 0, 8, 0, 0, 0, 0, 0]);
  });

  it('pixelShuffle is PyTorch PixelShuffle (CRD order)', () => {
    const { shape, values } = run([1, 8, 1, 1], iota(8), (g, x) => g.pixelShuffle('ps', x));
    expect(shape).toEqual([1, 2, 2, 2]);
    expect(values).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('maxPool ignores padding (all-negative input stays negative)', () => {
    const { shape, values } = run([1, 1, 4, 4], Array(16).fill(-3), (g, x) =>
      g.maxPool('p', x, { kernel: 3, stride: 2, pads: 1 }),
    );
    expect(shape).toEqual([1, 1, 2, 2]);
    expect(values).toEqual([-3, -3, -3, -3]);
    expect(run([1, 1, 2, 2], [1, 5, 2, 0], (g, x) => g.maxPool('p', x, { kernel: 2 })).values).toEqual([5]);
  });

  it('add and concat', () => {
    expect(run([1, 1, 1, 2], [1, 2], (g, x) => g.add('a', x, x, x)).values).toEqual([3, 6]);
    const { shape, values } = run([1, 1, 1, 2], [1, 2], (g, x) => g.concat('c', x, g.relu('r', x)));
    expect(shape).toEqual([1, 2, 1, 2]);
    expect(values).toEqual([1, 2, 1, 2]);
  });

  it('rejects an input of the wrong size, naming the layer', () => {
    const g = new GraphBuilder('t');
    g.output('o', g.input('input', [1, 1, 2, 2]));
    const graph = g.build();
    const empty = new Map<string, TensorF32>();
    expect(() => execute(graph, empty, { input: { shape: [1, 1, 2], data: [1, 2] } })).toThrow(
      /layer "input": fed 2 values \(shape 1x1x2\), expected shape 1x1x2x2/,
    );
  });
});

describe('mobile-network ops', () => {
  it("hard sigmoid and hard swish are PyTorch's relu6(x + 3) / 6 forms; clip clamps", () => {
    const xs = [-4, -3, -1.5, 0, 1.5, 3, 4];
    expect(run([1, 1, 1, 7], xs, (g, x) => g.hardSigmoid('h', x)).values).toEqual([
      0, 0, 0.25, 0.5, 0.75, 1, 1,
    ]);
    expect(run([1, 1, 1, 7], xs, (g, x) => g.hardSwish('h', x)).values).toEqual([
      -0, -0, -0.375, 0, 1.125, 3, 4,
    ]);
    expect(run([1, 1, 1, 7], xs, (g, x) => g.clip('c', x, -1, 2)).values).toEqual([-1, -1, -1, 0, 1.5, 2, 2]);
    expect(run([1, 1, 1, 1], [0], (g, x) => g.sigmoid('s', x)).values).toEqual([0.5]);
  });

  it('average pool counts padded zeros or not; global average pool; per-channel mul', () => {
    const x = [1, 2, 3, 4];
    const pool = (countIncludePad: boolean): number[] =>
      run([1, 1, 2, 2], x, (g, t) =>
        g.avgPool2d('p', t, { kernel: 2, stride: 1, pads: [1, 1, 0, 0], countIncludePad }),
      ).values;
    expect(pool(true)).toEqual([0.25, 0.75, 1, 2.5]);
    expect(pool(false)).toEqual([1, 1.5, 2, 2.5]);
    expect(run([1, 2, 1, 2], [1, 3, 10, 20], (g, t) => g.globalAvgPool('gap', t))).toEqual({
      shape: [1, 2, 1, 1],
      values: [2, 15],
    });
    expect(
      run([1, 2, 1, 2], [1, 3, 10, 20], (g, t) => g.mul('m', t, g.globalAvgPool('gap', t))).values,
    ).toEqual([2, 6, 150, 300]);
  });

  it('refuses a mul whose second input is neither the same shape nor per channel, and bad clip bounds', () => {
    const g = new GraphBuilder('bad');
    const x = g.input('input', [1, 4, 2, 2]);
    const y = g.conv2d('c', x, { outChannels: 2, kernel: 1 });
    expect(() => g.mul('m', x, y)).toThrow(
      /layer "m": mul needs input 1 of input 0's shape 1x4x2x2 or per channel 1x4x1x1, found 1x2x2x2/,
    );
    expect(() => g.clip('c2', x, 2, 1)).toThrow(
      /layer "c2": attribute "min" \(2\) must be below "max" \(1\)/,
    );
  });
});
