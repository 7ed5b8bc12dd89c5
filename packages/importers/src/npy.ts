/**
 * A small `.npy` reader and writer (NumPy format 1.0-3.0): enough for depth maps, RGB frames and
 * the reference predictions in `shared/data`. Reads `<f4`, `<f8`, `|u1`, `<i4` (plus `|i1`,
 * `<u2`, `<i2`, `<i8` for convenience) in C order; writes float32.
 */
import { FormatError } from '@fastdepth/graph-dsl';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

/** NumPy dtype strings this reader accepts, with their element size. */
const DTYPES = {
  '<f4': 4,
  '<f8': 8,
  '|u1': 1,
  '|i1': 1,
  '<i2': 2,
  '<u2': 2,
  '<i4': 4,
  '<i8': 8,
} as const;

export type NpyDtype = keyof typeof DTYPES;

/** A decoded array. `data` holds every element as a JS number, in C (row-major) order. */
export interface NpyArray {
  readonly shape: readonly number[];
  readonly dtype: NpyDtype;
  readonly data: Float64Array;
}

function isDtype(s: string): s is NpyDtype {
  return Object.hasOwn(DTYPES, s);
}

/** Parses the Python-literal header dict: `{'descr': '<f4', 'fortran_order': False, 'shape': (1, 224), }`. */
function parseHeader(text: string, source: string): { descr: string; fortran: boolean; shape: number[] } {
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new FormatError(source, `malformed .npy header ${JSON.stringify(text.trim())}`);
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const n = Number(s.replace(/L$/, ''));
      if (!Number.isInteger(n) || n < 0)
        throw new FormatError(source, `bad dimension "${s}" in the .npy shape`);
      return n;
    });
  return { descr, fortran: fortran === 'True', shape };
}

/** Reads a `.npy` file; `source` names it in errors (bad magic, unsupported dtype, truncation). */
export function readNpy(bytes: Uint8Array, source: string): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new FormatError(source, 'not a .npy file (missing the \\x93NUMPY magic)');
  }
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let headerStart: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new FormatError(source, 'truncated .npy header');
    headerLen = view.getUint32(8, true);
    headerStart = 12;
  } else {
    throw new FormatError(source, `.npy format version ${major} is not supported (1, 2, 3 are)`);
  }
  if (headerStart + headerLen > bytes.length) throw new FormatError(source, 'truncated .npy header');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(
    bytes.subarray(headerStart, headerStart + headerLen),
  );
  const { descr, fortran, shape } = parseHeader(header, source);
  const dtype = descr === '<u1' ? '|u1' : descr === '<i1' ? '|i1' : descr;
  if (!isDtype(dtype)) {
    throw new FormatError(
      source,
      `.npy dtype "${descr}" is not supported (${Object.keys(DTYPES).join(', ')} are)`,
    );
  }
  if (fortran && shape.length > 1)
    throw new FormatError(source, 'Fortran-order .npy arrays are not supported (save with C order)');
  const count = shape.reduce((a, b) => a * b, 1);
  const size = DTYPES[dtype];
  const dataStart = headerStart + headerLen;
  if (dataStart + count * size > bytes.length) {
    throw new FormatError(
      source,
      `truncated .npy data: shape (${shape.join(', ')}) of ${dtype} needs ${count * size} bytes, found ${bytes.length - dataStart}`,
    );
  }
  const data = new Float64Array(count);
  const at = (i: number): number => dataStart + i * size;
  for (let i = 0; i < count; i++) {
    switch (dtype) {
      case '<f4':
        data[i] = view.getFloat32(at(i), true);
        break;
      case '<f8':
        data[i] = view.getFloat64(at(i), true);
        break;
      case '|u1':
        data[i] = view.getUint8(at(i));
        break;
      case '|i1':
        data[i] = view.getInt8(at(i));
        break;
      case '<i2':
        data[i] = view.getInt16(at(i), true);
        break;
      case '<u2':
        data[i] = view.getUint16(at(i), true);
        break;
      case '<i4':
        data[i] = view.getInt32(at(i), true);
        break;
      case '<i8':
        data[i] = Number(view.getBigInt64(at(i), true));
        break;
    }
  }
  return { shape, dtype, data };
}

/** Encodes a float32 C-order array as a version 1.0 `.npy` file (`<f4`). */
export function encodeNpy(shape: readonly number[], data: Float32Array): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length)
    throw new RangeError(
      `encodeNpy: shape (${shape.join(', ')}) holds ${count} values, data has ${data.length}`,
    );
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }`;
  // Pad with spaces and end with a newline so that data starts on a 64-byte boundary, as NumPy does.
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  const body = new DataView(out.buffer, 10 + header.length);
  for (let i = 0; i < data.length; i++) body.setFloat32(i * 4, data[i]!, true);
  return out;
}
