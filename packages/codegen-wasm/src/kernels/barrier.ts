/**
 * The barrier between stages (threads variants only): a counter and a generation word on shared
 * memory. Each thread reads the generation, then increments the counter; the last to arrive
 * resets the counter, bumps the generation and wakes the sleepers. The others spin on atomic
 * loads a bounded number of times (a stage on 2 cores often ends within microseconds of the
 * other thread) and only then sleep in memory.atomic.wait32 until the generation changes.
 *
 * memory.atomic.wait32 traps on a browser's main thread: with more than one thread, `run` must
 * be called from workers there (Node's main thread may wait).
 */
import binaryen from 'binaryen';
import { BARRIER_OFFSET } from '../layout.js';
import { Fn, type Variant } from './builder.js';

/**
 * Spins (atomic loads, about 1 ns each: ~2 ms) before sleeping. On this 2-vCPU KVM machine a
 * thread that sleeps in memory.atomic.wait32 wakes 0.3-0.5 ms after the notify (the idle vCPU
 * halts), and the other thread then waits as long at the next barrier: with 20000 spins
 * (~20 us) that cost 7-8 ms of barrier wait per thread per inference on fastdepth-pruned (19
 * barriers; `bench/threads.ts --profile`), although every stage's compute split 2.0x. A stage
 * ends within a few hundred microseconds on both threads, so spinning through it is cheaper.
 */
export const BARRIER_SPINS = 2000000;

/**
 * The dynamic-rows chunk counter (`run.ts`): the next chunk of the current stage. The last thread
 * to reach a barrier zeroes it before releasing the others, so every stage with dynamic rows
 * (which always starts at a barrier) counts from 0.
 */
export const CHUNK_COUNTER = BARRIER_OFFSET + 8;

export function addBarrier(m: binaryen.Module, variant: Variant): void {
  const f = new Fn(m, variant, [binaryen.i32]);
  const threads = 0;
  const gen = f.i32Local();
  const spin = f.i32Local();
  const COUNT = BARRIER_OFFSET;
  const GEN = BARRIER_OFFSET + 4;
  const genNow = (): binaryen.ExpressionRef => m.i32.atomic.load(GEN, f.c(0));
  const changed = (): binaryen.ExpressionRef => m.i32.ne(genNow(), f.get(gen));
  const body = m.block(null, [
    f.set(gen, genNow()),
    m.if(
      m.i32.eq(m.i32.atomic.rmw.add(COUNT, f.c(0), f.c(1)), m.i32.sub(f.get(threads), f.c(1))),
      m.block(null, [
        m.i32.atomic.store(0, f.c(CHUNK_COUNTER), f.c(0)),
        m.i32.atomic.store(COUNT, f.c(0), f.c(0)),
        m.i32.atomic.store(GEN, f.c(0), m.i32.add(f.get(gen), f.c(1))),
        m.drop(m.memory.atomic.notify(f.c(GEN), f.get(threads))),
      ]),
      m.block(null, [
        f.set(spin, f.c(BARRIER_SPINS)),
        m.loop(
          'spin',
          m.block(null, [
            m.if(changed(), m.return()),
            f.set(spin, m.i32.sub(f.get(spin), f.c(1))),
            m.br('spin', f.get(spin)),
          ]),
        ),
        m.loop(
          'sleep',
          m.block(null, [
            m.if(changed(), m.return()),
            m.drop(m.memory.atomic.wait32(f.c(GEN), f.get(gen), m.i64.const(-1n))),
            m.br('sleep'),
          ]),
        ),
      ]),
    ),
  ]);
  m.addFunction('barrier', binaryen.i32, binaryen.none, f.vars, body);
}
