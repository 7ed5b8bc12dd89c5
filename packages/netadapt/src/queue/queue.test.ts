import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initWeights, randomizeBatchNorm, type Model } from '@fastdepth/graph-dsl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { runNetAdapt, type NetAdaptOptions, type ProposalRow } from '../netadapt.js';
import { reconstructionRecovery } from '../recovery.js';
import { startRedisServer, type RedisServer } from '../testing/redis-server.js';
import { tinyEncoderDecoder } from '../testing/tiny-net.js';
import { randomImages } from '../train.js';
import {
  checkReachable,
  JOB_FORMAT,
  openQueueDispatcher,
  parseQueueUrl,
  proposalHandler,
  startQueueWorker,
  type ProposalJobData,
  type QueueWorker,
} from './index.js';
import { BlobReader, redisBlobs } from './store.js';
import { bullConnection } from './connection.js';
import { openRedis } from './connection.js';

const graph = tinyEncoderDecoder('relu');
const model: Model = { graph, weights: randomizeBatchNorm(graph, initWeights(graph, 1), 2) };
const images = randomImages(4, 16, 3);
const tmp = (): string => mkdtempSync(join(tmpdir(), 'netadapt-queue-'));
let redis: RedisServer;
let n = 0;
const queueName = (): string => `test-${process.pid}-${n++}`;

beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});

/** A well-formed data-free job naming data nobody stored (for handlers that never read it). */
function craftedJob(extra: Record<string, unknown> = {}): ProposalJobData {
  const data: Record<string, unknown> = {
    format: JOB_FORMAT,
    version: 1,
    fastdepth: '0.1.0',
    runId: 'crafted',
    iteration: 0,
    unitId: 'conv0',
    unitIndex: 0,
    width: 4,
    resource: 1,
    target: 1,
    seed: 0,
    base: { graph: 'a'.repeat(64), weights: 'b'.repeat(64) },
    origins: [],
    recovery: { kind: 'data-free' },
    ...extra,
  };
  return data as unknown as ProposalJobData;
}

/**
 * Waits until every job id reached a final state in `queue`; their failure reasons (read from
 * Redis itself: BullMQ's client cannot load a job whose data is not JSON).
 */
async function finalReasons(
  queue: Queue,
  client: ReturnType<typeof openRedis>,
  ids: readonly string[],
): Promise<Map<string, string>> {
  const reasons = new Map<string, string>();
  while (reasons.size < ids.length) {
    for (const id of ids) {
      if (reasons.has(id)) continue;
      const state = await queue.getJobState(id);
      if (state === 'failed')
        reasons.set(id, (await client.hget(`bull:${queue.name}:${id}`, 'failedReason')) ?? '');
      if (state === 'completed') reasons.set(id, 'completed');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return reasons;
}

function options(outDir: string, extra: Partial<NetAdaptOptions> = {}): NetAdaptOptions {
  return {
    model,
    metric: 'macs',
    budget: 0.7,
    recovery: reconstructionRecovery({ reference: model, calibration: images, scoring: images.slice(0, 2) }),
    outDir,
    workers: 0,
    initialReduction: 0.1,
    maxIterations: 3,
    ...extra,
  };
}

describe('NetAdapt over a BullMQ queue', () => {
  it('accepts the same widths and weights with two workers as in-process', async () => {
    const local = await runNetAdapt(options(tmp()));
    const name = queueName();
    const dispatcher = await openQueueDispatcher({ queue: redis.url, queueName: name, pollMs: 200 });
    const ran: string[] = [];
    const workers: QueueWorker[] = [];
    for (const w of ['a', 'b'])
      workers.push(await startQueueWorker({ queue: redis.url, queueName: name, name: w, lockSeconds: 5 }));
    const rows: ProposalRow[] = [];
    const dir = tmp();
    try {
      const queued = await runNetAdapt(options(dir, { dispatcher }), {
        proposalDone: (r) => {
          rows.push(r);
          if (r.worker) ran.push(r.worker);
        },
      });
      expect(queued.rows.map((r) => [r.unit, r.to])).toEqual(local.rows.map((r) => [r.unit, r.to]));
      expect(queued.rows.map((r) => r.accuracy)).toEqual(local.rows.map((r) => r.accuracy));
      for (const [k, t] of local.model.weights) expect(queued.model.weights.get(k)!.data).toEqual(t.data);
      expect(new Set(ran).size).toBeGreaterThanOrEqual(1);
      expect(rows.every((r) => r.worker === 'a' || r.worker === 'b')).toBe(true);
      const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { runId?: string };
      expect(state.runId).toMatch(/^[0-9a-f]{16}$/);
    } finally {
      await Promise.all(workers.map((w) => w.close()));
      await dispatcher.close();
    }
  });

  it('ends the run naming the unit when a proposal fails three times', async () => {
    const name = queueName();
    const dispatcher = await openQueueDispatcher({ queue: redis.url, queueName: name, pollMs: 200 });
    const redisClient = openRedis(parseQueueUrl(redis.url));
    const real = proposalHandler(new BlobReader(redisBlobs(redisClient)));
    const tries: number[] = [];
    const worker = await startQueueWorker({
      queue: redis.url,
      queueName: name,
      name: 'flaky',
      handler: (data, w) => {
        if (data.unitId !== 'conv0') return real(data, w);
        tries.push(data.iteration);
        return Promise.reject(new Error('out of memory (simulated)'));
      },
    });
    try {
      await expect(runNetAdapt(options(tmp(), { dispatcher }))).rejects.toThrow(
        /proposal for unit conv0 \(iteration 0, width \d+\) failed 3 times: out of memory \(simulated\)/,
      );
      expect(tries).toEqual([0, 0, 0]);
    } finally {
      await worker.close();
      await dispatcher.close();
      await redisClient.quit();
    }
  });

  it('refuses a job of another format version with a message naming both', async () => {
    const name = queueName();
    const dispatcher = await openQueueDispatcher({ queue: redis.url, queueName: name, pollMs: 200 });
    const refused: string[] = [];
    const worker = await startQueueWorker({
      queue: redis.url,
      queueName: name,
      name: 'w1',
      events: { failed: (f) => refused.push(f.message) },
    });
    const data = {
      format: JOB_FORMAT,
      version: 99,
      fastdepth: '9.9.9',
      unitId: 'conv0',
      iteration: 0,
      width: 8,
    };
    try {
      await expect(
        dispatcher.submit([{ id: 'crafted.0.conv0', data: data as unknown as ProposalJobData }]),
      ).rejects.toThrow(
        /unit conv0 .*failed: worker w1 refused the job: it was written in queue format 99 \(fastdepth 9\.9\.9\), this worker reads format 1/,
      );
      expect(refused).toHaveLength(1);
    } finally {
      await worker.close();
      await dispatcher.close();
    }
  });

  it('parses redis:// and rediss:// URLs and rejects bad ones in one line', async () => {
    const tls = parseQueueUrl('rediss://user:s%40cret@cache.example:6380/2');
    expect(tls.options).toMatchObject({
      host: 'cache.example',
      port: 6380,
      db: 2,
      username: 'user',
      password: 's@cret',
    });
    expect(tls.options.tls).toEqual({ servername: 'cache.example' });
    expect(tls.display).toBe('rediss://user:***@cache.example:6380/2');
    expect(parseQueueUrl('redis://h').options).toMatchObject({ host: 'h', port: 6379, db: 0 });
    expect(parseQueueUrl('redis://h').options.tls).toBeUndefined();
    expect(() => parseQueueUrl('http://h:1')).toThrow(
      /--queue "http:\/\/h:1": the scheme must be redis:\/\/ or rediss:\/\//,
    );
    expect(() => parseQueueUrl('localhost:6379x')).toThrow(/not a URL|scheme/);
    expect(() => parseQueueUrl('redis://:pw@h/x')).toThrow(
      /--queue "redis:\/\/:\*\*\*@h\/x": the path must be a database number/,
    );
    const closed = parseQueueUrl(`redis://127.0.0.1:${redis.port + 1}`);
    await expect(checkReachable(closed)).rejects.toThrow(
      /^cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/,
    );
  });

  it('works over TLS (rediss://) with a password in the URL, and says when the password is wrong', async () => {
    const dir = tmp();
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    execFileSync(
      'openssl',
      [
        ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1'],
        ...['-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert],
      ],
      { stdio: 'ignore' },
    );
    const secure = await startRedisServer({ tls: { cert, key }, password: 'p@ss word' });
    const trusted = (url: string) => {
      // A private CA, as NODE_EXTRA_CA_CERTS would give it.
      const l = parseQueueUrl(url);
      return { ...l, options: { ...l.options, tls: { ...l.options.tls, ca: readFileSync(cert) } } };
    };
    try {
      expect(secure.url).toMatch(/^rediss:\/\/:p%40ss%20word@127\.0\.0\.1:\d+$/);
      const location = trusted(secure.url);
      await checkReachable(location);
      await expect(checkReachable(trusted(secure.url.replace('p%40ss', 'wrong')))).rejects.toThrow(
        /^cannot reach Redis at rediss:\/\/:\*\*\*@127\.0\.0\.1:\d+: WRONGPASS/,
      );
      // Without the CA the certificate is not trusted.
      await expect(checkReachable(parseQueueUrl(secure.url))).rejects.toThrow(
        /^cannot reach Redis at .*: self[- ]signed/,
      );
      const name = queueName();
      const dispatcher = await openQueueDispatcher({ queue: location, queueName: name, pollMs: 200 });
      const worker = await startQueueWorker({
        queue: location,
        queueName: name,
        name: 'tls',
        handler: (data, w) =>
          Promise.resolve({
            format: JOB_FORMAT,
            version: data.version,
            runId: data.runId,
            iteration: data.iteration,
            unitId: data.unitId,
            width: data.width,
            score: { accuracy: 0.5 },
            keep: [0],
            worker: w,
            ms: 0,
          }),
      });
      try {
        const data = craftedJob({ runId: 'r', unitId: 'u', width: 1 });
        const [outcome] = await dispatcher.submit([{ id: 'r.0.x.u', data }]);
        expect(outcome!.result).toMatchObject({ worker: 'tls', keep: [0], score: { accuracy: 0.5 } });
      } finally {
        await worker.close();
        await dispatcher.close();
      }
    } finally {
      await secure.stop();
    }
  });

  it('a malformed job fails alone, in one line, and the worker goes on', async () => {
    const name = queueName();
    const queue = new Queue(name, { connection: bullConnection(parseQueueUrl(redis.url)) });
    const client = openRedis(parseQueueUrl(redis.url));
    const missing = { graph: 'c'.repeat(64), weights: 'd'.repeat(64) };
    const bad: [string, unknown][] = [
      ['no-recovery', { ...craftedJob(), recovery: undefined }],
      ['unknown-kind', craftedJob({ recovery: { kind: 'magic' } })],
      [
        'bad-hash',
        craftedJob({
          recovery: {
            kind: 'reconstruction',
            reference: { graph: 'zz', weights: missing.weights },
            calibration: 'e'.repeat(64),
            scoring: 'e'.repeat(64),
            selection: 'reconstruction',
            ridge: 0,
            chain: false,
          },
        }),
      ],
      // Well-formed, but naming data that is not there (the reference and the base alike).
      [
        'absent-data',
        craftedJob({
          base: missing,
          recovery: {
            kind: 'reconstruction',
            reference: missing,
            calibration: 'e'.repeat(64),
            scoring: 'e'.repeat(64),
            selection: 'reconstruction',
            ridge: 0,
            chain: false,
          },
        }),
      ],
      ['negative-width', craftedJob({ width: -1 })],
      ['not-json', craftedJob()],
    ];
    for (const [id, data] of bad) await queue.add('proposal', data, { jobId: id, attempts: 3 });
    // Data no client would write: the job's hash edited in Redis.
    await client.hset(`bull:${name}:not-json`, 'data', '{"format": "fastdepth-netadapt-proposal", oops');
    const failed: string[] = [];
    const worker = await startQueueWorker({
      queue: redis.url,
      queueName: name,
      name: 'w-bad',
      events: { failed: (f) => failed.push(f.message) },
    });
    try {
      const reasons = await finalReasons(
        queue,
        client,
        bad.map(([id]) => id),
      );
      expect(reasons.get('no-recovery')).toBe('job no-recovery: "recovery" must be an object');
      expect(reasons.get('unknown-kind')).toBe(
        'job unknown-kind: "recovery.kind" must be data-free or reconstruction, found "magic"',
      );
      expect(reasons.get('bad-hash')).toBe(
        'job bad-hash: "recovery.reference.graph" must be a sha256 content hash (64 hex digits)',
      );
      expect(reasons.get('absent-data')).toMatch(/c{12}|d{12}|e{12}/);
      expect(reasons.get('negative-width')).toBe('job negative-width: "width" must be a whole number >= 1');
      expect(reasons.get('not-json')).toMatch(/^job not-json: its data is not JSON \(/);
      // One line each, once each (no retries of what would fail the same way).
      expect(failed).toHaveLength(bad.length);
      for (const m of failed) expect(m).not.toMatch(/[\r\n]/);
      // The same worker then runs a real iteration.
      const dispatcher = await openQueueDispatcher({ queue: redis.url, queueName: name, pollMs: 200 });
      try {
        const result = await runNetAdapt(options(tmp(), { dispatcher, maxIterations: 1 }));
        expect(result.rows).toHaveLength(1);
      } finally {
        await dispatcher.close();
      }
    } finally {
      await worker.close();
      await queue.close();
      await client.quit();
    }
  });

  it('refuses a score outside the proxy range (1e308; NaN and Infinity arrive as null)', async () => {
    for (const accuracy of [1e308, 0.5, Infinity, NaN]) {
      const name = queueName();
      const dispatcher = await openQueueDispatcher({ queue: redis.url, queueName: name, pollMs: 200 });
      const client = openRedis(parseQueueUrl(redis.url));
      const real = proposalHandler(new BlobReader(redisBlobs(client)));
      const worker = await startQueueWorker({
        queue: redis.url,
        queueName: name,
        name: 'liar',
        handler: async (data, w) => {
          const honest = await real(data, w);
          return data.unitId === 'conv0' ? { ...honest, score: { accuracy } } : honest;
        },
      });
      try {
        await expect(
          runNetAdapt(options(tmp(), { dispatcher, maxIterations: 1 })),
          String(accuracy),
        ).rejects.toThrow(
          !Number.isFinite(accuracy)
            ? /unit conv0: the worker's result is not usable \(no score\)/
            : /unit conv0: the worker's result is not usable \(score .* is outside the reconstruction proxy's range \(-inf, 0\]\)/,
        );
      } finally {
        await worker.close();
        await dispatcher.close();
        await client.quit();
      }
    }
  });

  it('ends the run with a --resume hint when Redis loses its data mid-run', async () => {
    const own = await startRedisServer();
    const name = queueName();
    const dispatcher = await openQueueDispatcher({ queue: own.url, queueName: name, pollMs: 200 });
    const client = openRedis(parseQueueUrl(own.url));
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    const worker = await startQueueWorker({
      queue: own.url,
      queueName: name,
      name: 'w-flush',
      handler: async () => {
        // Redis restarting empty, as seen from the queue: every key gone.
        await client.flushall();
        await held;
        throw new Error('never answers');
      },
    });
    try {
      await expect(runNetAdapt(options(tmp(), { dispatcher }))).rejects.toThrow(
        /the queue lost the proposal for unit \S+ \(iteration 0\): Redis at redis:\/\/127\.0\.0\.1:\d+ no longer has it .*start the run again with --resume$/,
      );
    } finally {
      release();
      await worker.close();
      await dispatcher.close();
      await client.quit();
      await own.stop();
    }
  });

  it('one abort (Ctrl-C) ends the wait for workers at once; the run stops before the iteration', async () => {
    const name = queueName();
    const dispatcher = await openQueueDispatcher({ queue: redis.url, queueName: name, pollMs: 200 });
    const controller = new AbortController();
    try {
      // No worker: the proposals would wait forever.
      const result = await runNetAdapt(options(tmp(), { dispatcher, signal: controller.signal }), {
        proposalStatus: (s) => {
          if (s.queued > 0) controller.abort();
        },
      });
      expect(controller.signal.aborted).toBe(true);
      expect(result.rows).toHaveLength(0);
    } finally {
      await dispatcher.close();
    }
  });
});
