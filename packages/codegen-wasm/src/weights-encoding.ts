/**
 * Smaller files for the float build's packed weights: float16 (half the bytes), or int8 with
 * one float32 scale per output channel (about a quarter), turned back into the packed float32
 * layout by `@fastdepth/runtime-web` when it loads them (`decodeWasmWeights` there). Only conv
 * weights are rounded (the `weightSegments` the packer records); biases, int32 tables and
 * padding are stored as they are, so the module reads exactly the layout it was built for.
 *
 * The file: "FDWQ", u32 version 1, u32 header length, the header (JSON), padding to 4 bytes,
 * then the payload; every piece 4-byte aligned, little-endian.
 *   header: { dtype, byteLength (decoded), pieces: [
 *     { kind: 'raw', at, bytes, data }                                   float32 bytes as they are
 *     { kind: 'float16', at, count, data }                               count IEEE half floats
 *     { kind: 'int8', at, count, lanes, block, data, scales, channels }  value = q * scales[c]
 *   ] }   `at`: byte offset in the decoded weights; `data`, `scales`: offsets in the payload.
 */
import type { WasmArtifact } from './emit.js';
import type { WeightSegment } from './pack.js';

export const WASM_WEIGHTS_MAGIC = 'FDWQ';
export const WASM_WEIGHTS_ENCODING_VERSION = 1;
export const WASM_WEIGHTS_DTYPES = ['float32', 'float16', 'int8'] as const;
export type WasmWeightsDtype = (typeof WASM_WEIGHTS_DTYPES)[number];

type Piece =
  | { kind: 'raw'; at: number; bytes: number; data: number }
  | { kind: 'float16'; at: number; count: number; data: number }
  | {
      kind: 'int8';
      at: number;
      count: number;
      lanes: number;
      block: number;
      channels: number;
      data: number;
      scales: number;
    };

/** IEEE 754 binary16 bits of `value`, rounded to nearest even (overflow to infinity). */
export function toFloat16Bits(value: number): number {
  const f32 = new Float32Array([value]);
  const x = new Uint32Array(f32.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rest > mid || (rest === mid && (half & 1) === 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half++;
  return sign | half;
}

const align4 = (n: number): number => (n + 3) & ~3;

/** The channel of value `i` of a segment. */
export function segmentChannel(i: number, lanes: number, block: number): number {
  return Math.floor(i / block) * lanes + ((i % block) % lanes);
}

/**
 * `artifact.weights` stored as `dtype` (float32: the bytes as they are). Throws for an artifact
 * without `weightSegments` (an int8 build: its weights are int8 already).
 */
export function encodeWasmWeights(
  artifact: Pick<WasmArtifact, 'weights' | 'weightSegments'>,
  dtype: WasmWeightsDtype,
): Uint8Array<ArrayBuffer> {
  const { weights } = artifact;
  if (dtype === 'float32') return weights;
  const segments = artifact.weightSegments;
  if (segments === undefined)
    throw new Error(
      'encodeWasmWeights: the artifact lists no weight segments (only float builds can be re-stored)',
    );
  const floats = new Float32Array(weights.buffer, weights.byteOffset, weights.byteLength / 4);
  const sorted = [...segments].sort((a, b) => a.byteOffset - b.byteOffset);
  const pieces: Piece[] = [];
  const parts: Uint8Array[] = [];
  let payload = 0;
  const add = (bytes: Uint8Array): number => {
    const at = payload;
    parts.push(bytes);
    const padded = align4(bytes.byteLength);
    if (padded > bytes.byteLength) parts.push(new Uint8Array(padded - bytes.byteLength));
    payload += padded;
    return at;
  };
  const raw = (from: number, to: number): void => {
    // Runs of zeros (alignment padding) are left out: the decoded buffer starts zeroed.
    let start = from;
    while (start < to && floats[start / 4] === 0 && !Object.is(floats[start / 4], -0)) start += 4;
    if (start >= to) return;
    pieces.push({ kind: 'raw', at: start, bytes: to - start, data: add(weights.slice(start, to)) });
  };
  let cursor = 0;
  for (const s of sorted) {
    if (s.byteOffset < cursor) throw new Error(`encodeWasmWeights: segments overlap at byte ${s.byteOffset}`);
    raw(cursor, s.byteOffset);
    const values = floats.subarray(s.byteOffset / 4, s.byteOffset / 4 + s.count);
    pieces.push(dtype === 'float16' ? float16Piece(s, values, add) : int8Piece(s, values, add));
    cursor = s.byteOffset + s.count * 4;
  }
  raw(cursor, weights.byteLength);
  const header = new TextEncoder().encode(JSON.stringify({ dtype, byteLength: weights.byteLength, pieces }));
  const headerEnd = align4(12 + header.byteLength);
  const out = new Uint8Array(headerEnd + payload);
  out.set(new TextEncoder().encode(WASM_WEIGHTS_MAGIC), 0);
  const view = new DataView(out.buffer);
  view.setUint32(4, WASM_WEIGHTS_ENCODING_VERSION, true);
  view.setUint32(8, header.byteLength, true);
  out.set(header, 12);
  let at = headerEnd;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

function float16Piece(s: WeightSegment, values: Float32Array, add: (b: Uint8Array) => number): Piece {
  const half = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) half[i] = toFloat16Bits(values[i]!);
  return { kind: 'float16', at: s.byteOffset, count: s.count, data: add(new Uint8Array(half.buffer)) };
}

function int8Piece(s: WeightSegment, values: Float32Array, add: (b: Uint8Array) => number): Piece {
  const channels = Math.ceil(values.length / s.block) * s.lanes;
  const max = new Float32Array(channels);
  for (let i = 0; i < values.length; i++) {
    const c = segmentChannel(i, s.lanes, s.block);
    max[c] = Math.max(max[c]!, Math.abs(values[i]!));
  }
  // Symmetric, one scale per output channel (TFLite's weight scheme): q in [-127, 127].
  const scales = max.map((m) => (m > 0 ? m / 127 : 1));
  const q = new Int8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const c = segmentChannel(i, s.lanes, s.block);
    q[i] = Math.max(-127, Math.min(127, Math.round(values[i]! / scales[c]!)));
  }
  return {
    kind: 'int8',
    at: s.byteOffset,
    count: s.count,
    lanes: s.lanes,
    block: s.block,
    channels,
    data: add(new Uint8Array(q.buffer)),
    scales: add(new Uint8Array(scales.buffer)),
  };
}
