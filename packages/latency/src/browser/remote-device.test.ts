/**
 * The device server with a headless Chromium tab as the remote device, as a phone would use
 * it: the page registers (its id kept in localStorage), measures the plan with a progress bar,
 * is closed mid-way, and when the page is opened again the same device continues: nothing
 * measured is lost or measured twice, and the table file ends with the plan, the calibration
 * and the network timed whole. A second device measures at the same time into its own table.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { GraphBuilder } from '@fastdepth/graph-dsl';
import { CHROMIUM, CHROMIUM_ARGS } from '@fastdepth/runtime-web/serving';
import { PROVENANCE_KEY, wholeNetworkKey, type TableProvenance } from '../table.js';
import { latencyPlan } from './plan.js';
import { startDeviceServer, type DeviceEvent, type DeviceServer } from './server.js';

const dir = mkdtempSync(join(tmpdir(), 'fastdepth-devices-'));
let server: DeviceServer | undefined;
let browser: Browser | undefined;

afterAll(async () => {
  await browser?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

function net() {
  const g = new GraphBuilder('remote');
  const x = g.input('input', [1, 8, 16, 16]);
  const y = g.relu6('a', g.batchNorm('b', g.conv2d('c', x, { outChannels: 16, kernel: 3, pads: 1 })));
  g.output('out', y);
  return g.build();
}

/** A table file's entries (its provenance and samples in progress left out). */
const readTable = (file: string): Record<string, number> =>
  Object.fromEntries(
    Object.entries(JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>).filter(
      (e): e is [string, number] => !e[0].startsWith('#'),
    ),
  );

it('register, measure, close mid-way, return and finish; every result kept once', async () => {
  const graph = net();
  const plan = latencyPlan(graph, 4, 0.5); // cin 4, 8 x cout 8, 12, 16: 6 points
  expect(plan).toHaveLength(6);
  const events: DeviceEvent[] = [];
  let onEvent: (e: DeviceEvent) => void = () => undefined;
  server = await startDeviceServer({
    tableDir: dir,
    runs: 2,
    warmup: 1,
    // Three rounds, no extra ones: the protocol's code path, at the least cost on a busy machine.
    table: { step: 4, protocol: { rounds: 3, extraRounds: 0 } },
    plan,
    wholes: [graph],
    onEvent: (e) => {
      events.push(e);
      onEvent(e);
    },
  });
  const until = (test: (e: DeviceEvent) => boolean): Promise<DeviceEvent> =>
    new Promise((resolve) => {
      onEvent = (e) => {
        if (test(e)) resolve(e);
      };
    });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, '--disable-gpu'] });
  const context = await browser.newContext();
  const url = `${server.url}?threads=2`;

  const page = await context.newPage();
  const twoMeasured = until((e) => e.kind === 'measured' && (e.progress?.done ?? 0) >= 2);
  await page.goto(url);
  await twoMeasured;
  const progress = await page.locator('#count').textContent();
  expect(progress).toMatch(/^\d+ \/ 8$/); // 6 points + calibration + the whole network
  await page.close();

  const [id] = [...server.devices.keys()];
  expect(id).toMatch(/^[0-9a-f]{12}-tfjs-wasm-2t$/);
  const file = join(dir, `${id!}.json`);
  const before = readTable(file);
  const layerKeys = Object.keys(before).filter((k) => /\|conv2d:/.test(k) && !k.includes('overhead:'));
  expect(layerKeys.length).toBeGreaterThanOrEqual(2);
  expect(Object.keys(before)[0]).toMatch(
    /^v3\|Chromium \d+ headless\|Linux \S+\|2 cores\|web-tfjs-wasm-2t\|/,
  );

  // The same browser profile (localStorage) opens the page again: the same device continues,
  // while a second device (another profile, one thread) measures into its own table at once.
  const doneDevices = new Set<string>();
  const bothDone = until((e) => {
    if (e.kind === 'done') doneDevices.add(e.device);
    return doneDevices.size === 2;
  });
  const again = await context.newPage();
  await again.goto(url);
  const other = await (await browser.newContext()).newPage();
  await other.goto(`${server.url}?threads=1`);
  await bothDone;
  await again.waitForFunction(() => document.getElementById('state')?.textContent?.startsWith('done'));
  const registered = events.filter((e) => e.kind === 'registered').map((e) => e.device);
  expect(registered).toHaveLength(2);
  expect(registered[1]).toMatch(/^[0-9a-f]{12}-tfjs-wasm-1t$/);
  expect(events.filter((e) => e.kind === 'returned').map((e) => e.device)).toEqual([id]);
  expect(readdirSync(dir).sort()).toEqual([`${id!}.json`, `${registered[1]!}.json`].sort());
  expect(Object.keys(readTable(join(dir, `${registered[1]!}.json`)))[0]).toContain('|web-tfjs-wasm-1t|');
  const after = readTable(file);
  // Nothing measured before the close was measured again (same values), everything is there.
  for (const k of layerKeys) expect(after[k]).toBe(before[k]);
  // The plan's layer (the calibration network's layers are in the table too).
  const points = Object.keys(after).filter((k) => /\|conv2d:g1:k3x3:s1x1:p1,1,1,1:d1x1:in1x16x16:/.test(k));
  expect(points.map((k) => k.split('|').at(-1)).sort()).toEqual([
    '4x12',
    '4x16',
    '4x8',
    '8x12',
    '8x16',
    '8x8',
  ]);
  const key = (name: string) => Object.keys(after).find((k) => k.includes(`|${name}|`));
  expect(key('calibration:separable-chain')).toBeDefined();
  expect(after[key(`meta:${wholeNetworkKey(graph)}`)!]).toBeGreaterThan(0);
  expect(after[key('meta:step')!]).toBe(4);
  for (const v of Object.values(after)) expect(Number.isFinite(v)).toBe(true);
  // How it was measured: the protocol, its rounds and the reference probe, per device.
  const provenance = (
    JSON.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, TableProvenance>>
  )[PROVENANCE_KEY]!;
  expect(Object.values(provenance)[0]).toMatchObject({ protocol: 'rounds+probe/1', rounds: 3 });
});
