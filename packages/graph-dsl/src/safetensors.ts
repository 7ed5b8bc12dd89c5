/**
 * safetensors (the format PyTorch users already use): 8-byte little-endian header length,
 * a JSON header `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?}`, then the
 * raw little-endian data. Float weights are written as F32 and read from F32/F16/F64 (converted
 * to float32); int8 models' weights are I8 and I32.
 */
import { FormatError } from './errors.js';
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
 * Parses a safetensors file's header and slices out every tensor's bytes, checking the header,
 * dtypes, shapes and offsets; `source` names the file in errors. The bytes are views of `bytes`.
 */
export function decodeSafetensorsRaw(
  bytes: Uint8Array,
  source = 'weights',
): { readonly tensors: Map<string, RawSafetensor>; readonly metadata: Readonly<Record<string, string>> } {
  if (bytes.length < 8)
    throw new FormatError(source, `too short to be a safetensors file (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > MAX_HEADER_BYTES || 8 + headerLen > bytes.length) {
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
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const bytesPer = typeof e.dtype === 'string' ? READABLE_DTYPES[e.dtype] : undefined;
    if (bytesPer === undefined)
      throw new FormatError(
        source,
        `tensor "${name}": unsupported dtype ${JSON.stringify(e.dtype)} (${Object.keys(READABLE_DTYPES).join(', ')} are read)`,
      );
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && (d as number) >= 0)) {
      throw new FormatError(source, `tensor "${name}": bad shape ${JSON.stringify(e.shape)}`);
    }
    const shape = e.shape as number[];
    const offsets = e.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o))) {
      throw new FormatError(source, `tensor "${name}": bad data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataLen || begin > end) {
      throw new FormatError(
        source,
        `tensor "${name}": data [${begin}, ${end}) lies outside the ${dataLen} data bytes (file truncated?)`,
      );
    }
    const count = numel(shape);
    if (end - begin !== count * bytesPer) {
      throw new FormatError(
        source,
        `tensor "${name}": ${end - begin} bytes for shape [${shape.join(', ')}] of ${String(e.dtype)} (needs ${count * bytesPer})`,
      );
    }
    tensors.set(name, {
      dtype: e.dtype as string,
      shape,
      bytes: bytes.subarray(dataStart + begin, dataStart + end),
    });
  }
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
        `tensor "${name}": dtype ${t.dtype} is not a float weight (F16, F32, F64 are read; integer weights belong to int8 models)`,
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
