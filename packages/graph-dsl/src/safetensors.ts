/**
 * safetensors (the format PyTorch users already use): 8-byte little-endian header length,
 * a JSON header `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?}`, then the
 * raw little-endian data. We write F32 and read F32/F16/F64 (converted to float32).
 */
import { FormatError } from './errors.js';
import { halfToFloat } from './numeric.js';
import { numel, type TensorF32, type WeightMap } from './weights.js';

const DTYPE_BYTES: Readonly<Record<string, number>> = { F16: 2, F32: 4, F64: 8 };
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** Encodes weights as a safetensors file. Tensor order is sorted by name (deterministic). */
export function encodeSafetensors(
  weights: WeightMap,
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array {
  const names = [...weights.keys()].sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const t = weights.get(name)!;
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
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

/**
 * Decodes a safetensors file; `source` names it in errors (truncation, bad header, dtype).
 * Offsets follow the format's own rules: each tensor's `[begin, end)` is a pair of
 * non-negative integers inside the data section, as long as its dtype and shape need, and
 * together the tensors cover the data section exactly, without overlaps or holes. Anything
 * else could read bytes of the header (a negative begin) or one tensor through another.
 */
export function decodeSafetensors(bytes: Uint8Array, source = 'weights'): DecodedSafetensors {
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
  const weights = new Map<string, TensorF32>();
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
      throw new FormatError(source, `tensor "${name}": entry must be an object`);
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const bytesPer = typeof e.dtype === 'string' ? DTYPE_BYTES[e.dtype] : undefined;
    if (bytesPer === undefined)
      throw new FormatError(
        source,
        `tensor "${name}": unsupported dtype ${JSON.stringify(e.dtype)} (F16, F32, F64 are read)`,
      );
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      throw new FormatError(source, `tensor "${name}": bad shape ${JSON.stringify(e.shape)}`);
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
        `tensor "${name}": data_offsets must be two non-negative integers [begin, end], found ${JSON.stringify(offsets)}`,
      );
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end)
      throw new FormatError(
        source,
        `tensor "${name}": data_offsets [${begin}, ${end}] end before they begin`,
      );
    if (end > dataLen) {
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
    ranges.push({ name, begin, end });
    const raw = new DataView(bytes.buffer, bytes.byteOffset + dataStart + begin, end - begin);
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) {
      data[i] =
        bytesPer === 4
          ? raw.getFloat32(i * 4, true)
          : bytesPer === 8
            ? raw.getFloat64(i * 8, true)
            : halfToFloat(raw.getUint16(i * 2, true));
    }
    weights.set(name, { shape, data });
  }
  checkCoverage(ranges, dataLen, source);
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
        `tensor "${r.name}": data [${r.begin}, ${r.end}) overlaps tensor "${previous ?? ''}" (which ends at ${cursor})`,
      );
    }
    if (r.begin > cursor) {
      throw new FormatError(
        source,
        `tensor "${r.name}": data begins at ${r.begin} but ${previous === undefined ? 'the data section begins at 0' : `tensor "${previous}" ends at ${cursor}`} (a hole of ${r.begin - cursor} bytes)`,
      );
    }
    cursor = r.end;
    previous = r.name;
  }
  if (cursor !== dataLen) {
    throw new FormatError(
      source,
      `${dataLen - cursor} bytes after the last tensor${previous === undefined ? '' : ` ("${previous}", ending at ${cursor})`} belong to no tensor (the data section is ${dataLen} bytes)`,
    );
  }
}
