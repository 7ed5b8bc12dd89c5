import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FormatError } from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { encodeNpy, readNpy } from './npy.js';

const DATA =
  process.env.FASTDEPTH_DATA ?? resolve(dirname(fileURLToPath(import.meta.url)), '../../../../shared/data');

/** A hand-made version 1.0 file with the given header dict and raw body. */
function npy(header: string, body: Uint8Array): Uint8Array {
  const h = header + ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + h.length + body.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, h.length, true);
  out.set(new TextEncoder().encode(h), 10);
  out.set(body, 10 + h.length);
  return out;
}

describe('readNpy', () => {
  it('reads the shared NYU sample (f8, f4)', () => {
    const rgb = readNpy(readFileSync(resolve(DATA, 'nyu-sample/rgb.npy')), 'rgb.npy');
    expect(rgb.shape).toEqual([224, 224, 3]);
    expect(rgb.dtype).toBe('<f8');
    expect(rgb.data.every((v) => v >= 0 && v <= 1)).toBe(true);
    expect(rgb.data.some((v) => v > 0.5)).toBe(true);
    const pred = readNpy(readFileSync(resolve(DATA, 'nyu-sample/pred.npy')), 'pred.npy');
    expect(pred.shape).toEqual([1, 1, 224, 224]);
    expect(pred.dtype).toBe('<f4');
  });

  it('reads u1 and i4', () => {
    const u1 = readNpy(
      npy("{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", Uint8Array.of(0, 128, 255)),
      'u.npy',
    );
    expect([...u1.data]).toEqual([0, 128, 255]);
    const i4 = readNpy(
      npy(
        "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 1), }",
        new Uint8Array(Int32Array.of(-7, 1 << 30).buffer),
      ),
      'i.npy',
    );
    expect(i4.shape).toEqual([2, 1]);
    expect([...i4.data]).toEqual([-7, 1 << 30]);
  });

  it('round-trips encodeNpy, with the data 64-byte aligned', () => {
    const data = Float32Array.of(1.5, -2, 3.25, 0, 1e-3, 7);
    const bytes = encodeNpy([1, 2, 3], data);
    expect((bytes.length - data.byteLength) % 64).toBe(0);
    const back = readNpy(bytes, 'x.npy');
    expect(back.shape).toEqual([1, 2, 3]);
    expect(back.dtype).toBe('<f4');
    expect(Float32Array.from(back.data)).toEqual(data);
    expect(readNpy(encodeNpy([4], Float32Array.of(1, 2, 3, 4)), 'v.npy').shape).toEqual([4]);
  });

  it('rejects bad files with the file named', () => {
    expect(() => readNpy(new Uint8Array(20), 'zero.npy')).toThrow(FormatError);
    expect(() => readNpy(new Uint8Array(20), 'zero.npy')).toThrow(/zero\.npy: not a \.npy file/);
    const f8 = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }", new Uint8Array(16));
    expect(() => readNpy(f8, 'short.npy')).toThrow(/short\.npy: truncated \.npy data/);
    const c8 = npy("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(8));
    expect(() => readNpy(c8, 'complex.npy')).toThrow(/complex\.npy: \.npy dtype "<c8" is not supported/);
    const fortran = npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", new Uint8Array(16));
    expect(() => readNpy(fortran, 'f.npy')).toThrow(/Fortran-order/);
  });
});
