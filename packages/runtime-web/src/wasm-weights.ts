/**
 * Unpacks a wasm model's weights stored as float16 or per-channel int8 (`fastdepth compile
 * --target wasm --weights-dtype float16|int8`; the encoder is `encodeWasmWeights` in
 * `@fastdepth/codegen-wasm`, whose module comment gives the file layout) into the packed
 * float32 layout the module reads. A plain float32 weights file is returned as it is.
 */
import { DepthEstimatorError } from './errors.js';

const MAGIC = [0x46, 0x44, 0x57, 0x51]; // "FDWQ"
const VERSION = 1;

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

/** Whether `bytes` is an encoded (float16 / int8) weights file rather than float32 values. */
export function isEncodedWeights(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 12 && MAGIC.every((b, i) => bytes[i] === b);
}

/** The dtype an encoded weights file stores (float32 for a plain one). */
export function weightsDtypeOf(bytes: Uint8Array): string {
  if (!isEncodedWeights(bytes)) return 'float32';
  try {
    return String((readHeader(bytes, 'weights').header as { dtype?: unknown }).dtype);
  } catch {
    return 'unknown';
  }
}

const f16Exp = new Float32Array(32).map((_, e) => 2 ** (e - 15));

/** The float32 value of IEEE binary16 bits. */
export function fromFloat16Bits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : Number.NaN;
  return sign * f16Exp[exp]! * (1 + mant / 1024);
}

function readHeader(bytes: Uint8Array, where: string): { header: unknown; payload: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(4, true);
  if (version !== VERSION)
    throw new DepthEstimatorError(
      `${where}: encoded weights version ${version}; this runtime reads version ${VERSION}`,
      'BAD_MODEL',
    );
  const length = view.getUint32(8, true);
  if (12 + length > bytes.byteLength)
    throw new DepthEstimatorError(`${where}: truncated (header of ${length} bytes)`, 'BAD_MODEL');
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + length)));
  } catch (error) {
    throw new DepthEstimatorError(`${where}: header is not JSON (${(error as Error).message})`, 'BAD_MODEL');
  }
  return { header, payload: (12 + length + 3) & ~3 };
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/**
 * The float32 weights of `bytes` (`byteLength`: the manifest's `weights.byteLength`): decoded
 * when encoded, else `bytes` itself. Every offset is checked against both buffers, so a damaged
 * file is an error naming `where`, never an out-of-range read.
 */
export function decodeWasmWeights(bytes: Uint8Array, byteLength: number, where: string): Uint8Array {
  if (!isEncodedWeights(bytes)) return bytes;
  const bad = (message: string): never => {
    throw new DepthEstimatorError(`${where}: ${message}`, 'BAD_MODEL');
  };
  const { header, payload } = readHeader(bytes, where);
  const h = header as { dtype?: unknown; byteLength?: unknown; pieces?: unknown };
  if (h.byteLength !== byteLength)
    bad(
      `decodes to ${JSON.stringify(h.byteLength)} bytes, but the manifest's "weights.byteLength" is ${byteLength} (weights of another model or build?)`,
    );
  if (!Array.isArray(h.pieces)) bad('header has no "pieces"');
  const out = new Uint8Array(byteLength);
  const floats = new Float32Array(out.buffer);
  const body = bytes.byteLength - payload;
  // Payload slices are copied out (the file's own alignment is not the typed arrays').
  const slice = (offset: unknown, length: number, what: string): Uint8Array => {
    if (!isCount(offset) || offset % 4 !== 0 || offset + length > body)
      bad(`${what}: payload range [${String(offset)}, +${length}) outside the ${body} bytes of data`);
    return bytes.slice(payload + (offset as number), payload + (offset as number) + length);
  };
  for (const [index, value] of (h.pieces as unknown[]).entries()) {
    if (typeof value !== 'object' || value === null) bad(`piece ${index} is not an object`);
    const p = value as Piece;
    const what = `piece ${index} (${JSON.stringify(p.kind) ?? 'no kind'})`;
    const count = p.kind === 'raw' ? p.bytes : p.count * 4;
    if (!isCount(p.at) || p.at % 4 !== 0 || !isCount(count) || p.at + count > byteLength)
      bad(
        `${what}: target range [${String(p.at)}, +${String(count)}) outside the ${byteLength} bytes of weights`,
      );
    const first = p.at / 4;
    if (p.kind === 'raw') {
      if (count % 4 !== 0) bad(`${what}: ${count} bytes is not whole float32 values`);
      out.set(slice(p.data, count, what), p.at);
    } else if (p.kind === 'float16') {
      const half = new Uint16Array(slice(p.data, p.count * 2 + ((p.count * 2) % 4), what).buffer);
      for (let i = 0; i < p.count; i++) floats[first + i] = fromFloat16Bits(half[i]!);
    } else if (p.kind === 'int8') {
      const { lanes, block, channels } = p;
      if (!isCount(lanes) || !isCount(block) || lanes < 1 || block < lanes || !isCount(channels))
        bad(`${what}: bad lanes/block/channels`);
      if (Math.ceil(p.count / block) * lanes !== channels)
        bad(`${what}: ${channels} scales for ${p.count} values`);
      const q = new Int8Array(slice(p.data, p.count, what).buffer);
      const scales = new Float32Array(slice(p.scales, channels * 4, what).buffer);
      for (let i = 0; i < p.count; i++) {
        const c = Math.floor(i / block) * lanes + ((i % block) % lanes);
        floats[first + i] = q[i]! * scales[c]!;
      }
    } else bad(`${what}: unknown kind`);
  }
  return out;
}
