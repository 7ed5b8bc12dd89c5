/**
 * Live depth from a camera, end to end: headless Chromium with a fake webcam (a `.y4m` made
 * here from the shared photos), the demo page streaming it (`estimator.stream`) on each
 * engine in a worker. Asserted: frames are delivered, dropped frames are counted (every frame
 * the camera presented is delivered, dropped, or the one or two in flight), the estimator runs
 * in a worker and the page's own thread fetched no model or wasm file (so it cannot have run
 * the network). The longest rendering gap is a timing on a shared machine: it is printed (and
 * the bench, bench/stream.ts, reports it), not asserted.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TMP_DIR } from '../src/testing/models.js';
import { fakeCameraArgs, readCamera, RECORD_FRAME_GAPS } from './camera-page.js';
import { CHROMIUM, CHROMIUM_ARGS } from './chromium.js';
import { PHOTOS_DIR, writeFakeCamera } from './fake-camera.js';
import { startDemoServer, type DemoServer } from './server.js';

const DIR = join(TMP_DIR, `stream-test-${process.pid}`);
let server: DemoServer | undefined;
let browser: Browser | undefined;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium`);
  if (!existsSync(PHOTOS_DIR))
    throw new Error(`${PHOTOS_DIR} is missing: the shared photos make the fake camera`);
  mkdirSync(DIR, { recursive: true });
  const y4m = join(DIR, 'camera.y4m');
  await writeFakeCamera(y4m, 2);
  server = await startDemoServer({ quiet: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [...CHROMIUM_ARGS, '--disable-gpu', ...fakeCameraArgs(y4m)],
  });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  rmSync(DIR, { recursive: true, force: true });
});

describe.each([
  ['tfjs', 'wasm', 1, '1'],
  // The package's own worker (`worker: true`), not the demo's.
  ['onnx', 'wasm', 1, 'builtin'],
  ['wasm', 'wasm', 2, '1'],
])('camera stream, %s on %s, %i thread(s), worker %s', (engine, backend, threads, worker) => {
  it('delivers depth for camera frames, counts the dropped ones, never estimates on the page', async () => {
    const page = await browser!.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('response', (response) => {
      if (response.status() >= 400) errors.push(`HTTP ${response.status()} ${response.url()}`);
    });
    await page.addInitScript({ content: RECORD_FRAME_GAPS });
    await page.goto(
      `${server!.url}?engine=${engine}&backend=${backend}&threads=${threads}&worker=${worker}&camera=1`,
    );
    await page.waitForFunction(
      () =>
        ((globalThis as { demo?: { stream?: { stats: { delivered: number } } } }).demo?.stream?.stats
          .delivered ?? 0) >= 2,
      undefined,
      { timeout: 120_000, polling: 200 },
    );
    const since = await page.evaluate(() => (globalThis as { frameGaps?: number[] }).frameGaps!.length);
    const first = await readCamera(page, since);
    await page.waitForFunction(
      (n) =>
        (globalThis as { demo?: { stream?: { stats: { delivered: number } } } }).demo!.stream!.stats
          .delivered >= n,
      first.delivered + 8,
      { timeout: 120_000, polling: 200 },
    );
    const reading = await readCamera(page, since);
    const legend = await page.evaluate(() => [
      document.getElementById('legend-min')?.textContent,
      document.getElementById('legend-max')?.textContent,
    ]);
    await page.close();
    console.log(
      `${engine}/${backend} x${threads}: ${reading.delivered} delivered, ${reading.dropped} dropped of ${reading.frames} frames; ` +
        `${reading.fps.toFixed(1)} depth/s, camera ${reading.sourceFps.toFixed(1)} frames/s, latency ${reading.latencyMedianMs.toFixed(0)} ms (median); ` +
        `longest rendering gap ${reading.longestGapMs.toFixed(0)} ms over ${reading.gaps} frames`,
    );
    expect(errors).toEqual([]);
    expect([reading.engine, reading.backend, reading.inWorker]).toEqual([engine, backend, true]);
    expect(reading.threads).toBe(threads);
    expect(reading.delivered).toBeGreaterThanOrEqual(first.delivered + 8);
    // Every frame presented is delivered, dropped, or in flight / next (at most two).
    const unaccounted = reading.frames - reading.delivered - reading.dropped;
    expect(unaccounted).toBeGreaterThanOrEqual(0);
    expect(unaccounted).toBeLessThanOrEqual(2);
    // The camera runs at 30 frames/s, faster than any engine here: frames were dropped, and counted.
    expect(reading.dropped).toBeGreaterThan(0);
    expect(reading.pageModelFetches).toEqual([]);
    // The page kept rendering while the worker estimated: animation frames kept coming.
    expect(reading.gaps).toBeGreaterThan(reading.delivered - first.delivered);
    expect(legend.every((t) => t !== undefined && /^\d+\.\d\d m$/.test(t))).toBe(true);
  });
});
