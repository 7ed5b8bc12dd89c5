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
