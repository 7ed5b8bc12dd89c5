/**
 * The thread schedule: which part of each stage's output every thread computes, and where
 * threads must meet at a barrier. Generic over what a stage is: it sees only a `StageAccess`
 * (the output grid the stage splits, whether its kernels take column ranges, which buffer
 * regions an output rectangle reads and writes), so any kernel family (the float stages of
 * `plan.ts`, the int8 ones) plugs in with one adapter such as `floatStageAccess`.
 *
 * Partition: each stage is split either by whole output rows or, where rows are few (7 rows on
 * 2 threads is 4/3), by pixels in row-major order with cut points at column multiples of 4
 * (the kernels' 4-pixel register block), so a thread may take part of a row. A cost model of the
 * split's imbalance (the busiest thread's pixels plus a per-row-segment overhead) picks per
 * stage. Every output is still computed by exactly one thread with the same kernel code and the
 * same summation order, so threaded results are bit-identical to one thread.
 *
 * Barriers: a stage needs one before it only where one of its threads reads, from a buffer
 * written since the last barrier, a region another thread wrote (a conv window over neighbour
 * rows). A 1x1 conv or a skip add on the same row split reads only its own thread's rows and
 * runs on without one. The last stage is always followed by one, so the output is complete
 * when any thread's `run` returns.
 *
 * Dynamic rows (`split: 'auto'`, the default): a stage of at least 4 rows per thread that starts
 * at a barrier and whose rows cost nothing extra in any ranges (`StageAccess.chunkable`) is not
 * cut in fixed parts: the threads take chunks of `chunkRows` rows from a shared counter until
 * none is left, so a thread slowed by the machine (another process on its core) leaves more of
 * the stage to the others instead of holding them at the next barrier. Which thread computes a
 * row changes nothing in its values (`dynamic-rows.test.ts`). Any thread may then have written
 * any row of the stage's output, so every later reader waits at a barrier first.
 */
import { stageCols, stageOut, stageRows, type FloatStage } from './plan.js';

/** A rectangle of a stage's output grid: rows [r0, r1), columns [x0, x1). */
export interface Rect {
  readonly r0: number;
  readonly r1: number;
  readonly x0: number;
  readonly x1: number;
}

/** How a stage output coordinate maps to the buffer coordinates it reads along one axis. */
export interface ReadAxis {
  /** Output index o reads buffer indices floor((o * stride - pad + k) / div), 0 <= k < extent. */
  readonly stride: number;
  readonly pad: number;
  readonly extent: number;
  /** 2 for the half-size source of a nearest x2 upsample fused into the reads. */
  readonly div: number;
}

/** One buffer a stage reads: rows and columns as functions of the output rectangle. */
export interface BufferRead {
  readonly buffer: string;
  readonly rows: ReadAxis;
  /** `all`: every column whatever the rectangle (a row built whole, as the ring rows are). */
  readonly cols: ReadAxis | 'all';
}

/** What the scheduler needs to know about a stage. */
export interface StageAccess {
  readonly name: string;
  /** The output grid split among threads (the conv's rows and columns, before any upsample). */
  readonly rows: number;
  readonly cols: number;
  /** Whether the stage's kernels take a column range (else only whole rows are given to it). */
  readonly columns: boolean;
  /**
   * Whether any row range may be computed by any thread in any order, cheaply (no per-range
   * set-up such as filling a ring of input rows): the condition for dynamic rows.
   */
  readonly chunkable?: boolean;
  /** The buffer written (undefined: the graph output, which no stage reads) and the grid-to-buffer scale. */
  readonly writes: { readonly buffer: string; readonly scale: number } | undefined;
  readonly reads: readonly BufferRead[];
}

/** How a stage is split among threads. */
export type SplitAxis = 'rows' | 'pixels';

export interface StageSchedule {
  readonly axis: SplitAxis;
  /** Per thread, the rectangles it computes (at most `MAX_RECTS`, none empty). */
  readonly parts: readonly (readonly Rect[])[];
  /** Whether the threads meet at a barrier before this stage. */
  readonly barrierBefore: boolean;
  /**
   * Dynamic rows: threads take chunks of this many rows of the stage's `rows` x `cols` grid from
   * the shared counter (and `parts` is unused); 0 for the static split of `parts`.
   */
  readonly chunkRows: number;
  readonly rows: number;
  readonly cols: number;
}

export interface Schedule {
  readonly threads: number;
  readonly stages: readonly StageSchedule[];
}

export interface ScheduleOptions {
  /**
   * `auto` (default): per-stage choice of rows or pixels by the cost model, barriers only where
   * a thread reads another's output, dynamic rows where allowed. See `ThreadSplit`.
   */
  readonly split?: ThreadSplit;
}

/**
 * `auto`: per-stage rows or pixels, barriers only where needed, dynamic rows where a stage allows
 * them; `static`: the same without dynamic rows; `rows`: whole rows and a barrier after every
 * stage (the first schedule). The last two are kept for side-by-side benchmarks.
 */
export type ThreadSplit = 'auto' | 'static' | 'rows';

/** Dynamic rows: about this many chunks per thread in a stage (and chunks of at least one row). */
const CHUNKS_PER_THREAD = 8;
/**
 * Dynamic rows need at least this many rows per thread: with fewer, the last chunk leaves the
 * threads unbalanced (7 rows on 2 threads: 4/3) where the static pixel split is even (25/24).
 */
const MIN_CHUNKS_PER_THREAD = 4;

/** Rows per chunk of a dynamic stage of `rows` rows on `threads` threads. */
export function chunkRowsFor(rows: number, threads: number): number {
  return Math.max(1, Math.floor(rows / (CHUNKS_PER_THREAD * threads)));
}

/** Rectangles one thread may get in a stage: a partial first row, whole rows, a partial last row. */
export const MAX_RECTS = 3;
/** Column cut points are multiples of this (the kernels' pixel block). */
export const COLUMN_ALIGN = 4;
/** Cost model: fixed cost of one row segment, in pixels (row setup, a leftover block). */
const SEGMENT_COST = 1;

const rect = (r0: number, r1: number, x0: number, x1: number): Rect => ({ r0, r1, x0, x1 });

/** Whole rows: thread t gets [floor(R t / T), floor(R (t + 1) / T)), as the emitted code always did. */
export function splitRows(rows: number, cols: number, threads: number): Rect[][] {
  return Array.from({ length: threads }, (_, t) => {
    const r0 = Math.floor((rows * t) / threads);
    const r1 = Math.floor((rows * (t + 1)) / threads);
    return r0 < r1 ? [rect(r0, r1, 0, cols)] : [];
  });
}

/** The rectangles of pixels [p0, p1) in row-major order on a grid `cols` wide. */
export function pixelRects(p0: number, p1: number, cols: number): Rect[] {
  if (p0 >= p1) return [];
  let y0 = Math.floor(p0 / cols);
  const x0 = p0 % cols;
  const y1 = Math.floor(p1 / cols);
  const x1 = p1 % cols;
  if (y0 === y1) return [rect(y0, y0 + 1, x0, x1)];
  const out: Rect[] = [];
  if (x0 > 0) out.push(rect(y0, ++y0, x0, cols));
  if (y0 < y1) out.push(rect(y0, y1, 0, cols));
  if (x1 > 0) out.push(rect(y1, y1 + 1, 0, x1));
  return out;
}

/**
 * Pixels in row-major order, cut as near as the grid allows to P t / T at a column multiple of
 * `COLUMN_ALIGN` (or a row start).
 */
export function splitPixels(rows: number, cols: number, threads: number): Rect[][] {
  const total = rows * cols;
  const cut = (t: number): number => {
    if (t === 0) return 0;
    if (t === threads) return total;
    const ideal = (total * t) / threads;
    const y = Math.floor(ideal / cols);
    const x = ideal - y * cols;
    // Nearest allowed column in this row: a multiple of COLUMN_ALIGN below cols, or the next row.
    const down = Math.floor(x / COLUMN_ALIGN) * COLUMN_ALIGN;
    const upCol = down + COLUMN_ALIGN;
    const up = upCol >= cols ? cols : upCol;
    return y * cols + (x - down <= up - x ? down : up);
  };
  return Array.from({ length: threads }, (_, t) => pixelRects(cut(t), cut(t + 1), cols));
}

/** The cost model: the busiest thread's pixels plus a fixed cost per row segment. */
export function partitionCost(parts: readonly (readonly Rect[])[]): number {
  let worst = 0;
  for (const rects of parts) {
    let c = 0;
    for (const r of rects) c += (r.r1 - r.r0) * (r.x1 - r.x0 + SEGMENT_COST);
    worst = Math.max(worst, c);
  }
  return worst;
}

/** Buffer region (rows [r0, r1), columns [x0, x1)) a read of output rectangle `r` touches. */
export function readRegion(read: BufferRead, r: Rect): Rect {
  const span = (a: ReadAxis, o0: number, o1: number): [number, number] => [
    Math.floor((o0 * a.stride - a.pad) / a.div),
    Math.floor(((o1 - 1) * a.stride - a.pad + a.extent - 1) / a.div) + 1,
  ];
  const [r0, r1] = span(read.rows, r.r0, r.r1);
  const [x0, x1] =
    read.cols === 'all' ? [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY] : span(read.cols, r.x0, r.x1);
  return { r0, r1, x0, x1 };
}

/** Buffer region output rectangle `r` writes (a fused upsample scales it). */
export function writeRegion(scale: number, r: Rect): Rect {
  return rect(r.r0 * scale, r.r1 * scale, r.x0 * scale, r.x1 * scale);
}

const overlaps = (a: Rect, b: Rect): boolean => a.r0 < b.r1 && b.r0 < a.r1 && a.x0 < b.x1 && b.x0 < a.x1;

/** The partition of one stage for `threads` threads. */
export function partitionStage(
  s: StageAccess,
  threads: number,
  split: 'auto' | 'rows' = 'auto',
): { axis: SplitAxis; parts: Rect[][] } {
  const rows = splitRows(s.rows, s.cols, threads);
  if (split === 'rows' || !s.columns || threads === 1) return { axis: 'rows', parts: rows };
  const pixels = splitPixels(s.rows, s.cols, threads);
  return partitionCost(pixels) < partitionCost(rows)
    ? { axis: 'pixels', parts: pixels }
    : { axis: 'rows', parts: rows };
}

/** The schedule of `stages` (in run order) on `threads` threads. */
export function scheduleStages(
  stages: readonly StageAccess[],
  threads: number,
  options: ScheduleOptions = {},
): Schedule {
  if (!Number.isInteger(threads) || threads < 1)
    throw new Error(`codegen-wasm schedule: threads ${threads} must be a positive integer`);
  const split = options.split ?? 'auto';
  const dynamic = split === 'auto';
  /** Buffers written since the last barrier: per thread, the regions written. */
  let dirty = new Map<string, Rect[][]>();
  const out: StageSchedule[] = stages.map((s) => {
    const { axis, parts } = partitionStage(s, threads, split === 'rows' ? 'rows' : 'auto');
    let barrierBefore = false;
    let chunkRows = 0;
    if (threads > 1) {
      barrierBefore =
        split === 'rows'
          ? dirty.size > 0
          : parts.some((rects, t) =>
              s.reads.some((read) => {
                const written = dirty.get(read.buffer);
                if (!written) return false;
                return rects.some((r) => {
                  const region = readRegion(read, r);
                  return written.some((w, u) => u !== t && w.some((wr) => overlaps(wr, region)));
                });
              }),
            );
      if (barrierBefore) dirty = new Map();
      chunkRows =
        dynamic && barrierBefore && s.chunkable === true && s.rows >= MIN_CHUNKS_PER_THREAD * threads
          ? chunkRowsFor(s.rows, threads)
          : 0;
      if (s.writes) {
        const scale = s.writes.scale;
        // Dynamic rows: any thread may have written any of them.
        const whole = [rect(0, s.rows, 0, s.cols)];
        const regions = parts.map((rects) =>
          (chunkRows > 0 ? whole : rects).map((r) => writeRegion(scale, r)),
        );
        const prev = dirty.get(s.writes.buffer);
        dirty.set(s.writes.buffer, prev ? prev.map((p, t) => [...p, ...regions[t]!]) : regions);
      } else {
        // The graph output: nobody reads it, but `rows` keeps a barrier after every stage.
        if (split === 'rows') dirty.set('(output)', []);
      }
    }
    return { axis, parts, barrierBefore, chunkRows, rows: s.rows, cols: s.cols };
  });
  return { threads, stages: out };
}

/** Same rows and columns as the output grid. */
const SAME: ReadAxis = { stride: 1, pad: 0, extent: 1, div: 1 };

/** The `StageAccess` of a float stage of `plan.ts`. */
export function floatStageAccess(s: FloatStage): StageAccess {
  if (s.kind === 'input')
    return {
      name: s.name,
      rows: s.shape[2],
      cols: s.shape[3],
      columns: false,
      writes: { buffer: s.out.name, scale: 1 },
      reads: [],
    };
  const base = { name: s.name, rows: stageRows(s), cols: stageCols(s) };
  if (s.kind === 'concat')
    return {
      ...base,
      columns: true,
      writes: { buffer: s.out.name, scale: 1 },
      reads: s.ins.map(({ buffer }) => ({ buffer: buffer.name, rows: SAME, cols: SAME })),
    };
  const reads: BufferRead[] = [];
  const window = (stride: number, pad: number, k: number, dil: number, div: number): ReadAxis => ({
    stride,
    pad,
    extent: (k - 1) * dil + 1,
    div,
  });
  let columns: boolean;
  let chunkable = false;
  switch (s.kind) {
    case 'map': {
      reads.push({ buffer: s.in.name, rows: SAME, cols: SAME });
      for (const t of s.terms) reads.push({ buffer: t.name, rows: SAME, cols: SAME });
      if (s.mul) {
        // A per-channel (1x1) factor is read at pixel (0, 0) by every output pixel.
        const at: ReadAxis = s.mul.h === 1 && s.mul.w === 1 ? { stride: 0, pad: 0, extent: 1, div: 1 } : SAME;
        reads.push({ buffer: s.mul.name, rows: at, cols: at });
      }
      columns = true;
      break;
    }
    case 'resize': {
      // Output o reads rows near o * in / out: a window of 3 ratio steps around it is a safe bound
      // for any ratio (bilinear reads floor(src) and the next row; nearest floor(src)).
      const axis = (inSize: number, outSize: number): ReadAxis =>
        outSize % inSize === 0
          ? { stride: 1, pad: outSize / inSize, extent: (3 * outSize) / inSize, div: outSize / inSize }
          : { stride: 0, pad: 0, extent: inSize, div: 1 };
      reads.push({ buffer: s.in.name, rows: axis(s.in.h, s.rows), cols: axis(s.in.w, s.cols) });
      columns = true;
      break;
    }
    case 'unpool':
      reads.push({ buffer: s.in.name, rows: window(1, 0, 1, 1, s.scale), cols: window(1, 0, 1, 1, s.scale) });
      columns = true;
      break;
    case 'pixelShuffle':
      reads.push({ buffer: s.in.name, rows: window(1, 0, 1, 1, s.block), cols: window(1, 0, 1, 1, s.block) });
      columns = true;
      break;
    case 'pool':
      reads.push({
        buffer: s.in.name,
        rows: window(s.sh, s.pt, s.kh, 1, 1),
        cols: window(s.sw, s.pl, s.kw, 1, 1),
      });
      columns = true;
      break;
    case 'gap':
      reads.push({
        buffer: s.in.name,
        rows: { stride: 0, pad: 0, extent: s.in.h, div: 1 },
        cols: { stride: 0, pad: 0, extent: s.in.w, div: 1 },
      });
      columns = false;
      break;
    case 'convT': {
      // Output o reads input i where o + pad - k = i * stride, 0 <= k < kernel.
      const g = s.conv;
      reads.push({
        buffer: s.in.name,
        rows: { stride: 1, pad: g.kh - 1 - g.pt, extent: g.kh, div: g.sh },
        cols: { stride: 1, pad: g.kw - 1 - g.pl, extent: g.kw, div: g.sw },
      });
      columns = true;
      break;
    }
    default: {
      const g = s.kind === 'dwpw' ? s.dw : s.conv;
      const ring = s.kind === 'dw' || s.kind === 'dwpw' ? s.ring : undefined;
      if (ring) {
        // The ring builds whole input rows of up(y) + skip.
        reads.push({ buffer: ring.y.name, rows: window(g.sh, g.pt, g.kh, g.dh, 2), cols: 'all' });
        if (ring.skip)
          reads.push({ buffer: ring.skip.name, rows: window(g.sh, g.pt, g.kh, g.dh, 1), cols: 'all' });
      } else {
        reads.push({
          buffer: s.in.name,
          rows: window(g.sh, g.pt, g.kh, g.dh, 1),
          cols: window(g.sw, g.pl, g.kw, g.dw, 1),
        });
      }
      // The GEMM and depthwise row kernels take column ranges; ring rows are built whole.
      columns = s.kind === 'pw' || ((s.kind === 'dw' || s.kind === 'dwpw') && !ring);
      // A ring-buffered stage builds the upsampled rows it reads as it goes down its rows: any
      // row range is right (the ring is filled at its first row), but every chunk would fill it
      // again, so these keep their static rows.
      chunkable = ring === undefined;
    }
  }
  const scale = s.epi.up ? 2 : 1;
  if (s.epi.add) {
    const at: ReadAxis = { stride: scale, pad: 0, extent: scale, div: 1 };
    reads.push({ buffer: s.epi.add.name, rows: at, cols: at });
  }
  const out = stageOut(s);
  return {
    ...base,
    columns,
    chunkable,
    writes: out ? { buffer: out.name, scale } : undefined,
    reads,
  };
}
