/**
 * The memory layout: every address the kernels use is fixed here at emit time, so the code
 * carries them as constants. One linear memory holds, in order: the barrier words, the thread
 * schedule table (a data segment of the module, see `scheduleRecordBytes`), the packed weights, the NCHW input and output, every NHWC activation buffer (with its zero halo) and one
 * scratch tile per thread for the fused depthwise rows.
 */
import { pad4, type Buffer, type FloatPlan, type FloatStage } from './plan.js';
import { MAX_RECTS } from './schedule.js';

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

/**
 * Where a stage's per-thread scratch goes, from the start of the thread's region: the depthwise
 * row tile of a dwpw stage, the ring of input rows and its row-pointer table (ring stages).
 */
export function scratchParts(s: FloatStage): { tile: number; ring: number; table: number; bytes: number } {
  if (s.kind !== 'dw' && s.kind !== 'dwpw') return { tile: 0, ring: 0, table: 0, bytes: 0 };
  const g = s.kind === 'dwpw' ? s.dw : s.conv;
  const tileBytes = s.kind === 'dwpw' ? align(g.ow * pad4(g.cin) * 4) : 0;
  const ringBytes = s.ring ? align(g.kh * geomOf(s.in).rs) : 0;
  const tableBytes = s.ring ? align(g.kh * 4) : 0;
  return {
    tile: 0,
    ring: tileBytes,
    table: tileBytes + ringBytes,
    bytes: tileBytes + ringBytes + tableBytes,
  };
}

/**
 * Bytes of one schedule record (one stage at one thread count): 4 i32 (the barrier-before flag,
 * and for dynamic rows the rows per chunk (0: static), the stage's rows and columns), then for
 * each of `maxThreads` threads `MAX_RECTS` rectangles of 4 i32 (r0, r1, x0, x1; r0 = r1 when
 * unused). The record of stage i at T threads is at `schedule.byteOffset + ((T - 1) * stages + i)
 * * recordBytes`.
 */
export function scheduleRecordBytes(maxThreads: number): number {
  return 16 + maxThreads * MAX_RECTS * 16;
}

export interface Layout {
  /** The thread schedule table, written by each module's data segment. */
  readonly schedule: { readonly byteOffset: number; readonly recordBytes: number };
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

export function layoutMemory(plan: FloatPlan, weightBytes: number, maxThreads: number): Layout {
  let at = BARRIER_BYTES;
  const recordBytes = scheduleRecordBytes(maxThreads);
  const schedule = { byteOffset: at, recordBytes };
  at = align(at + maxThreads * plan.stages.length * recordBytes);
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
  let bytesPerThread = 0;
  for (const s of plan.stages) bytesPerThread = Math.max(bytesPerThread, scratchParts(s).bytes);
  const scratch = { byteOffset: at, bytesPerThread };
  at += bytesPerThread * maxThreads;
  const pages = Math.ceil(at / PAGE) + 1;
  return { schedule, weights, input, output, scratch, maxThreads, totalBytes: at, pages };
}
