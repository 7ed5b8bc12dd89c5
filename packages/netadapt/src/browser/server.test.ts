/**
 * The device server's protocol from Node (no browser): registration, jobs, result validation.
 * A page is code on someone else's device, so every malformed answer must be refused and must
 * leave the job in hand for a good one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '@fastdepth/graph-dsl';
import { LatencyTable, latencyLayers } from '../latency.js';
import { latencyPlan } from './plan.js';
import { deviceBackend, deviceMachine, parseRegister, type JobReply } from './protocol.js';
import { probeModel, startDeviceServer, type DeviceServer } from './server.js';

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
const post = async (
  path: string,
  body: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> => {
  const r = await fetch(new URL(path, server.url), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
};

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
    const reply = (await (await fetch(`${server.url}api/job?device=${DEVICE.device}`)).json()) as JobReply;
    expect(reply.state).toBe('job');
    if (reply.state !== 'job') return;
    const { job } = reply;
    expect(job).toMatchObject({ engine: 'tfjs', inputShape: [1, 8, 8, 8], runs: 3, warmup: 1 });
    // The files are there: a module Vite serves (bare imports rewritten), the manifest and weights.
    const module = await (await fetch(new URL(job.files.module!, server.url))).text();
    expect(module).toContain('export function predict');
    expect(module).not.toMatch(/from ['"]@tensorflow\/tfjs-core['"]/);
    const manifest = (await (await fetch(new URL(job.files.manifest!, server.url))).json()) as {
      tensors: unknown[];
    };
    expect(manifest.tensors.length).toBeGreaterThan(0);
    const good = { device: DEVICE.device, job: job.id, times: [1, 2, 3], backend: 'wasm', threads: 2 };
    for (const [bad, why] of [
      [{ ...good, job: job.id + 1 }, 'not the job in hand'],
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
    expect(device.current?.job.id).toBe(job.id);
    // The identity probe (per-call overhead) comes next, then the layer is in the table.
    expect((await post('/api/result', good)).status).toBe(200);
    const next = (await (await fetch(`${server.url}api/job?device=${DEVICE.device}`)).json()) as JobReply;
    expect(next.state).toBe('job');
    if (next.state !== 'job') return;
    expect(next.job.label).toContain('lut_identity');
    expect((await post('/api/result', { ...good, job: next.job.id, times: [0.5, 0.5, 0.5] })).status).toBe(
      200,
    );
    expect(await measured).toBeCloseTo(2 - 0.5, 9);
    expect(table.has(layer, 8, 16)).toBe(true);
  });

  it('the model a result must answer is the one in hand after a page reload (same job re-sent)', async () => {
    const device = server.devices.get(DEVICE.device)!;
    const pending = device.measure(probeModel(tinyGraph()));
    const first = (await (await fetch(`${server.url}api/job?device=${DEVICE.device}`)).json()) as JobReply;
    const again = (await (await fetch(`${server.url}api/job?device=${DEVICE.device}`)).json()) as JobReply;
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
