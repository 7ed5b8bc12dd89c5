/**
 * The two ops that are not one Relay call each, or whose mode string decides the result,
 * emulated in numpy from the TVM op definitions (reshape/pad are numpy's; depth_to_space CRD
 * is reshape (n, c/b², b, b, h, w) -> transpose (0, 1, 4, 2, 5, 3) -> reshape) and compared
 * with the reference executor. Guards the constructions, since no TVM runs here.
 */
import { execute, GraphBuilder } from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { python, requireNumpy } from './testing/python.js';

function run(op: 'unpool' | 'pixelShuffle', shape: [number, number, number, number], script: string): void {
  requireNumpy();
  const b = new GraphBuilder(op);
  const x = b.input('input', shape);
  b.output('out', op === 'unpool' ? b.unpool('u', x) : b.pixelShuffle('s', x));
  const data = Float64Array.from({ length: shape.reduce((a, c) => a * c, 1) }, (_, i) => i + 1);
  const ref = execute(b.build(), new Map(), { input: { shape, data } })['out']!;
  const r = python([
    '-c',
    `import numpy as np, json, sys\nx = np.arange(1, ${data.length + 1}, dtype=np.float64).reshape(${shape.join(', ')})\n${script}\nprint(json.dumps([list(y.shape), y.ravel().tolist()]))`,
  ]);
  expect(r.stderr).toBe('');
  const [outShape, values] = JSON.parse(r.stdout) as [number[], number[]];
  expect(outShape).toEqual(ref.shape);
  expect(values).toEqual([...ref.data]);
}

describe('Relay constructions equal the reference executor', () => {
  it('unpool = reshape, nn.pad, reshape', () => {
    run(
      'unpool',
      [1, 2, 3, 4],
      'n, c, h, w = x.shape\ny = np.pad(x.reshape(n, c, h, 1, w, 1), [(0, 0), (0, 0), (0, 0), (0, 1), (0, 0), (0, 1)]).reshape(n, c, 2 * h, 2 * w)',
    );
  });

  it('pixel shuffle = nn.depth_to_space mode CRD', () => {
    run(
      'pixelShuffle',
      [1, 8, 2, 3],
      'n, c, h, w = x.shape\nb = 2\ny = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3).reshape(n, c // (b * b), h * b, w * b)',
    );
  });
});

/**
 * image.resize2d as TOPI computes it (python/tvm/topi/image/resize.py: get_inx in float32,
 * floor rounding or linear interpolation with indices clamped to the edge), in numpy float32.
 */
const TOPI_RESIZE = `
import json, sys
import numpy as np
f32 = np.float32
def axis(n_in, n_out, nearest):
    scale = f32(n_in) / f32(n_out)
    d = np.arange(n_out).astype(f32)
    if nearest:
        i = np.minimum(np.floor(d * scale).astype(np.int64), n_in - 1)
        return i, i, np.zeros(n_out, f32)
    x = (d + f32(0.5)) * scale - f32(0.5)
    lo = np.floor(x)
    frac = (x - lo).astype(f32)
    i0 = np.clip(lo.astype(np.int64), 0, n_in - 1)
    i1 = np.clip(lo.astype(np.int64) + 1, 0, n_in - 1)
    return i0, i1, frac
out = []
for c in json.load(sys.stdin):
    x = np.array(c["data"], dtype=f32).reshape(c["shape"])
    near = c["mode"] == "nearest"
    y0, y1, fy = axis(x.shape[2], c["size"][0], near)
    x0, x1, fx = axis(x.shape[3], c["size"][1], near)
    top = x[:, :, y0][:, :, :, x0] * (1 - fx) + x[:, :, y0][:, :, :, x1] * fx
    bottom = x[:, :, y1][:, :, :, x0] * (1 - fx) + x[:, :, y1][:, :, :, x1] * fx
    y = top * (1 - fy)[:, None] + bottom * fy[:, None]
    out.append([list(y.shape), y.ravel().tolist()])
print(json.dumps(out))
`;

describe('image.resize2d as TOPI computes it equals the reference executor', () => {
  it('nearest asymmetric/floor and linear half_pixel, up, down and float32-sensitive sizes', () => {
    requireNumpy();
    const cases: readonly { shape: [number, number, number, number]; size: [number, number] }[] = [
      { shape: [1, 2, 5, 7], size: [15, 21] },
      { shape: [1, 2, 5, 7], size: [13, 4] },
      { shape: [1, 1, 6, 4], size: [1, 9] },
      { shape: [1, 1, 2, 3], size: [82, 123] },
      { shape: [1, 3, 9, 11], size: [4, 6] },
    ];
    const all = cases.flatMap((c) =>
      (['nearest', 'bilinear'] as const).map((mode) => {
        const n = c.shape.reduce((a, b) => a * b, 1);
        const data = Array.from({ length: n }, (_, i) => Math.fround(Math.sin(i * 1.7) * 3));
        return { ...c, mode, data };
      }),
    );
    const r = python(['-c', TOPI_RESIZE], { input: JSON.stringify(all) });
    expect(r.stderr).toBe('');
    const topi = JSON.parse(r.stdout) as [number[], number[]][];
    all.forEach((c, i) => {
      const b = new GraphBuilder('r');
      b.output('out', b.resize('r', b.input('input', c.shape), c.mode, { size: c.size }));
      const ref = execute(b.build(), new Map(), { input: { shape: c.shape, data: c.data } })['out']!;
      const [shape, values] = topi[i]!;
      expect(shape).toEqual([...ref.shape]);
      const error = Math.max(...values.map((v, k) => Math.abs(v - ref.data[k]!)));
      expect(error, `${c.mode} ${c.shape.join('x')} to ${c.size.join('x')}`).toBeLessThan(1e-5);
    });
  });
});
