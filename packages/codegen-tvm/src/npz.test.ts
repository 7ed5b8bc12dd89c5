import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TensorF32 } from '@fastdepth/graph-dsl';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeNpz, encodeTensorNpy as encodeNpy } from './npz.js';
import { python, requireNumpy } from './testing/python.js';

const dir = mkdtempSync(join(tmpdir(), 'codegen-tvm-npy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const t4: TensorF32 = { shape: [1, 2, 3, 4], data: Float32Array.from({ length: 24 }, (_, i) => i * 0.5 - 3) };
const t1: TensorF32 = { shape: [5], data: Float32Array.from([1, 2, 3, 4, 1e-7]) };

describe('npy / npz', () => {
  it('writes a v1.0 header aligned to 64 bytes', () => {
    const b = encodeNpy(t1);
    expect([...b.subarray(0, 8)]).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    const len = b[8]! | (b[9]! << 8);
    expect((10 + len) % 64).toBe(0);
    const header = new TextDecoder().decode(b.subarray(10, 10 + len));
    expect(header).toMatch(/^\{'descr': '<f4', 'fortran_order': False, 'shape': \(5,\), \} *\n$/);
    expect(b.length).toBe(10 + len + 20);
  });

  it('numpy reads the .npy and .npz files back exactly', () => {
    requireNumpy();
    writeFileSync(join(dir, 'a.npy'), encodeNpy(t4));
    writeFileSync(
      join(dir, 'w.npz'),
      encodeNpz(
        new Map([
          ['conv0_weight', t4],
          ['conv0_bias', t1],
        ]),
      ),
    );
    const r = python(
      [
        '-c',
        `import numpy as np, json, zipfile
a = np.load('a.npy')
z = np.load('w.npz')
assert zipfile.ZipFile('w.npz').testzip() is None
print(json.dumps({'a': [a.dtype.str, list(a.shape), a.ravel().tolist()],
  'keys': sorted(z.files), 'w': list(z['conv0_weight'].shape), 'b': z['conv0_bias'].tolist(),
  'same': bool((z['conv0_weight'] == a).all())}))`,
      ],
      { cwd: dir },
    );
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as {
      a: [string, number[], number[]];
      keys: string[];
      w: number[];
      b: number[];
      same: boolean;
    };
    expect(out.a[0]).toBe('<f4');
    expect(out.a[1]).toEqual([1, 2, 3, 4]);
    expect(out.a[2]).toEqual([...t4.data]);
    expect(out.keys).toEqual(['conv0_bias', 'conv0_weight']);
    expect(out.w).toEqual([1, 2, 3, 4]);
    expect(out.b).toEqual([...t1.data]);
    expect(out.same).toBe(true);
  });
});
