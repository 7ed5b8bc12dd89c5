import { describe, expect, it } from 'vitest';
import { tf, useTfBackend } from './tf-backend.js';

/** Seeded values in [-1, 1) (identical on every backend). */
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

type Case = {
  name: string;
  x: [number, number, number, number];
  w?: [number, number, number, number];
  f: (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor;
};

const pad = (x: tf.Tensor4D, p: number): tf.Tensor4D =>
  tf.pad(x, [
    [0, 0],
    [p, p],
    [p, p],
    [0, 0],
  ]);

function tileNearest(x: tf.Tensor4D): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const cols = tf.tile(tf.reshape(x, [n * h * w, 1, c]), [1, 2, 1]);
  return tf.reshape(tf.tile(tf.reshape(cols, [n * h, 1, 2 * w * c]), [1, 2, 1]), [n, 2 * h, 2 * w, c]);
}

// Shapes with odd sizes so strided convs leave a remainder row (the trickiest gradient case).
const CASES: Case[] = [
  { name: 'conv 1x1', x: [2, 5, 6, 7], w: [1, 1, 7, 4], f: (x, w) => tf.conv2d(x, w, 1, 'valid') },
  {
    name: 'conv 3x3 s1 pad 1',
    x: [2, 5, 6, 3],
    w: [3, 3, 3, 4],
    f: (x, w) => tf.conv2d(pad(x, 1), w, 1, 'valid'),
  },
  {
    name: 'conv 3x3 s2 pad 1',
    x: [2, 7, 8, 3],
    w: [3, 3, 3, 5],
    f: (x, w) => tf.conv2d(pad(x, 1), w, 2, 'valid'),
  },
  { name: 'conv 3x3 s2 same', x: [1, 7, 6, 3], w: [3, 3, 3, 2], f: (x, w) => tf.conv2d(x, w, 2, 'same') },
  {
    name: 'dw 3x3 s1 pad 1',
    x: [2, 6, 5, 4],
    w: [3, 3, 4, 1],
    f: (x, w) => tf.depthwiseConv2d(pad(x, 1), w, 1, 'valid'),
  },
  {
    name: 'dw 3x3 s2 pad 1',
    x: [2, 7, 8, 4],
    w: [3, 3, 4, 1],
    f: (x, w) => tf.depthwiseConv2d(pad(x, 1), w, 2, 'valid'),
  },
  {
    name: 'dw 5x5 s1 pad 2',
    x: [1, 6, 7, 3],
    w: [5, 5, 3, 1],
    f: (x, w) => tf.depthwiseConv2d(pad(x, 2), w, 1, 'valid'),
  },
  {
    name: 'dw 5x5 s2 pad 2',
    x: [2, 9, 8, 3],
    w: [5, 5, 3, 1],
    f: (x, w) => tf.depthwiseConv2d(pad(x, 2), w, 2, 'valid'),
  },
  {
    name: 'dw 3x3 s2 same',
    x: [1, 7, 6, 2],
    w: [3, 3, 2, 1],
    f: (x, w) => tf.depthwiseConv2d(x, w, 2, 'same'),
  },
  { name: 'nearest x2 (reshape + tile, as TfGraph)', x: [2, 3, 4, 3], f: (x) => tileNearest(x) },
  { name: 'relu6 (clip)', x: [2, 3, 4, 3], f: (x) => tf.clipByValue(tf.mul(x, 8), 0, 6) },
  { name: 'relu6', x: [2, 3, 4, 3], f: (x) => tf.relu6(tf.mul(x, 8)) },
  { name: 'relu', x: [2, 3, 4, 3], f: (x) => tf.relu(x) },
];

/** Loss = sum(f(x, w) * r) for a fixed random r; returns [loss, dL/dx, dL/dw] as plain arrays. */
async function grads(c: Case): Promise<Float32Array[]> {
  const x = tf.tensor4d(
    values(
      c.x.reduce((a, b) => a * b),
      1,
    ),
    c.x,
  );
  const w = tf.tensor4d(values(c.w ? c.w.reduce((a, b) => a * b) : 1, 2), c.w ?? [1, 1, 1, 1]);
  const outShape = tf.tidy(() => c.f(x, w).shape);
  const r = tf.tensor(
    values(
      outShape.reduce((a, b) => a * b),
      3,
    ),
    outShape,
  );
  const loss = (a: tf.Tensor, b?: tf.Tensor): tf.Scalar =>
    tf.sum(tf.mul(c.f(a as tf.Tensor4D, (b ?? w) as tf.Tensor4D), r));
  // Gradients only with respect to what the function uses (tfjs refuses unused inputs).
  const { value, grads: g } = tf.valueAndGrads(loss)(c.w ? [x, w] : [x]);
  const out = [await value.data(), ...(await Promise.all(g.map((t) => t.data())))];
  tf.dispose([x, w, r, value, ...g]);
  return out.map((a) => Float32Array.from(a));
}

function relError(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / Math.max(den, 1e-12);
}

describe('wasm gradient kernels', () => {
  it.each(CASES)('$name: same loss and gradients on wasm as on cpu', async (c) => {
    await useTfBackend('cpu');
    const ref = await grads(c);
    await useTfBackend('wasm');
    const got = await grads(c);
    expect(got).toHaveLength(ref.length);
    for (let k = 0; k < ref.length; k++) {
      expect(got[k]!.length).toBe(ref[k]!.length);
      expect(relError(got[k]!, ref[k]!)).toBeLessThan(1e-4);
    }
  });
});

describe('nearest x2 gradient', () => {
  it("tfjs-cpu's ResizeNearestNeighborGrad is wrong at batch > 1 (why TfGraph upsamples with tiles)", async () => {
    await useTfBackend('cpu');
    const tile = await grads({ name: 'tile', x: [2, 3, 4, 3], f: (x) => tileNearest(x) });
    const resize = (x: tf.Tensor4D): tf.Tensor => tf.image.resizeNearestNeighbor(x, [6, 8]);
    const onCpu = await grads({ name: 'resize', x: [2, 3, 4, 3], f: resize });
    await useTfBackend('wasm');
    const onWasm = await grads({ name: 'resize', x: [2, 3, 4, 3], f: resize });
    // Same forward values everywhere; wasm's gradient equals the tile one, cpu's does not.
    expect(relError(onCpu[0]!, tile[0]!)).toBeLessThan(1e-6);
    expect(relError(onWasm[1]!, tile[1]!)).toBeLessThan(1e-6);
    expect(relError(onCpu[1]!, tile[1]!)).toBeGreaterThan(0.1);
  });
});
