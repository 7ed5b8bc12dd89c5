/**
 * The `run` and `run_stage` exports of every build (float and int8), emitted from one thread
 * schedule (`schedule.ts`): `run(thread, threads)` walks the stages, meets the other threads at
 * the barrier only where the schedule asks for one, and calls the stage function on each of this
 * thread's rectangles, read from the schedule table (a data segment, `scheduleTable`).
 *
 * Stage functions are `stage<i>(r0, r1, x0, x1, thread)` (`STAGE_PARAMS`): output rows [r0, r1),
 * columns [x0, x1) (ignored by kernels that take whole rows), the thread for its scratch.
 *
 * A stage with dynamic rows (`StageSchedule.chunkRows`) is not read from the thread's
 * rectangles: each thread takes the next chunk from the counter at `CHUNK_COUNTER` (an atomic
 * add) until the stage's rows run out. The barrier before such a stage zeroes the counter while
 * every thread waits in it (`barrier.ts`).
 *
 * Profiling (`profile`): the module imports `env.mark(thread, event)` and calls it with event
 * 2i when stage i starts (after its barrier, if any), 2i + 1 when it ends, and 2N after the
 * final barrier; the gaps are barrier waits. For the threads benchmark only (a host must supply
 * the import).
 */
import binaryen from 'binaryen';
import { Fn, type Expr, type Variant } from './kernels/builder.js';
import { MAX_RECTS, type Schedule } from './schedule.js';
import { CHUNK_COUNTER } from './kernels/barrier.js';

/** Parameters of every stage function: output rows [r0, r1), columns [x0, x1), thread. */
export const STAGE_PARAMS = 5;

/** Where the schedule table lies and how many threads the module reserves scratch for. */
export interface RunLayout {
  readonly schedule: { readonly byteOffset: number; readonly recordBytes: number };
  readonly maxThreads: number;
}

/**
 * The schedule table: for T = 1..maxThreads and every stage a record of `recordBytes` (see
 * `scheduleRecordBytes` in layout.ts): the barrier flag, the dynamic-rows words and each
 * thread's rectangles.
 */
export function scheduleTable(schedules: readonly Schedule[], recordBytes: number): Uint8Array<ArrayBuffer> {
  const stages = schedules[0]!.stages.length;
  const rec = recordBytes / 4;
  const table = new Int32Array(schedules.length * stages * rec);
  schedules.forEach((sch, ti) =>
    sch.stages.forEach((st, i) => {
      const base = (ti * stages + i) * rec;
      table[base] = st.barrierBefore ? 1 : 0;
      table.set([st.chunkRows, st.rows, st.cols], base + 1);
      st.parts.forEach((rects, t) => {
        if (rects.length > MAX_RECTS)
          throw new Error(`codegen-wasm: ${rects.length} rectangles for a thread`);
        rects.forEach((r, j) => table.set([r.r0, r.r1, r.x0, r.x1], base + 4 + (t * MAX_RECTS + j) * 4));
      });
    }),
  );
  return new Uint8Array(table.buffer);
}

/** The profiling import (`profile`): see the module comment. */
export function addProfileImport(m: binaryen.Module): void {
  m.addFunctionImport(
    'mark',
    'env',
    'mark',
    binaryen.createType([binaryen.i32, binaryen.i32]),
    binaryen.none,
  );
}

/**
 * Adds `run(thread, threads)` and `run_stage(stage, r0, r1, thread)` (all columns of `cols[i]`)
 * over the functions `stage0..stage<N-1>`, N = `cols.length`. The barrier function must exist
 * in threads variants.
 */
export function addRunExports(
  m: binaryen.Module,
  variant: Variant,
  layout: RunLayout,
  cols: readonly number[],
  profile: boolean,
): void {
  const i32 = binaryen.i32;
  const stages = cols.length;
  {
    const f = new Fn(m, variant, [i32, i32]);
    const [thread, threads] = [0, 1];
    const rec = f.i32Local();
    const mine = f.i32Local();
    const [chunk, r0] = [f.i32Local(), f.i32Local()];
    const R = layout.schedule.recordBytes;
    const load = (ptr: number, offset: number): Expr => m.i32.load(offset, 4, f.get(ptr));
    const mark = (event: number): Expr[] =>
      profile ? [m.call('mark', [f.get(thread), f.c(event)], binaryen.none)] : [];
    // A thread index past the reserved scratch tiles would write over another buffer: trap.
    const body: Expr[] = [
      m.if(
        m.i32.or(
          m.i32.gt_u(f.get(threads), f.c(layout.maxThreads)),
          m.i32.ge_u(f.get(thread), f.get(threads)),
        ),
        m.unreachable(),
      ),
      f.set(
        rec,
        f.add(f.c(layout.schedule.byteOffset), f.mul(m.i32.sub(f.get(threads), f.c(1)), f.c(stages * R))),
      ),
    ];
    for (let i = 0; i < stages; i++) {
      if (variant.threads)
        body.push(m.if(load(rec, i * R), m.call('barrier', [f.get(threads)], binaryen.none)));
      body.push(...mark(2 * i));
      body.push(
        f.set(mine, f.add(f.get(rec), f.add(f.c(i * R + 16), f.mul(f.get(thread), f.c(MAX_RECTS * 16))))),
      );
      const rects: Expr[] = [];
      for (let j = 0; j < MAX_RECTS; j++) {
        const o = j * 16;
        rects.push(
          m.if(
            m.i32.lt_s(load(mine, o), load(mine, o + 4)),
            m.call(
              `stage${i}`,
              [load(mine, o), load(mine, o + 4), load(mine, o + 8), load(mine, o + 12), f.get(thread)],
              binaryen.none,
            ),
          ),
        );
      }
      if (!variant.threads) body.push(...rects);
      else {
        // Dynamic rows: chunk k is rows [k * chunk, min((k + 1) * chunk, rows)).
        const rows = (): Expr => load(rec, i * R + 8);
        const grab = `grab${i}`;
        body.push(
          f.set(chunk, load(rec, i * R + 4)),
          m.if(
            f.get(chunk),
            m.loop(
              grab,
              m.block(null, [
                f.set(r0, f.mul(m.i32.atomic.rmw.add(0, f.c(CHUNK_COUNTER), f.c(1)), f.get(chunk))),
                m.if(
                  m.i32.lt_s(f.get(r0), rows()),
                  m.block(null, [
                    m.call(
                      `stage${i}`,
                      [
                        f.get(r0),
                        m.select(
                          m.i32.lt_s(f.add(f.get(r0), f.get(chunk)), rows()),
                          f.add(f.get(r0), f.get(chunk)),
                          rows(),
                        ),
                        f.c(0),
                        load(rec, i * R + 12),
                        f.get(thread),
                      ],
                      binaryen.none,
                    ),
                    m.br(grab),
                  ]),
                ),
              ]),
            ),
            m.block(null, rects),
          ),
        );
      }
      body.push(...mark(2 * i + 1));
    }
    // After the last stage: the output is complete when any thread returns.
    if (variant.threads)
      body.push(m.if(m.i32.gt_u(f.get(threads), f.c(1)), m.call('barrier', [f.get(threads)], binaryen.none)));
    body.push(...mark(2 * stages));
    m.addFunction('run', binaryen.createType([i32, i32]), binaryen.none, f.vars, m.block(null, body));
    m.addFunctionExport('run', 'run');
  }
  {
    const f = new Fn(m, variant, [i32, i32, i32, i32]);
    const body = [
      m.if(m.i32.ge_u(f.get(3), f.c(layout.maxThreads)), m.unreachable()),
      ...cols.map((c, i) =>
        m.if(
          m.i32.eq(f.get(0), f.c(i)),
          m.call(`stage${i}`, [f.get(1), f.get(2), f.c(0), f.c(c), f.get(3)], binaryen.none),
        ),
      ),
    ];
    m.addFunction(
      'run_stage',
      binaryen.createType([i32, i32, i32, i32]),
      binaryen.none,
      f.vars,
      m.block(null, body),
    );
    m.addFunctionExport('run_stage', 'run_stage');
  }
}
