/**
 * safetensors (the format PyTorch users already use): 8-byte little-endian header length,
 * a JSON header `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?}`, then the
 * raw little-endian data. Float weights are written as F32 and read from F32/F16/F64 (converted
 * to float32); int8 models' weights are I8 and I32.
 */
import { FormatError } from './errors.js';
import { quote } from './names.js';
import { halfToFloat } from './numeric.js';
import { numel, type TensorF32 } from './weights.js';

const DTYPE_BYTES: Readonly<Record<string, number>> = { F16: 2, F32: 4, F64: 8 };
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** A tensor `encodeSafetensors` writes: float32 weights, or the int8/int32 ones of int8 models. */
export interface EncodableTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array | Int8Array | Int32Array;
}

function dtypeTag(data: EncodableTensor['data']): 'F32' | 'I8' | 'I32' {
  return data instanceof Float32Array ? 'F32' : data instanceof Int8Array ? 'I8' : 'I32';
}

/**
 * Encodes tensors as a safetensors file (F32, I8 or I32 by the array type). Tensor order is
 * sorted by name (deterministic).
 */
export function encodeSafetensors(
  weights: ReadonlyMap<string, EncodableTensor>,
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array {
  const names = [...weights.keys()].sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const t = weights.get(name)!;
    header[name] = {
      dtype: dtypeTag(t.data),
      shape: t.shape,
      data_offsets: [offset, offset + t.data.byteLength],
    };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces to 8 bytes so the data is aligned, as the reference writer does.
  while ((Buffer.byteLength(json) + 8) % 8 !== 0) json += ' ';
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const name of names) {
    const t = weights.get(name)!;
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

/** A decoded safetensors file: float32 tensors by name and the header's `__metadata__`. */
export interface DecodedSafetensors {
  readonly weights: Map<string, TensorF32>;
  readonly metadata: Readonly<Record<string, string>>;
}

/** One tensor of a safetensors file as stored: its dtype tag, shape and little-endian bytes. */
export interface RawSafetensor {
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
}

/** Bytes per element of every dtype this project reads (floats as weights, integers for int8 models). */
const READABLE_DTYPES: Readonly<Record<string, number>> = { ...DTYPE_BYTES, I8: 1, I32: 4 };

/**
 * Parses a safetensors file's header and slices out every tensor's bytes (views of `bytes`);
 * `source` names the file in errors (truncation, bad header, dtype). Offsets follow the
 * format's own rules: each tensor's `[begin, end)` is a pair of
 * non-negative integers inside the data section, as long as its dtype and shape need, and
 * together the tensors cover the data section exactly, without overlaps or holes. Anything
 * else could read bytes of the header (a negative begin) or one tensor through another.
 */
export function decodeSafetensorsRaw(
  bytes: Uint8Array,
  source = 'weights',
): { readonly tensors: Map<string, RawSafetensor>; readonly metadata: Readonly<Record<string, string>> } {
  if (bytes.length < 8)
    throw new FormatError(source, `too short to be a safetensors file (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const rawHeaderLen = view.getBigUint64(0, true);
  if (rawHeaderLen > BigInt(MAX_HEADER_BYTES)) {
    throw new FormatError(
      source,
      `header length ${rawHeaderLen} is more than the ${MAX_HEADER_BYTES} bytes a safetensors header may have (not a safetensors file?)`,
    );
  }
  const headerLen = Number(rawHeaderLen);
  if (8 + headerLen > bytes.length) {
    throw new FormatError(
      source,
      `header length ${headerLen} exceeds the file size ${bytes.length} (truncated or not safetensors)`,
    );
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch {
    throw new FormatError(source, 'header is not valid JSON (not a safetensors file?)');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    throw new FormatError(source, 'header must be a JSON object');
  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const tensors = new Map<string, RawSafetensor>();
  const ranges: { name: string; begin: number; end: number }[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (
        typeof entry !== 'object' ||
        entry === null ||
        Array.isArray(entry) ||
        !Object.values(entry).every((v) => typeof v === 'string')
      )
        throw new FormatError(source, '"__metadata__" must be an object of strings');
      metadata = entry as Record<string, string>;
      continue;
    }
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
      throw new FormatError(source, `tensor ${quote(name)}: entry must be an object`);
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const bytesPer = typeof e.dtype === 'string' ? READABLE_DTYPES[e.dtype] : undefined;
    if (bytesPer === undefined)
      throw new FormatError(
        source,
        `tensor ${quote(name)}: unsupported dtype ${JSON.stringify(e.dtype)} (${Object.keys(READABLE_DTYPES).join(', ')} are read)`,
      );
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      throw new FormatError(source, `tensor ${quote(name)}: bad shape ${JSON.stringify(e.shape)}`);
    }
    const shape = e.shape as number[];
    const offsets = e.data_offsets;
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)
    ) {
      throw new FormatError(
        source,
        `tensor ${quote(name)}: data_offsets must be two non-negative integers [begin, end], found ${JSON.stringify(offsets)}`,
      );
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end)
      throw new FormatError(
        source,
        `tensor ${quote(name)}: data_offsets [${begin}, ${end}] end before they begin`,
      );
    if (end > dataLen) {
      throw new FormatError(
        source,
        `tensor ${quote(name)}: data [${begin}, ${end}) lies outside the ${dataLen} data bytes (file truncated?)`,
      );
    }
    const count = numel(shape);
    if (end - begin !== count * bytesPer) {
      throw new FormatError(
        source,
        `tensor ${quote(name)}: ${end - begin} bytes for shape [${shape.join(', ')}] of ${String(e.dtype)} (needs ${count * bytesPer})`,
      );
    }
    ranges.push({ name, begin, end });
    tensors.set(name, {
      dtype: e.dtype as string,
      shape,
      bytes: bytes.subarray(dataStart + begin, dataStart + end),
    });
  }
  checkCoverage(ranges, dataLen, source);
  return { tensors, metadata };
}

/** Decodes a safetensors file of float weights (F16/F32/F64, converted to float32). */
export function decodeSafetensors(bytes: Uint8Array, source = 'weights'): DecodedSafetensors {
  const { tensors, metadata } = decodeSafetensorsRaw(bytes, source);
  const weights = new Map<string, TensorF32>();
  for (const [name, t] of tensors) {
    const bytesPer = DTYPE_BYTES[t.dtype];
    if (bytesPer === undefined)
      throw new FormatError(
        source,
        `tensor ${quote(name)}: dtype ${t.dtype} is not a float weight (F16, F32, F64 are read; integer weights belong to int8 models)`,
      );
    const raw = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
    const count = t.bytes.byteLength / bytesPer;
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) {
      data[i] =
        bytesPer === 4
          ? raw.getFloat32(i * 4, true)
          : bytesPer === 8
            ? raw.getFloat64(i * 8, true)
            : halfToFloat(raw.getUint16(i * 2, true));
    }
    weights.set(name, { shape: t.shape, data });
  }
  return { weights, metadata };
}

/** The tensors, in offset order, must tile `[0, dataLen)`: no overlap, no hole, no tail. */
function checkCoverage(
  ranges: { name: string; begin: number; end: number }[],
  dataLen: number,
  source: string,
): void {
  ranges.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous: string | undefined;
  for (const r of ranges) {
    if (r.begin < cursor) {
      throw new FormatError(
        source,
        `tensor ${quote(r.name)}: data [${r.begin}, ${r.end}) overlaps tensor ${quote(previous ?? '')} (which ends at ${cursor})`,
      );
    }
    if (r.begin > cursor) {
      throw new FormatError(
        source,
        `tensor ${quote(r.name)}: data begins at ${r.begin} but ${previous === undefined ? 'the data section begins at 0' : `tensor ${quote(previous)} ends at ${cursor}`} (a hole of ${r.begin - cursor} bytes)`,
      );
    }
    cursor = r.end;
    previous = r.name;
  }
  if (cursor !== dataLen) {
    throw new FormatError(
      source,
      `${dataLen - cursor} bytes after the last tensor${previous === undefined ? '' : ` (${quote(previous)}, ending at ${cursor})`} belong to no tensor (the data section is ${dataLen} bytes)`,
    );
  }
}
