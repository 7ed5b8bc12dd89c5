/**
 * The thread schedule at the plan level: every stage's partition covers its output grid exactly
 * once at every thread count, column cuts sit on the kernels' 4-pixel blocks, stages whose
 * kernels take no column range get whole rows, and the barriers left out are safe: a brute-force
 * pixel-ownership simulation (independent of the rectangle arithmetic) finds no stage reading a
 * value another thread wrote since the last barrier.
 */
import { buildArch, fastdepth } from '@fastdepth/fastdepth-arch';
import { foldBatchNorm, type Graph } from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { planGraph } from './plan.js';
import {
  chunkRowsFor,
  COLUMN_ALIGN,
  floatStageAccess,
  MAX_RECTS,
  readRegion,
  scheduleStages,
  splitPixels,
  writeRegion,
  type Schedule,
  type StageAccess,
} from './schedule.js';
import { seededWeights } from './testing/harness.js';

function accessOf(graph: Graph): StageAccess[] {
  const folded = foldBatchNorm({ graph, weights: seededWeights(graph, 1) });
  return planGraph(folded.graph, folded.weights).stages.map(floatStageAccess);
}

const graphs: [string, () => Graph][] = [
  ['fastdepth-pruned 224', () => buildArch('fastdepth-pruned', { inputSize: 224 })],
  ['fastdepth 224', () => buildArch('fastdepth', { inputSize: 224 })],
  [
    'fastdepth odd widths 96x160',
    () =>
      fastdepth({
        inputSize: [96, 160],
        widths: { encoder: [7, 13, 10, 21, 9, 15, 11, 6, 5, 7, 9, 3, 17, 10], decoder: [9, 15, 21, 13, 5] },
      }),
  ],
  ['mobilenet-nnconv7dw-skipadd 128x128', () => buildArch('mobilenet-nnconv7dw-skipadd', { inputSize: 128 })],
  ['mobilenet-nnconv3-skipadd 160x160', () => buildArch('mobilenet-nnconv3-skipadd', { inputSize: 160 })],
];

function expectExactCover(stages: StageAccess[], sch: Schedule): void {
  sch.stages.forEach((st, i) => {
    const s = stages[i]!;
    const count = new Uint8Array(s.rows * s.cols);
    expect(st.parts).toHaveLength(sch.threads);
    for (const rects of st.parts) {
      expect(rects.length).toBeLessThanOrEqual(MAX_RECTS);
      for (const r of rects) {
        expect(r.r0).toBeLessThan(r.r1);
        expect(r.x0).toBeLessThan(r.x1);
        expect(r.x0 % COLUMN_ALIGN).toBe(0);
        expect(r.x1 === s.cols || r.x1 % COLUMN_ALIGN === 0).toBe(true);
        if (!s.columns) expect([r.x0, r.x1]).toEqual([0, s.cols]);
        for (let y = r.r0; y < r.r1; y++) for (let x = r.x0; x < r.x1; x++) count[y * s.cols + x]!++;
      }
    }
    expect(count.every((c) => c === 1)).toBe(true);
  });
}

/**
 * Replays the schedule pixel by pixel: which thread wrote each buffer value, in which barrier
 * epoch (a stage with dynamic rows: any thread).
 */
function expectSafeBarriers(stages: StageAccess[], sch: Schedule): void {
  const owner = new Map<string, Map<number, { thread: number; epoch: number }>>();
  let epoch = 0;
  const key = (y: number, x: number): number => y * 65536 + x;
  sch.stages.forEach((st, i) => {
    const s = stages[i]!;
    if (st.barrierBefore) epoch++;
    st.parts.forEach((rects, t) => {
      for (const r of rects)
        for (const read of s.reads) {
          const w = owner.get(read.buffer);
          if (!w) continue;
          const reg = readRegion(read, r);
          for (const [k, o] of w) {
            const y = Math.floor(k / 65536);
            const x = k % 65536;
            if (y >= reg.r0 && y < reg.r1 && x >= reg.x0 && x < reg.x1 && o.thread !== t && o.epoch === epoch)
              throw new Error(
                `${s.name}: thread ${t} reads ${read.buffer}[${y}][${x}] of thread ${o.thread} with no barrier`,
              );
          }
        }
    });
    if (s.writes) {
      const w = new Map<number, { thread: number; epoch: number }>();
      st.parts.forEach((rects, t) => {
        for (const r of rects) {
          const reg = writeRegion(s.writes!.scale, r);
          // Dynamic rows: whichever thread took the chunk (-1 matches no reader).
          const thread = st.chunkRows > 0 ? -1 : t;
          for (let y = reg.r0; y < reg.r1; y++)
            for (let x = reg.x0; x < reg.x1; x++) w.set(key(y, x), { thread, epoch });
        }
      });
      owner.set(s.writes.buffer, w);
    }
  });
}

describe('the thread schedule', () => {
  it.each(graphs)('%s: every partition covers its outputs exactly once, barriers are safe', (_, build) => {
    const stages = accessOf(build());
    for (let threads = 1; threads <= 8; threads++) {
      const sch = scheduleStages(stages, threads);
      expectExactCover(stages, sch);
      expectSafeBarriers(stages, sch);
      if (threads === 1) expect(sch.stages.every((s) => !s.barrierBefore)).toBe(true);
      expectExactCover(stages, scheduleStages(stages, threads, { split: 'rows' }));
    }
  });

  it('fastdepth-pruned at 224 on 2 threads: the 7-row stages split by pixels (25/24), fewer barriers', () => {
    const stages = accessOf(buildArch('fastdepth-pruned', { inputSize: 224 }));
    const sch = scheduleStages(stages, 2);
    stages.forEach((s, i) => {
      const st = sch.stages[i]!;
      const pixels = st.parts.map((rects) => rects.reduce((a, r) => a + (r.r1 - r.r0) * (r.x1 - r.x0), 0));
      if (s.rows === 7 && s.columns) {
        expect(st.axis).toBe('pixels');
        expect(pixels).toEqual([25, 24]);
      }
      if (s.rows % 2 === 0) expect(st.axis).toBe('rows');
    });
    // The depth head (a 1x1 conv on its producer's rows) runs on without a barrier.
    const head = stages.findIndex((s) => s.name === 'decode_conv6');
    expect(sch.stages[head]!.barrierBefore).toBe(false);
    const rows = scheduleStages(stages, 2, { split: 'rows' });
    expect(rows.stages.filter((s) => s.barrierBefore)).toHaveLength(stages.length - 1);
    expect(sch.stages.filter((s) => s.barrierBefore).length).toBeLessThan(stages.length - 1);
  });

  it('dynamic rows: stages of 4+ rows per thread that start at a barrier, stateless rows; their readers wait', () => {
    const stages = accessOf(buildArch('fastdepth-pruned', { inputSize: 224 }));
    for (const threads of [2, 3, 4]) {
      const sch = scheduleStages(stages, threads);
      sch.stages.forEach((st, i) => {
        const s = stages[i]!;
        const allowed = st.barrierBefore && s.chunkable === true && s.rows >= 4 * threads;
        expect(st.chunkRows > 0, s.name).toBe(allowed);
        if (st.chunkRows > 0) {
          expect(st.chunkRows).toBe(chunkRowsFor(s.rows, threads));
          expect([st.rows, st.cols]).toEqual([s.rows, s.cols]);
        }
        // Whoever reads a dynamic stage's output meets the others at a barrier first.
        const from = sch.stages.findIndex(
          (_, j) =>
            j < i &&
            sch.stages[j]!.chunkRows > 0 &&
            s.reads.some((r) => r.buffer === stages[j]!.writes?.buffer),
        );
        if (from >= 0)
          expect(
            sch.stages.slice(from + 1, i + 1).some((x) => x.barrierBefore),
            s.name,
          ).toBe(true);
      });
      // The encoder's 112-row stages are dynamic (its 14-row ones up to 3 threads), its 7-row
      // ones keep their pixel split; the input stage (no barrier) is static.
      const byName = (name: string) => sch.stages[stages.findIndex((s) => s.name === name)]!;
      expect(byName('conv1_pw').chunkRows).toBeGreaterThan(0);
      expect(byName('conv11_pw').chunkRows > 0).toBe(14 >= 4 * threads);
      expect(byName('conv13_pw').chunkRows).toBe(0);
      expect(byName('input').chunkRows).toBe(0);
      // Decoder stages reading through a ring keep their static rows.
      for (const [j, s] of stages.entries())
        if (s.chunkable === false) expect(sch.stages[j]!.chunkRows).toBe(0);
      expect(stages.some((s) => s.chunkable === false && s.name.startsWith('decode'))).toBe(true);
      for (const split of ['static', 'rows'] as const)
        expect(scheduleStages(stages, threads, { split }).stages.every((st) => st.chunkRows === 0)).toBe(
          true,
        );
      expect(chunkRowsFor(112, 2)).toBe(7);
      expect(chunkRowsFor(14, 2)).toBe(1);
    }
  });

  it('pixel cuts: 7x7 on 2 threads', () => {
    expect(splitPixels(7, 7, 2)).toEqual([
      [
        { r0: 0, r1: 3, x0: 0, x1: 7 },
        { r0: 3, r1: 4, x0: 0, x1: 4 },
      ],
      [
        { r0: 3, r1: 4, x0: 4, x1: 7 },
        { r0: 4, r1: 7, x0: 0, x1: 7 },
      ],
    ]);
  });
});
