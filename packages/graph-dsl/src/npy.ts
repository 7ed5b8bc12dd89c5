/**
 * NumPy `.npy` files (the format of the authors' `deploy/data` sample and of most Python-side
 * dumps): magic `\x93NUMPY`, a version byte pair, a little-endian header length (2 bytes in v1,
 * 4 in v2/v3), a Python-literal header dict `{'descr', 'fortran_order', 'shape'}`, then the raw
 * data. We read the four dtypes this project meets and write v1 files as numpy does.
 */
import { FastDepthError, FormatError } from './errors.js';

/** The dtypes we read and write, as numpy spells them in `descr`. */
export type NpyDtype = '<f4' | '<f8' | '|u1' | '<i4';

/** The typed array matching each dtype. */
export type NpyData = Float32Array | Float64Array | Uint8Array | Int32Array;

/** A decoded `.npy` array: C-order data, `shape` as numpy reports it (`[]` for a scalar). */
export interface NpyArray {
  readonly shape: number[];
  readonly dtype: NpyDtype;
  readonly data: NpyData;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

const ITEM_BYTES: Readonly<Record<NpyDtype, number>> = { '<f4': 4, '<f8': 8, '|u1': 1, '<i4': 4 };

function isNpyDtype(descr: string): descr is NpyDtype {
  return Object.hasOwn(ITEM_BYTES, descr);
}

/**
 * Bytes are copied into a fresh buffer: the source view may be unaligned for 4/8-byte items
 * (and Node's `Buffer#slice` is a view, so `new Uint8Array(bytes)` does the copy).
 */
function typedView(dtype: NpyDtype, bytes: Uint8Array): NpyData {
  const buffer = new Uint8Array(bytes).buffer;
  switch (dtype) {
    case '<f4':
      return new Float32Array(buffer);
    case '<f8':
      return new Float64Array(buffer);
    case '|u1':
      return new Uint8Array(buffer);
    case '<i4':
      return new Int32Array(buffer);
  }
}

function parseShape(text: string, source: string): number[] {
  const inner = text.trim();
  if (inner === '') return [];
  const parts = inner.split(',').map((s) => s.trim());
  // A 1-tuple is written `(n,)`: drop the empty item after the trailing comma.
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts.map((p) => {
    if (!/^\d+L?$/.test(p)) throw new FormatError(source, `bad .npy shape entry "${p}" in (${text})`);
    return Number.parseInt(p, 10);
  });
}

/**
 * Decodes a `.npy` file. `source` names the file in errors: bad magic, truncated header or
 * data, Fortran order, or a dtype other than `<f4`, `<f8`, `|u1`, `<i4`.
 */
export function readNpy(bytes: Uint8Array, source: string): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b))
    throw new FormatError(source, 'not a .npy file (missing the \\x93NUMPY magic)');
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerStart: number;
  let headerLen: number;
  if (major === 1) {
    headerStart = 10;
    headerLen = view.getUint16(8, true);
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new FormatError(source, 'truncated .npy header');
    headerStart = 12;
    headerLen = view.getUint32(8, true);
  } else {
    throw new FormatError(source, `unsupported .npy format version ${major}.${bytes[7]!}`);
  }
  const dataStart = headerStart + headerLen;
  if (dataStart > bytes.length)
    throw new FormatError(
      source,
      `truncated .npy header (${headerLen} bytes announced, file has ${bytes.length})`,
    );
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(
    bytes.subarray(headerStart, dataStart),
  );

  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined)
    throw new FormatError(source, `malformed .npy header ${JSON.stringify(header.trim())}`);
  if (!isNpyDtype(descr)) {
    throw new FormatError(
      source,
      `unsupported .npy dtype "${descr}" (supported: ${Object.keys(ITEM_BYTES).join(', ')})`,
    );
  }
  if (fortran === 'True')
    throw new FormatError(source, 'Fortran-order .npy arrays are not supported (save with C order)');
  const shape = parseShape(shapeText, source);
  const count = shape.reduce((a, b) => a * b, 1);
  const nbytes = count * ITEM_BYTES[descr];
  // Bytes past the data are ignored, as numpy's own reader does.
  if (bytes.length - dataStart < nbytes) {
    throw new FormatError(
      source,
      `truncated .npy data: shape (${shape.join(', ')}) ${descr} needs ${nbytes} bytes, found ${bytes.length - dataStart}`,
    );
  }
  return { shape, dtype: descr, data: typedView(descr, bytes.subarray(dataStart, dataStart + nbytes)) };
}

function dtypeOf(data: NpyData): NpyDtype {
  if (data instanceof Float32Array) return '<f4';
  if (data instanceof Float64Array) return '<f8';
  if (data instanceof Int32Array) return '<i4';
  return '|u1';
}

/**
 * Encodes a C-order `.npy` v1 file, the header padded with spaces so the data starts on a
 * 64-byte boundary (numpy's own layout), so numpy and `readNpy` read it back unchanged.
 */
export function encodeNpy(shape: readonly number[], data: NpyData): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (shape.some((d) => !Number.isInteger(d) || d < 0) || count !== data.length) {
    throw new FastDepthError(
      `encodeNpy: shape (${shape.join(', ')}) holds ${count} values but the data has ${data.length}`,
    );
  }
  const tuple = shape.length === 1 ? `(${shape[0]!},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${dtypeOf(data)}', 'fortran_order': False, 'shape': ${tuple}, }`;
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}
