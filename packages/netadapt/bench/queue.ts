/**
 * What the proposal queue costs and gains (issue 11). Prints markdown tables for the README.
 *
 *  1. One NetAdapt iteration on the trained fastdepth-pruned (TFLite weights, reconstruction
 *     recovery on photo crops at 224x224, MACs metric): in-process, then over the queue with
 *     1 and 2 worker processes on this machine (wall time of `runNetAdapt`, maxIterations 1).
 *  2. The coordinator's own overhead per proposal, with workers whose proposal returns at once:
 *     enqueue -> result latency of one job at a time (median), and the per-proposal time of a
 *     batch of 16 with one worker; both as % of a real proposal's time from part 1.
 *  3. Simulated scale: proposals that only sleep SLEEP ms, JOBS of them, on 1 and on 8 worker
 *     processes on one Redis; the speed-up (aim >= 7x).
 *
 * Run: npx tsx --conditions=@fastdepth/source packages/netadapt/bench/queue.ts
 * Env: CAL (calibration crops, default 8), SCORE (ranking crops, 4), SLEEP (ms, 500), JOBS (64),
 *      REPEAT (latency samples, 30), SKIP_REAL=1 (parts 2-3 only).
 * The machine this runs on may be shared: read the ratios, measured side by side, not absolutes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { importTflite } from '@fastdepth/importers';
import type { TensorF32 } from '@fastdepth/graph-dsl';
import {
  median,
  prunableUnits,
  reconstructionRecovery,
  runNetAdapt,
  type NetAdaptOptions,
} from '../src/index.js';
import {
  formatVersion,
  JOB_FORMAT,
  openQueueDispatcher,
  PACKAGE_VERSION,
  type ProposalJobData,
  type SubmittedJob,
} from '../src/queue/index.js';
import { startRedisServer } from '../src/testing/redis-server.js';

/** The shared data folder beside the clone (never copied into the repository). */
const DATA = fileURLToPath(new URL('../../../../shared/data', import.meta.url));
const env = (k: string, d: number): number => (process.env[k] ? Number(process.env[k]) : d);
const CAL = env('CAL', 8);
const SCORE = env('SCORE', 4);
const SLEEP = env('SLEEP', 500);
const JOBS = env('JOBS', 64);
const REPEAT = env('REPEAT', 30);
const here = fileURLToPath(new URL('.', import.meta.url));
const pkg = join(here, '..');

const redis = await startRedisServer();
const children: ChildProcess[] = [];
let q = 0;

/** Starts `n` bench worker processes on `queueName` and waits until they take jobs. */
async function workers(n: number, queueName: string, mode: string): Promise<ChildProcess[]> {
  const started = Array.from({ length: n }, (_, i) => {
    const child = spawn(
      process.execPath,
      [
        '--conditions=@fastdepth/source',
        '--import',
        'tsx',
        join(here, 'queue-worker.ts'),
        '--queue',
        redis.url,
        '--queue-name',
        queueName,
        '--mode',
        mode,
        '--sleep-ms',
        String(SLEEP),
        '--name',
        `w${i + 1}`,
      ],
      { cwd: pkg, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.push(child);
    return new Promise<ChildProcess>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('ready\n')) resolve(child);
      });
      child.once('exit', (code) => reject(new Error(`bench worker exited (${code})`)));
    });
  });
  return Promise.all(started);
}

async function stop(list: readonly ChildProcess[]): Promise<void> {
  await Promise.all(
    list.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null) {
            resolve();
            return;
          }
          c.removeAllListeners('exit');
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
        }),
    ),
  );
}

/** Photo crops, [3, 224, 224] in [0, 1]. */
async function crops(n: number, offset: number): Promise<TensorF32[]> {
  const files = readdirSync(join(DATA, 'photos'))
    .filter((f) => /\.(jpe?g|png)$/i.test(f))
    .sort();
  const out: TensorF32[] = [];
  for (let i = 0; i < n; i++) {
    const file = files[(i + offset) % files.length]!;
    const { data } = await sharp(join(DATA, 'photos', file))
      .resize(224, 224, { fit: 'cover', position: i % 2 === 0 ? 'centre' : 'left' })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const t = new Float32Array(3 * 224 * 224);
    for (let p = 0; p < 224 * 224; p++)
      for (let c = 0; c < 3; c++) t[c * 224 * 224 + p] = data[p * 3 + c]! / 255;
    out.push({ shape: [3, 224, 224], data: t });
  }
  return out;
}

const seconds = (ms: number): string => (ms / 1000).toFixed(2);
const lines: string[] = [];
const say = (s: string): void => {
  lines.push(s);
  console.log(s);
};
say(
  `machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), node ${process.version}; shared and noisy: compare ratios`,
);

let realProposalMs = Number.NaN;
try {
  if (process.env.SKIP_REAL !== '1') {
    const file = join(DATA, 'weights', 'fast_depth_224.tflite');
    const model = importTflite(new Uint8Array(readFileSync(file)), file).model;
    const calibration = await crops(CAL, 0);
    const scoring = await crops(SCORE, CAL);
    const units = prunableUnits(model.graph).length;
    const options = (extra: Partial<NetAdaptOptions>): NetAdaptOptions => ({
      model,
      metric: 'macs',
      budget: 0.5,
      recovery: reconstructionRecovery({ reference: model, calibration, scoring }),
      outDir: mkdtempSync(join(tmpdir(), 'bench-queue-')),
      workers: 0,
      maxIterations: 1,
      ...extra,
    });
    const timeRun = async (extra: Partial<NetAdaptOptions>): Promise<{ ms: number; proposals: number }> => {
      const t0 = performance.now();
      const r = await runNetAdapt(options(extra));
      return { ms: performance.now() - t0, proposals: r.rows[0]?.proposals ?? units };
    };
    const rows: string[][] = [];
    const local = await timeRun({});
    realProposalMs = local.ms / local.proposals;
    rows.push(['in-process', seconds(local.ms), '1.00x', seconds(realProposalMs)]);
    for (const n of [1, 2]) {
      const name = `bench-real-${q++}`;
      const procs = await workers(n, name, 'real');
      const dispatcher = await openQueueDispatcher({ queue: redis.url, queueName: name });
      try {
        const r = await timeRun({ dispatcher });
        rows.push([
          `queue, ${n} worker process${n > 1 ? 'es' : ''}`,
          seconds(r.ms),
          `${(local.ms / r.ms).toFixed(2)}x`,
          seconds(r.ms / r.proposals),
        ]);
      } finally {
        await dispatcher.close();
        await stop(procs);
      }
    }
    say('');
    say(
      `One NetAdapt iteration, trained fastdepth-pruned (${units} proposals), reconstruction on ${CAL} + ${SCORE} photo crops at 224x224:`,
    );
    say('');
    say('| dispatch | wall time (s) | vs in-process | per proposal (s) |');
    say('| --- | --- | --- | --- |');
    for (const r of rows) say(`| ${r.join(' | ')} |`);
  }

  // 2. Overhead with a proposal that returns at once.
  const fakeJob = (run: string, i: number): SubmittedJob => ({
    id: `${run}.0.x.u${i}`,
    data: {
      format: JOB_FORMAT,
      version: formatVersion(),
      fastdepth: PACKAGE_VERSION,
      runId: run,
      iteration: 0,
      unitId: `u${i}`,
      unitIndex: i,
      width: 8,
      resource: 0,
      target: 0,
      seed: i,
      base: { graph: '0'.repeat(64), weights: '0'.repeat(64) },
      origins: [],
      recovery: { kind: 'data-free' },
    } satisfies ProposalJobData,
  });
  {
    const name = `bench-trivial-${q++}`;
    const procs = await workers(1, name, 'trivial');
    const dispatcher = await openQueueDispatcher({ queue: redis.url, queueName: name });
    try {
      const single: number[] = [];
      for (let i = 0; i < REPEAT + 3; i++) {
        const t0 = performance.now();
        await dispatcher.submit([fakeJob(`single${i}`, 0)]);
        if (i >= 3) single.push(performance.now() - t0);
      }
      const batches: number[] = [];
      for (let b = 0; b < 5; b++) {
        const t0 = performance.now();
        await dispatcher.submit(Array.from({ length: 16 }, (_, i) => fakeJob(`batch${b}`, i)));
        batches.push((performance.now() - t0) / 16);
      }
      const pct = (ms: number): string =>
        Number.isFinite(realProposalMs) ? `${((100 * ms) / realProposalMs).toFixed(2)} %` : '-';
      say('');
      say('Coordinator overhead per proposal (a worker whose proposal returns at once):');
      say('');
      say('| measure | median (ms) | % of a real proposal |');
      say('| --- | --- | --- |');
      say(
        `| enqueue -> result, one job at a time (${REPEAT} runs) | ${median(single).toFixed(1)} | ${pct(median(single))} |`,
      );
      say(
        `| per proposal in a batch of 16, 1 worker (5 batches) | ${median(batches).toFixed(1)} | ${pct(median(batches))} |`,
      );
    } finally {
      await dispatcher.close();
      await stop(procs);
    }
  }

  // 3. Simulated scale: sleeping proposals on 1 and 8 worker processes.
  const scale: { n: number; ms: number }[] = [];
  for (const n of [1, 8]) {
    const name = `bench-sleep-${q++}`;
    const procs = await workers(n, name, 'sleep');
    const dispatcher = await openQueueDispatcher({ queue: redis.url, queueName: name });
    try {
      const t0 = performance.now();
      await dispatcher.submit(Array.from({ length: JOBS }, (_, i) => fakeJob(`scale${n}`, i)));
      scale.push({ n, ms: performance.now() - t0 });
    } finally {
      await dispatcher.close();
      await stop(procs);
    }
  }
  say('');
  say(`Simulated scale: ${JOBS} proposals that sleep ${SLEEP} ms each, one Redis:`);
  say('');
  say('| worker processes | wall time (s) | ideal (s) | speed-up over 1 |');
  say('| --- | --- | --- | --- |');
  for (const s of scale)
    say(
      `| ${s.n} | ${seconds(s.ms)} | ${seconds((JOBS * SLEEP) / s.n)} | ${(scale[0]!.ms / s.ms).toFixed(2)}x |`,
    );
} finally {
  await stop(children);
  await redis.stop();
}
