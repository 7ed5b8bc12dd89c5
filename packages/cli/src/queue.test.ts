// `fastdepth prune --queue` with `fastdepth worker` processes on a real Redis (Debian's
// redis-server on a free loopback port): results match the in-process run, and faults --
// a worker SIGKILLed mid-job, a coordinator killed mid-iteration, a worker of another
// version, Redis unreachable, a bad URL -- end as the README says.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodeSafetensors, initWeights, randomizeBatchNorm, saveGraph } from '@fastdepth/graph-dsl';
import { withInputShape } from '@fastdepth/netadapt';
import {
  freePort,
  startRedisServer,
  tinyEncoderDecoder,
  type RedisServer,
} from '@fastdepth/netadapt/testing';
import { runCli } from './testing/run-cli.js';

const pkg = fileURLToPath(new URL('..', import.meta.url));
const cliEntry = fileURLToPath(new URL('./testing/fastdepth-source.ts', import.meta.url));
const fixture = fileURLToPath(new URL('./testing/queue-worker-fixture.ts', import.meta.url));

/** A child process whose output the test can wait on. */
interface Proc {
  readonly child: ChildProcess;
  out(): string;
  err(): string;
  waitFor(pattern: RegExp, stream?: 'out' | 'err', timeoutMs?: number): Promise<void>;
  exited: Promise<number | null>;
}

const procs: Proc[] = [];
function start(script: string, args: readonly string[], env: Record<string, string> = {}): Proc {
  const child = spawn(
    process.execPath,
    ['--conditions=@fastdepth/source', '--import', 'tsx', script, ...args],
    {
      cwd: pkg,
      env: { ...process.env, ...env, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const p: Proc = {
    child,
    out: () => out,
    err: () => err,
    exited,
    async waitFor(pattern, stream = 'out', timeoutMs = 300_000) {
      const t0 = Date.now();
      while (!pattern.test(stream === 'out' ? out : err)) {
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`process ended before ${String(pattern)}:\n${out}\n${err}`);
        if (Date.now() - t0 > timeoutMs)
          throw new Error(`timed out waiting for ${String(pattern)}:\n${out}\n${err}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
  procs.push(p);
  return p;
}
const cli = (args: readonly string[], env?: Record<string, string>): Proc => start(cliEntry, args, env);

let redis: RedisServer;
let dir: string;
let pruneArgs: (out: string) => string[];
let reference: { rows: unknown[]; weights: Buffer };
let q = 0;
const queueName = (): string => `t${process.pid}-${q++}`;

/** What must not depend on how proposals were dispatched: accepted units, widths, scores, weights. */
function outcome(out: string): { rows: unknown[]; weights: Buffer } {
  const rows = readFileSync(join(out, 'report.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const r = JSON.parse(l) as { unit: string; from: number; to: number; accuracy: number };
      return [r.unit, r.from, r.to, r.accuracy];
    });
  return { rows, weights: readFileSync(join(out, 'final.safetensors')) };
}

beforeAll(async () => {
  redis = await startRedisServer();
  dir = mkdtempSync(join(tmpdir(), 'fastdepth-queue-'));
  const graph = withInputShape(tinyEncoderDecoder('relu'), [1, 3, 32, 32]);
  const weights = randomizeBatchNorm(graph, initWeights(graph, 3), 4);
  weights.set('head_bn.bias', { shape: [1], data: Float32Array.of(2) });
  writeFileSync(join(dir, 'tiny.json'), saveGraph(graph));
  writeFileSync(join(dir, 'tiny.safetensors'), encodeSafetensors(weights));
  const photos = join(dir, 'photos');
  mkdirSync(photos);
  for (let i = 0; i < 3; i++) {
    const px = Buffer.alloc(64 * 48 * 3);
    for (let k = 0; k < px.length; k++) px[k] = (k * (i + 7) * 31 + i * 101) % 251;
    await sharp(px, { raw: { width: 64, height: 48, channels: 3 } })
      .png()
      .toFile(join(photos, `p${i}.png`));
  }
  pruneArgs = (out) => [
    'prune',
    '--arch',
    join(dir, 'tiny.json'),
    '--weights',
    join(dir, 'tiny.safetensors'),
    '--images',
    photos,
    '--calibration',
    '4',
    '--scoring',
    '2',
    '--holdout',
    '1',
    '--budget',
    '0.75',
    '--reduction',
    '0.1',
    '--workers',
    '0',
    '--out',
    out,
  ];
  const local = join(dir, 'local');
  const r = await runCli(...pruneArgs(local));
  expect(r.code, r.stderr).toBe(0);
  reference = outcome(local);
  expect(reference.rows.length).toBeGreaterThanOrEqual(2);
});

afterEach(async () => {
  for (const p of procs.splice(0)) {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await p.exited;
  }
});

afterAll(async () => {
  await redis?.stop();
});

// Three Node processes that each load onnxruntime and the CLI on two shared cores: minutes when loaded.
describe('fastdepth prune --queue with fastdepth worker processes', { timeout: 600_000 }, () => {
  it('gives the same widths, scores and weights with two workers as in-process, and says who ran what', async () => {
    const name = queueName();
    const workers = ['w1', 'w2'].map((w) =>
      cli(['worker', '--queue', redis.url, '--queue-name', name, '--name', w]),
    );
    const out = join(dir, 'two');
    const coordinator = cli([...pruneArgs(out), '--queue', redis.url, '--queue-name', name]);
    expect(await coordinator.exited, coordinator.err()).toBe(0);
    expect(outcome(out)).toEqual(reference);
    expect(coordinator.err()).toMatch(
      new RegExp(`proposals: queue "${name}" on redis://127\\.0\\.0\\.1:${redis.port}`),
    );
    const proposalLines = coordinator.err().match(/^ {2}proposal .* by (w1|w2): /gm) ?? [];
    const ran = workers.map((w) => (w.out().match(/: running$/gm) ?? []).length);
    expect(proposalLines.length).toBeGreaterThan(0);
    expect(ran[0]! + ran[1]!).toBe(proposalLines.length);
    for (const w of workers) w.child.kill('SIGTERM');
    for (const w of workers) expect(await w.exited).toBe(0);
    // Which worker takes which job is BullMQ's choice (one may take all of an iteration's jobs):
    // every job a worker started, it reports done, with its scores.
    const done = workers.map(
      (w) => (w.out().match(/^iteration \d+ \S+ -> \d+: done in [\d.]+ s, delta1 /gm) ?? []).length,
    );
    expect(done).toEqual(ran);
  });

  it('retries the job of a worker SIGKILLed mid-job on another worker and loses nothing', async () => {
    const name = queueName();
    const out = join(dir, 'killed-worker');
    const coordinator = cli([...pruneArgs(out), '--queue', redis.url, '--queue-name', name]);
    const doomed = start(fixture, [
      '--queue',
      redis.url,
      '--queue-name',
      name,
      '--hold-ms',
      '600000',
      '--name',
      'doomed',
    ]);
    await doomed.waitFor(/^running (\S+)$/m);
    const killedJob = /^running (\S+)$/m.exec(doomed.out())![1]!;
    doomed.child.kill('SIGKILL');
    await doomed.exited;
    const survivor = cli([
      'worker',
      '--queue',
      redis.url,
      '--queue-name',
      name,
      '--name',
      'survivor',
      '--lock-seconds',
      '2',
    ]);
    expect(await coordinator.exited, coordinator.err()).toBe(0);
    expect(outcome(out)).toEqual(reference);
    // The killed job (run.iteration.base.unit) was run again by the survivor.
    const unit = killedJob.split('.').slice(3).join('.');
    expect(survivor.out()).toContain(`iteration 0 ${unit} -> `);
    expect(coordinator.err()).not.toMatch(/by doomed/);
  });

  it('resumes a coordinator killed mid-iteration with the results finished in Redis', async () => {
    const name = queueName();
    const out = join(dir, 'killed-coordinator');
    const first = cli([...pruneArgs(out), '--queue', redis.url, '--queue-name', name]);
    await first.waitFor(/^iteration 0: target .*, (\d+) proposals$/m, 'err');
    const helper = start(fixture, [
      '--queue',
      redis.url,
      '--queue-name',
      name,
      '--jobs',
      '3',
      '--name',
      'early',
    ]);
    await helper.waitFor(/^stopped$/m);
    const finished = (helper.out().match(/^done /gm) ?? []).length;
    expect(finished).toBeGreaterThanOrEqual(3);
    first.child.kill('SIGKILL');
    await first.exited;
    cli(['worker', '--queue', redis.url, '--queue-name', name, '--name', 'late']);
    const resumed = cli([...pruneArgs(out), '--queue', redis.url, '--queue-name', name, '--resume']);
    expect(await resumed.exited, resumed.err()).toBe(0);
    expect(outcome(out)).toEqual(reference);
    const reused = resumed.err().match(/\(from Redis: early finished it before the restart\)/g) ?? [];
    expect(reused).toHaveLength(finished);
  });

  it('ends the run with one line when a worker of another version refuses a proposal', async () => {
    const name = queueName();
    const worker = cli(['worker', '--queue', redis.url, '--queue-name', name, '--name', 'old'], {
      FASTDEPTH_QUEUE_FORMAT_VERSION: '2',
    });
    const coordinator = cli([
      ...pruneArgs(join(dir, 'mismatch')),
      '--queue',
      redis.url,
      '--queue-name',
      name,
    ]);
    expect(await coordinator.exited).toBe(1);
    const errors = coordinator
      .err()
      .split('\n')
      .filter((l) => l.startsWith('fastdepth: '));
    expect(errors).toEqual([
      expect.stringMatching(
        /^fastdepth: error: proposal for unit \S+ \(iteration 0, width \d+\) failed: worker old refused the job: it was written in queue format 1 \(fastdepth 0\.1\.0\), this worker reads format 2 \(fastdepth 0\.1\.0\); run the same fastdepth version/,
      ),
    ]);
    expect(coordinator.err()).not.toMatch(/\n\s+at /);
    expect(worker.out()).toMatch(/^iteration 0 \S+ -> \d+: failed: worker old refused the job/m);
  });

  it('says in one line that Redis cannot be reached, or that the URL is bad', async () => {
    const port = await freePort();
    let r = await runCli(
      ...pruneArgs(join(dir, 'unreachable')),
      '--queue',
      `redis://:secret@127.0.0.1:${port}`,
    );
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('fastdepth: '))).toEqual([
      expect.stringMatching(
        new RegExp(
          `^fastdepth: error: cannot reach Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`,
        ),
      ),
    ]);
    expect(r.stderr).not.toContain('secret');
    // Reached before any work: the weights (missing) are not even looked at.
    r = await runCli(
      'prune',
      '--weights',
      join(dir, 'missing.tflite'),
      '--budget',
      '0.5',
      '--out',
      join(dir, 'unreachable-first'),
      '--queue',
      `redis://127.0.0.1:${port}`,
    );
    expect(r.stderr).toMatch(
      /^fastdepth: error: cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/,
    );
    r = await runCli(...pruneArgs(join(dir, 'bad-url')), '--queue', 'http://127.0.0.1:6379');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^fastdepth: error: --queue "http:\/\/127\.0\.0\.1:6379": the scheme must be redis:\/\/ or rediss:\/\//,
    );
    r = await runCli('worker', '--queue', 'localhost');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^fastdepth: error: --queue "localhost" is not a URL/);
    r = await runCli('prune', '--budget', '0.5', '--queue-name', 'x');
    expect(r.stderr).toMatch(/--queue-name needs --queue/);
    const worker = cli(['worker', '--queue', `redis://127.0.0.1:${port}`]);
    expect(await worker.exited).toBe(1);
    expect(worker.err().trim().split('\n')).toEqual([
      expect.stringMatching(/^fastdepth: error: cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+: /),
    ]);
  });
});
