import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { FormatError } from './errors.js';
import { encodeNpy, readNpy } from './npy.js';

const readNpyFile = async (path: string) => readNpy(await readFile(path), path);

const SAMPLE = new URL('../../../../shared/data/nyu-sample/', import.meta.url);

/** A .npy file with any header text, for malformed-file tests. */
function rawNpy(header: string, data: Uint8Array, major = 1): Uint8Array {
  const lenBytes = major === 1 ? 2 : 4;
  const text = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + lenBytes + text.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, text.length, true);
  else view.setUint32(8, text.length, true);
  out.set(text, 8 + lenBytes);
  out.set(data, 8 + lenBytes + text.length);
  return out;
}

describe('readNpy', () => {
  it('reads the authors sample files', async () => {
    const rgb = await readNpyFile(new URL('rgb.npy', SAMPLE).pathname);
    expect(rgb.shape).toEqual([224, 224, 3]);
    expect(rgb.dtype).toBe('<f8');
    expect(rgb.data).toBeInstanceOf(Float64Array);
    expect(rgb.data.length).toBe(224 * 224 * 3);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of rgb.data) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    // RGB in [0, 1] and not constant: the data starts where the header says it does.
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThanOrEqual(1);
    expect(hi - lo).toBeGreaterThan(0.5);
    const depth = await readNpyFile(new URL('depth.npy', SAMPLE).pathname);
    expect(depth.dtype).toBe('<f4');
    expect(depth.data.every((v) => v > 0.5 && v < 10)).toBe(true);
  });

  it('round-trips every dtype, 1-D, scalar and empty shapes', () => {
    const cases = [
      { shape: [2, 3], data: Float32Array.from([1.5, -2, 3, 4, 5e-8, 6]), dtype: '<f4' },
      { shape: [4], data: Float64Array.from([Math.PI, -1, 0, 1e300]), dtype: '<f8' },
      { shape: [1, 2, 2], data: Uint8Array.from([0, 1, 254, 255]), dtype: '|u1' },
      { shape: [3], data: Int32Array.from([-(2 ** 31), 0, 2 ** 31 - 1]), dtype: '<i4' },
      { shape: [], data: Float32Array.from([7]), dtype: '<f4' },
      { shape: [0, 5], data: new Float32Array(0), dtype: '<f4' },
    ] as const;
    for (const c of cases) {
      const bytes = encodeNpy(c.shape, c.data);
      // numpy's layout: the data starts on a 64-byte boundary after a '\n'-terminated header.
      const headerLen = new DataView(bytes.buffer).getUint16(8, true);
      expect((10 + headerLen) % 64).toBe(0);
      expect(bytes[10 + headerLen - 1]).toBe(0x0a);
      const back = readNpy(bytes, 'x.npy');
      expect(back.shape).toEqual(c.shape);
      expect(back.dtype).toBe(c.dtype);
      expect(back.data).toEqual(c.data);
    }
    const header = new TextDecoder().decode(encodeNpy([5], new Float32Array(5)).subarray(10, 70));
    expect(header).toContain("'shape': (5,)");
  });

  it('reads v2 headers and data at unaligned offsets', () => {
    const data = new Uint8Array(Float32Array.from([1, 2, 3]).buffer);
    const v2 = rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n", data, 2);
    expect(Array.from(readNpy(v2, 'v2.npy').data)).toEqual([1, 2, 3]);
    // The same bytes one byte into a larger buffer: not 4-byte aligned.
    const shifted = new Uint8Array(v2.length + 1);
    shifted.set(v2, 1);
    expect(Array.from(readNpy(shifted.subarray(1), 'v2.npy').data)).toEqual([1, 2, 3]);
  });

  it('names the file on bad magic, truncation, bad dtype and Fortran order', () => {
    const bad = (bytes: Uint8Array) => () => readNpy(bytes, 'bad.npy');
    expect(bad(new TextEncoder().encode('PK\x03\x04 not numpy at all'))).toThrow(FormatError);
    expect(bad(new TextEncoder().encode('PK\x03\x04 not numpy at all'))).toThrow(/^bad.npy: not a .npy file/);

    const good = encodeNpy([4, 4], new Float32Array(16));
    expect(bad(good.subarray(0, good.length - 1))).toThrow(
      /bad.npy: truncated .npy data.*needs 64 bytes, found 63/,
    );
    expect(bad(good.subarray(0, 40))).toThrow(/bad.npy: truncated .npy header/);

    const f2 = rawNpy("{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }\n", new Uint8Array(4));
    expect(bad(f2)).toThrow(/bad.npy: unsupported .npy dtype "<f2"/);
    const bigEndian = rawNpy(
      "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }\n",
      new Uint8Array(4),
    );
    expect(bad(bigEndian)).toThrow(/unsupported .npy dtype ">f4"/);

    const fortran = rawNpy(
      "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }\n",
      new Uint8Array(16),
    );
    expect(bad(fortran)).toThrow(/bad.npy: Fortran-order/);

    expect(bad(rawNpy('{}\n', new Uint8Array(0)))).toThrow(/bad.npy: malformed .npy header/);
    const v9 = rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n", new Uint8Array(4), 9);
    expect(bad(v9)).toThrow(/unsupported .npy format version 9/);
  });

  it('refuses to encode data that does not fill the shape', () => {
    expect(() => encodeNpy([2, 2], new Float32Array(3))).toThrow(/holds 4 values but the data has 3/);
  });
});
