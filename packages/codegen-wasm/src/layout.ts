/**
 * The memory layout: every address the kernels use is fixed here at emit time, so the code
 * carries them as constants. One linear memory holds, in order: the barrier words, the packed
 * weights, the NCHW input and output, every NHWC activation buffer (with its zero halo) and one
 * scratch tile per thread for the fused depthwise rows.
 */
import { pad4, type Buffer, type Plan } from './plan.js';

export const PAGE = 65536;
/** Byte offset of the barrier: arrival counter at +0, generation at +4. */
export const BARRIER_OFFSET = 0;
const BARRIER_BYTES = 64;

const align = (n: number, a = 64): number => Math.ceil(n / a) * a;

/** Geometry of a buffer in bytes. */
export interface BufferGeom {
  /** Bytes between pixels (channels padded to 4). */
  readonly pix: number;
  /** Bytes between rows (halo included). */
  readonly rs: number;
  /** Address of pixel (0, 0), channel 0 (inside the halo). */
  readonly origin: number;
}

export function geomOf(b: Buffer): BufferGeom {
  const pix = b.cp * 4;
  const rs = (b.w + 2 * b.halo) * pix;
  return { pix, rs, origin: b.offset + b.halo * rs + b.halo * pix };
}

function bufferBytes(b: Buffer): number {
  return (b.h + 2 * b.halo) * (b.w + 2 * b.halo) * b.cp * 4;
}

export interface Layout {
  readonly weights: { readonly byteOffset: number; readonly byteLength: number };
  readonly input: { readonly byteOffset: number };
  /** NCHW output; holds pad4(C) planes so padded lanes have somewhere harmless to go. */
  readonly output: {
    readonly byteOffset: number;
    readonly h: number;
    readonly w: number;
    readonly c: number;
  };
  readonly scratch: { readonly byteOffset: number; readonly bytesPerThread: number };
  readonly maxThreads: number;
  readonly totalBytes: number;
  readonly pages: number;
}

export function layoutMemory(plan: Plan, weightBytes: number, maxThreads: number): Layout {
  let at = BARRIER_BYTES;
  const weights = { byteOffset: at, byteLength: weightBytes };
  at = align(at + weightBytes);
  const [, ci, hi, wi] = plan.input.shape;
  const input = { byteOffset: at };
  at = align(at + ci * hi * wi * 4);
  const [, co, ho, wo] = plan.output.shape;
  const output = { byteOffset: at, h: ho, w: wo, c: co };
  at = align(at + pad4(co) * ho * wo * 4);
  for (const b of plan.buffers) {
    b.offset = at;
    at = align(at + bufferBytes(b));
  }
  let tile = 0;
  for (const s of plan.stages) if (s.kind === 'dwpw') tile = Math.max(tile, s.dw.ow * pad4(s.dw.cin) * 4);
  const bytesPerThread = align(tile);
  const scratch = { byteOffset: at, bytesPerThread };
  at += bytesPerThread * maxThreads;
  const pages = Math.ceil(at / PAGE) + 1;
  return { weights, input, output, scratch, maxThreads, totalBytes: at, pages };
}
