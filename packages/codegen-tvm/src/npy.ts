/**
 * NumPy files: `.npy` (format v1.0) and `.npz` (a zip of `.npy` members, stored, as
 * `numpy.savez` writes). Only float32 C-order arrays, which is all the emitted package needs.
 */
import { numel, type TensorF32, WeightsError } from '@fastdepth/graph-dsl';

const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** NumPy's tuple repr: `(32,)` for one dimension, `()` for a scalar. */
function pyTuple(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

/** One `.npy` file (v1.0): magic, version, u16 header length, padded dict header, data. */
export function encodeNpy(tensor: TensorF32): Uint8Array {
  if (tensor.data.length !== numel(tensor.shape)) {
    throw new WeightsError(
      'npy',
      `holds ${tensor.data.length} values but shape [${tensor.shape.join(', ')}] needs ${numel(tensor.shape)}`,
    );
  }
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${pyTuple(tensor.shape)}, }`;
  // Magic (6) + version (2) + length (2) + header must be a multiple of 64; header ends in \n.
  const unpadded = 10 + dict.length + 1;
  const headerLen = dict.length + 1 + ((64 - (unpadded % 64)) % 64);
  if (headerLen > 0xffff)
    throw new WeightsError('npy', `shape [${tensor.shape.join(', ')}] needs a header too long for NPY v1.0`);
  const header = dict.padEnd(headerLen - 1, ' ') + '\n';
  const out = new Uint8Array(10 + headerLen + tensor.data.length * 4);
  const view = new DataView(out.buffer);
  out.set(NPY_MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  view.setUint16(8, headerLen, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  const base = 10 + headerLen;
  for (let i = 0; i < tensor.data.length; i++) view.setFloat32(base + i * 4, tensor.data[i]!, true);
  return out;
}

const CRC_TABLE = ((): Uint32Array => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE 802.3, as zip uses). */
export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** DOS date 1980-01-01 00:00: a fixed timestamp keeps the archive byte-for-byte reproducible. */
const DOS_TIME = 0;
const DOS_DATE = (0 << 9) | (1 << 5) | 1;

/**
 * A zip archive of stored (uncompressed) members. No zip64: the total must stay under 4 GiB,
 * far above any network of this family.
 */
export function encodeZip(members: readonly { name: string; data: Uint8Array }[]): Uint8Array {
  const utf8 = new TextEncoder();
  const entries = members.map((m) => ({
    name: utf8.encode(m.name),
    data: m.data,
    crc: crc32(m.data),
    offset: 0,
  }));
  const localSize = entries.reduce((s, e) => s + 30 + e.name.length + e.data.length, 0);
  const centralSize = entries.reduce((s, e) => s + 46 + e.name.length, 0);
  const total = localSize + centralSize + 22;
  if (total > 0xffffffff || entries.length > 0xffff)
    throw new WeightsError('npz', 'archive too large for a zip without zip64');
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  let p = 0;
  for (const e of entries) {
    e.offset = p;
    v.setUint32(p, 0x04034b50, true);
    v.setUint16(p + 4, 20, true); // version needed
    v.setUint16(p + 6, 0x0800, true); // flags: names are UTF-8
    v.setUint16(p + 8, 0, true); // method: stored
    v.setUint16(p + 10, DOS_TIME, true);
    v.setUint16(p + 12, DOS_DATE, true);
    v.setUint32(p + 14, e.crc, true);
    v.setUint32(p + 18, e.data.length, true);
    v.setUint32(p + 22, e.data.length, true);
    v.setUint16(p + 26, e.name.length, true);
    v.setUint16(p + 28, 0, true);
    out.set(e.name, p + 30);
    out.set(e.data, p + 30 + e.name.length);
    p += 30 + e.name.length + e.data.length;
  }
  const centralStart = p;
  for (const e of entries) {
    v.setUint32(p, 0x02014b50, true);
    v.setUint16(p + 4, 20, true); // version made by
    v.setUint16(p + 6, 20, true);
    v.setUint16(p + 8, 0x0800, true);
    v.setUint16(p + 10, 0, true);
    v.setUint16(p + 12, DOS_TIME, true);
    v.setUint16(p + 14, DOS_DATE, true);
    v.setUint32(p + 16, e.crc, true);
    v.setUint32(p + 20, e.data.length, true);
    v.setUint32(p + 24, e.data.length, true);
    v.setUint16(p + 28, e.name.length, true);
    // extra, comment, disk start, internal and external attributes: all zero.
    v.setUint32(p + 42, e.offset, true);
    out.set(e.name, p + 46);
    p += 46 + e.name.length;
  }
  v.setUint32(p, 0x06054b50, true);
  v.setUint16(p + 8, entries.length, true);
  v.setUint16(p + 10, entries.length, true);
  v.setUint32(p + 12, centralSize, true);
  v.setUint32(p + 16, centralStart, true);
  return out;
}

/** `numpy.savez`-style archive: member `<name>.npy` per tensor, so `np.load(f)[name]` works. */
export function encodeNpz(tensors: ReadonlyMap<string, TensorF32>): Uint8Array {
  return encodeZip([...tensors].map(([name, t]) => ({ name: `${name}.npy`, data: encodeNpy(t) })));
}
