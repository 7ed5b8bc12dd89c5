/**
 * The device server's protocol from Node (no browser): registration, jobs, result validation.
 * A page is code on someone else's device, so every malformed answer must be refused and must
 * leave the job in hand for a good one.
 */
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servingGuard } from '@fastdepth/runtime-web/serving';
import { GraphBuilder } from '@fastdepth/graph-dsl';
import { LatencyTable, latencyLayers, SAMPLES_KEY } from '../table.js';
import { latencyPlan } from './plan.js';
import { deviceBackend, deviceMachine, parseRegister, type JobReply } from './protocol.js';
import {
  MAX_BODY_BYTES,
  PAGE_DIR,
  probeModel,
  startDeviceServer,
  TOKEN_HEADER,
  type DeviceServer,
} from './server.js';

function tinyGraph() {
  const g = new GraphBuilder('tiny');
  const x = g.input('input', [1, 8, 8, 8]);
  const c = g.relu6('c_act', g.batchNorm('c_bn', g.conv2d('c', x, { outChannels: 16, kernel: 1 })));
  g.output('out', c);
  return g.build();
}

const DEVICE = {
  device: 'node-fake-01',
  browser: 'Fake 1',
  os: 'Test OS',
  cores: 4,
  engine: 'tfjs',
  backend: 'wasm',
  threads: 2,
  isolated: true,
};

let server: DeviceServer;
/** Tokens the server gave at registration, by device id. */
const tokens = new Map<string, string>();
const post = async (
  path: string,
  body: unknown,
  token?: string,
  on: DeviceServer = server,
): Promise<{ status: number; json: Record<string, unknown> }> => {
  const device = (body as { device?: unknown }).device;
  const t = token ?? (typeof device === 'string' ? tokens.get(device) : undefined);
  const r = await fetch(new URL(path, on.url), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(t === undefined ? {} : { [TOKEN_HEADER]: t }) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const json = (await r.json()) as Record<string, unknown>;
  if (path === '/api/register' && r.ok) tokens.set(String(json.device), String(json.token));
  return { status: r.status, json };
};
const job = async (
  device: string,
  token = tokens.get(device),
  on: DeviceServer = server,
): Promise<Response> =>
  fetch(`${on.url}api/job?device=${device}`, {
    headers: token === undefined ? {} : { [TOKEN_HEADER]: token },
  });

beforeAll(async () => {
  server = await startDeviceServer({ tableDir: false, runs: 3, warmup: 1 });
});
afterAll(async () => {
  await server?.close();
});

describe('registration', () => {
  it('refuses malformed devices, naming the field', async () => {
    for (const [bad, field] of [
      [{ ...DEVICE, device: 'x' }, 'device'],
      [{ ...DEVICE, browser: 'a|b' }, 'browser'],
      [{ ...DEVICE, cores: 0 }, 'cores'],
      [{ ...DEVICE, threads: 1.5 }, 'threads'],
      [{ ...DEVICE, backend: 'tpu' }, 'backend'],
      [{ ...DEVICE, isolated: 'yes' }, 'isolated'],
    ] as const) {
      const r = await post('/api/register', bad);
      expect(r.status).toBe(400);
      expect(String(r.json.error)).toContain(`"${field}"`);
    }
    expect((await post('/api/register', 'not json')).json.error).toBe('body is not JSON');
    expect(server.devices.size).toBe(0);
  });

  it('keys the device table by browser, OS, cores, engine, backend and threads', () => {
    const info = parseRegister(DEVICE);
    expect(deviceMachine(info)).toBe('Fake 1|Test OS|4 cores');
    expect(deviceBackend(info)).toBe('web-tfjs-wasm-2t');
  });
});

describe('jobs and results', () => {
  it('hands out a job, refuses malformed results and keeps the job for a good one', async () => {
    expect((await post('/api/register', DEVICE)).status).toBe(200);
    const device = server.devices.get(DEVICE.device)!;
    const table = new LatencyTable(device.runner, { cacheFile: false, calibrate: false });
    const layer = latencyLayers(tinyGraph())[0]!;
    const measured = table.layerLatency(layer);
    const reply = (await (await job(DEVICE.device)).json()) as JobReply;
    expect(reply.state).toBe('job');
    if (reply.state !== 'job') return;
    const { job: layerJob } = reply;
    // The protocol times the reference probe first (then the batch in rounds, the probe between).
    expect(layerJob.label).toContain('latency_probe');
    expect(layerJob).toMatchObject({ engine: 'tfjs', inputShape: [1, 16, 28, 28], runs: 3, warmup: 1 });
    // The files are there: a module Vite serves (bare imports rewritten), the manifest and weights.
    const module = await (await fetch(new URL(layerJob.files.module!, server.url))).text();
    expect(module).toContain('export function predict');
    expect(module).not.toMatch(/from ['"]@tensorflow\/tfjs-core['"]/);
    const manifest = (await (await fetch(new URL(layerJob.files.manifest!, server.url))).json()) as {
      tensors: unknown[];
    };
    expect(manifest.tensors.length).toBeGreaterThan(0);
    const good = { device: DEVICE.device, job: layerJob.id, times: [1, 1, 1], backend: 'wasm', threads: 2 };
    for (const [bad, why] of [
      [{ ...good, job: layerJob.id + 1 }, 'not the job in hand'],
      [{ ...good, times: [1, 2] }, 'array of 3 numbers'],
      [{ ...good, times: [1, null, 3] }, '"times"[1]'],
      [{ ...good, times: [1, -2, 3] }, '"times"[1]'],
      [{ ...good, times: [1, 2, 1e9] }, '"times"[2]'],
      [{ ...good, times: [1, '2', 3] }, '"times"[1]'],
      [{ ...good, threads: 4 }, 'not the registered 2'],
      [{ ...good, backend: 'webgl' }, 'not the registered wasm'],
      [{ ...good, device: 'someone-else' }, 'not registered'],
      ['[1, 2, 3]', 'is not registered'],
    ] as const) {
      const r = await post('/api/result', bad);
      expect(r.status, JSON.stringify(bad)).toBe(400);
      expect(String(r.json.error)).toContain(why);
    }
    expect(device.current?.job.id).toBe(layerJob.id);
    expect((await post('/api/result', good)).status).toBe(200);
    // Then every job until the layer is in the table: the probe (1 ms), the layer (median 2 ms)
    // and the identity network its per-call overhead comes from (0.5 ms).
    const labels = new Set<string>();
    let done = false;
    void measured.then(() => (done = true));
    while (!done) {
      const next = (await (await job(DEVICE.device)).json()) as JobReply;
      if (next.state !== 'job') continue;
      labels.add(next.job.label.split(' ')[0]!);
      const times = next.job.label.includes('lut_identity')
        ? [0.5, 0.5, 0.5]
        : next.job.label.includes('latency_probe')
          ? [1, 1, 1]
          : [1, 2, 3];
      expect((await post('/api/result', { ...good, job: next.job.id, times })).status).toBe(200);
      await new Promise((r) => setTimeout(r, 5));
    }
    expect([...labels].sort()).toEqual(['latency_probe', 'lut_conv2d', 'lut_identity']);
    expect(await measured).toBeCloseTo(2 - 0.5, 9);
    expect(table.has(layer, 8, 16)).toBe(true);
  });

  it('the model a result must answer is the one in hand after a page reload (same job re-sent)', async () => {
    const device = server.devices.get(DEVICE.device)!;
    const pending = device.measure(probeModel(tinyGraph()));
    const first = (await (await job(DEVICE.device)).json()) as JobReply;
    const again = (await (await job(DEVICE.device)).json()) as JobReply;
    expect(first.state === 'job' && again.state === 'job' && first.job.id === again.job.id).toBe(true);
    if (again.state !== 'job') return;
    const r = await post('/api/result', {
      device: DEVICE.device,
      job: again.job.id,
      times: [3, 1, 2],
      backend: 'wasm',
      threads: 2,
    });
    expect(r.status).toBe(200);
    expect(await pending).toBe(2);
  });
});

describe('latencyPlan', () => {
  it('grid points from a fraction of each width up to the point at or above it', () => {
    const plan = latencyPlan(tinyGraph(), 4, 0.5);
    // conv 8 -> 16: cin 4, 8 x cout 8, 12, 16
    expect(plan.map((p) => `${p.cin}x${p.cout}`)).toEqual(['4x8', '4x12', '4x16', '8x8', '8x12', '8x16']);
    expect(() => latencyPlan(tinyGraph(), 4, 0)).toThrow(/minFraction/);
  });
});

/** GET `path` exactly as written, no URL normalisation. */
const rawGet = (base: string, path: string): Promise<{ status: number; body: string }> =>
  new Promise((resolve, reject) => {
    const { hostname, port } = new URL(base);
    const req = request({ host: hostname, port, path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });

describe('serving only the page and the API', () => {
  const repo = realpathSync(join(PAGE_DIR, '..', '..', '..'));

  it('listens on 127.0.0.1 unless told otherwise', () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const address = server.vite!.httpServer!.address();
    expect(typeof address === 'object' && address?.address).toBe('127.0.0.1');
  });

  it('serves the page and the files it loads', async () => {
    const page = await fetch(server.url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('FastDepth latency device');
    expect((await fetch(new URL(`/@fs${realpathSync(PAGE_DIR)}/page.ts`, server.url))).status).toBe(200);
  });

  it('refuses every file of the checkout and the machine, whatever the query', async () => {
    for (const file of [
      `${repo}/package-lock.json`,
      `${repo}/packages/latency/src/browser/server.ts`,
      '/etc/passwd',
    ])
      for (const query of ['', '?raw', '?import', '?raw??', '?import&raw', '?url', '?inline', '?worker'])
        for (const prefix of ['/@fs', '/@id/']) {
          const url = new URL(`${prefix}${file}${query}`, server.url);
          const r = await fetch(url);
          expect(r.status, url.pathname + url.search).toBe(403);
          expect(await r.text()).not.toContain('lockfileVersion');
        }
    // Sent as written (fetch would resolve the dots first).
    for (const path of [
      '/%2e%2e/%2e%2e/%2e%2e/package-lock.json',
      '/..%2f..%2f..%2fpackage-lock.json',
      '/../../../package-lock.json?raw',
      `/@fs${realpathSync(PAGE_DIR)}/../../../package-lock.json`,
    ]) {
      const r = await rawGet(server.url, path);
      expect(r.status, path).toBe(403);
      expect(r.body).not.toContain('lockfileVersion');
    }
  });

  it('refuses a file placed in the tables folder, even one inside the allowed folders', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fastdepth-out-'));
    const other = await startDeviceServer({ tableDir: dir });
    try {
      writeFileSync(join(dir, 'secret.json'), '{"secret": 1}');
      for (const query of ['', '?raw', '?import'])
        expect((await fetch(new URL(`/@fs${realpathSync(dir)}/secret.json${query}`, other.url))).status).toBe(
          403,
        );
    } finally {
      await other.close();
      rmSync(dir, { recursive: true, force: true });
    }
    // A tables folder inside an allowed one stays refused (the guard's own rule).
    const guard = servingGuard({ allow: ['/srv/page'], deny: ['/srv/page/out'] });
    const ask = (url: string): number => {
      let status = 0;
      const res = {
        statusCode: 200,
        setHeader: () => undefined,
        end: () => (status = res.statusCode),
      };
      guard({ url } as unknown as IncomingMessage, res as unknown as ServerResponse, () => (status = 200));
      return status;
    };
    expect(ask('/@fs/srv/page/out/dev.json?raw')).toBe(403);
    expect(ask('/@fs/srv/page/index.html')).toBe(200);
    expect(ask('/@fs/srv/pages/index.html')).toBe(403);
  });
});

describe('device tokens', () => {
  const OTHER = { ...DEVICE, device: 'node-fake-02' };

  it('gives each device a secret token that its job requests and results must carry', async () => {
    const r = await post('/api/register', OTHER);
    expect(r.status).toBe(200);
    expect(r.json.token).toMatch(/^[0-9a-f]{48}$/);
    expect(r.json.token).not.toBe(tokens.get(DEVICE.device));
    const mine = tokens.get(OTHER.device)!;
    const theirs = tokens.get(DEVICE.device)!;
    // A near miss: the last digit changed (to one it is not, so the token really differs).
    const nearMiss = `${mine.slice(0, -1)}${mine.endsWith('0') ? '1' : '0'}`;
    for (const token of [undefined, '', theirs, nearMiss]) {
      const asked = await fetch(`${server.url}api/job?device=${OTHER.device}`, {
        headers: token === undefined ? {} : { [TOKEN_HEADER]: token },
      });
      expect(asked.status, String(token)).toBe(403);
    }
    const device = server.devices.get(OTHER.device)!;
    const pending = device.measure(probeModel(tinyGraph()));
    const reply = (await (await job(OTHER.device)).json()) as JobReply;
    if (reply.state !== 'job') throw new Error('no job');
    const result = { device: OTHER.device, job: reply.job.id, times: [1, 1, 1], backend: 'wasm', threads: 2 };
    expect((await post('/api/result', result, theirs)).status).toBe(403);
    expect((await post('/api/result', result, 'x')).status).toBe(403);
    expect(device.current?.job.id).toBe(reply.job.id);
    // Registering the same id again does not take the device over without its token.
    const again = await fetch(new URL('/api/register', server.url), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(OTHER),
    });
    expect(again.status).toBe(403);
    expect((await post('/api/register', OTHER, mine)).json.token).toBe(mine);
    expect((await post('/api/result', result, mine)).status).toBe(200);
    expect(await pending).toBe(1);
  });

  it('status tells counts, never device ids', async () => {
    const text = await (await fetch(new URL('/api/status', server.url))).text();
    expect(JSON.parse(text)).toEqual({ devices: 2, done: 0 });
    expect(text).not.toContain('node-fake');
  });
});

describe('caps', () => {
  it('refuses a device past the cap and a body over the size limit', async () => {
    const capped = await startDeviceServer({ tableDir: false, maxDevices: 2 });
    try {
      for (const id of ['cap-dev-1', 'cap-dev-2'])
        expect((await post('/api/register', { ...DEVICE, device: id }, undefined, capped)).status).toBe(200);
      const third = await post('/api/register', { ...DEVICE, device: 'cap-dev-3' }, undefined, capped);
      expect(third.status).toBe(503);
      expect(third.json.error).toContain('at most 2 devices');
      expect(capped.devices.size).toBe(2);
      const big = await post(
        '/api/register',
        { ...DEVICE, device: 'cap-dev-4', pad: 'x'.repeat(20_000) },
        undefined,
        capped,
      );
      expect(big.status).toBe(413);
      expect(big.json.error).toBe(`body over ${MAX_BODY_BYTES / 1024} KiB`);
    } finally {
      await capped.close();
    }
  });
});

describe('results are saved before they are answered', () => {
  const planned = async (dir: string): Promise<DeviceServer> =>
    startDeviceServer({
      tableDir: dir,
      runs: 3,
      warmup: 1,
      table: { step: 8, calibrate: false },
      plan: latencyPlan(tinyGraph(), 8, 1),
    });

  it('answers ok once the table file holds the result', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fastdepth-tables-'));
    const planServer = await planned(dir);
    try {
      expect((await post('/api/register', DEVICE, undefined, planServer)).status).toBe(200);
      const token = tokens.get(DEVICE.device)!;
      const reply = (await (await job(DEVICE.device, token, planServer)).json()) as JobReply;
      if (reply.state !== 'job') throw new Error('no job');
      const result = {
        device: DEVICE.device,
        job: reply.job.id,
        times: [0.25, 0.25, 0.25],
        backend: 'wasm',
        threads: 2,
      };
      expect((await post('/api/result', result, token, planServer)).status).toBe(200);
      const saved = JSON.parse(readFileSync(join(dir, `${DEVICE.device}.json`), 'utf8')) as Record<
        string,
        unknown
      >;
      // The first timing of the batch (the reference probe's), kept as it came.
      expect(saved[SAMPLES_KEY]).toEqual({ probe: [0.25] });
    } finally {
      await planServer.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a result that cannot be saved is answered with the error, never ok', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fastdepth-tables-'));
    const planServer = await planned(dir);
    const rejected: string[] = [];
    try {
      expect((await post('/api/register', DEVICE, undefined, planServer)).status).toBe(200);
      const token = tokens.get(DEVICE.device)!;
      const reply = (await (await job(DEVICE.device, token, planServer)).json()) as JobReply;
      if (reply.state !== 'job') throw new Error('no job');
      // The folder goes away under the server (a disk unmounted, a file put in its place).
      rmSync(dir, { recursive: true, force: true });
      writeFileSync(dir, 'in the way');
      const result = {
        device: DEVICE.device,
        job: reply.job.id,
        times: [0.25, 0.25, 0.25],
        backend: 'wasm',
        threads: 2,
      };
      const r = await post('/api/result', result, token, planServer);
      expect(r.status).toBe(500);
      expect(String(r.json.error)).toMatch(/^result not saved: /);
    } finally {
      // Closing still stops serving, and says which tables it could not save.
      await planServer.close().catch((e: unknown) => rejected.push((e as Error).message));
      rmSync(dir, { force: true });
    }
    expect(rejected).toEqual([expect.stringContaining(`tables not saved: ${DEVICE.device}: `)]);
    await expect(fetch(planServer.url)).rejects.toThrow();
  });

  it('a tables folder that cannot be written is refused before serving', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'fastdepth-tables-')), 'file');
    writeFileSync(file, '');
    await expect(startDeviceServer({ tableDir: join(file, 'tables') })).rejects.toThrow(
      `cannot write device tables to "${join(file, 'tables')}"`,
    );
  });
});
