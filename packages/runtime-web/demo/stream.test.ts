/**
 * Live depth from a camera, end to end: headless Chromium with a fake webcam (a `.y4m` made
 * here from the shared photos), the demo page streaming it (`estimator.stream`) on each
 * engine in a worker. Asserted: frames are delivered, dropped frames are counted (every frame
 * the camera presented is delivered, dropped, or in flight (one or two, and the next); with `maxFps` far
 * below the camera's rate, some were dropped), the estimator runs
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
  ['tfjs', 'wasm', 1, '1', Infinity, 1],
  // The package's own worker (`startOnnxDepthWorker()`), not the demo's.
  ['onnx', 'wasm', 1, 'builtin', Infinity, 1],
  ['wasm', 'wasm', 2, '1', Infinity, 1],
  // Two frames in flight: the worker's next frame waits in its mailbox.
  ['wasm', 'wasm', 2, '1', Infinity, 2],
  // Capped far below the camera's 30 frames/s, so frames are dropped whatever the machine's speed.
  ['wasm', 'wasm', 1, '1', 5, 1],
])(
  'camera, %s on %s x%i, worker %s, maxFps %d, %i in flight',
  (engine, backend, threads, worker, maxFps, inFlight) => {
    it('delivers depth for camera frames, counts the dropped ones, never estimates on the page', async () => {
      const page = await browser!.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      page.on('response', (response) => {
        if (response.status() >= 400) errors.push(`HTTP ${response.status()} ${response.url()}`);
      });
      await page.addInitScript({ content: RECORD_FRAME_GAPS });
      await page.goto(
        `${server!.url}?engine=${engine}&backend=${backend}&threads=${threads}&worker=${worker}&camera=1&inFlight=${inFlight}` +
          (Number.isFinite(maxFps) ? `&maxFps=${maxFps}` : ''),
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
      // Every frame presented is delivered, dropped, or in flight / next (at most inFlight + 1).
      const unaccounted = reading.frames - reading.delivered - reading.dropped;
      expect(unaccounted).toBeGreaterThanOrEqual(0);
      expect(unaccounted).toBeLessThanOrEqual(inFlight + 1);
      // Whether an uncapped engine keeps up with the camera depends on the machine; capped at 5
      // estimates a second against 30 camera frames, frames must have been dropped, and counted.
      if (Number.isFinite(maxFps)) expect(reading.dropped).toBeGreaterThan(0);
      expect(reading.pageModelFetches).toEqual([]);
      // The page kept rendering while the worker estimated: animation frames kept coming.
      expect(reading.gaps).toBeGreaterThan(reading.delivered - first.delivered);
      expect(legend.every((t) => t !== undefined && /^\d+\.\d\d m$/.test(t))).toBe(true);
    });
  },
);

describe('a worker-backed estimator on the page', () => {
  it.each([
    ['tfjs', 1],
    ['wasm', 1],
    ['wasm', 2],
  ] as const)(
    '%s x%i: the same depth as on the page thread; frames transferred or copied; errors keep their code',
    async (engine, threads) => {
      const page = await browser!.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      await page.goto(`${server!.url}?engine=wasm&threads=1`);
      await page.waitForFunction(() => document.body.dataset.estimates === '1', undefined, {
        timeout: 120_000,
      });
      const report = await page.evaluate(
        async ([e, n]) => {
          interface Est {
            inWorker: boolean;
            threads: number;
            estimate(image: unknown, options?: unknown): Promise<{ depth: Float32Array }>;
            estimateRgb(rgb: unknown): Promise<unknown>;
            dispose(): Promise<void>;
          }
          const demo = (
            globalThis as unknown as {
              demo: { create(engine: string, threads: number, worker: boolean): Promise<Est> };
            }
          ).demo;
          const [inWorker, onPage] = [await demo.create(e, n, true), await demo.create(e, n, false)];
          const width = 320;
          const height = 240;
          const data = new Uint8ClampedArray(width * height * 4);
          for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
          const pixels = { data, width, height };
          const a = await inWorker.estimate(pixels);
          const b = await onPage.estimate(pixels);
          let maxDiff = 0;
          for (let i = 0; i < a.depth.length; i++)
            maxDiff = Math.max(maxDiff, Math.abs(a.depth[i]! - b.depth[i]!));
          const bitmap = await createImageBitmap(new ImageData(data, width, height));
          await inWorker.estimate(bitmap); // copied: still ours
          const keptWidth = bitmap.width;
          await inWorker.estimate(bitmap, { transfer: true }); // handed over
          const codeOf = (p: Promise<unknown>): Promise<string> =>
            p.then(
              () => 'resolved',
              (error: unknown) => (error as { code?: string }).code ?? 'none',
            );
          const badRgb = await codeOf(
            inWorker.estimateRgb({ data: new Float32Array(3), width: 1, height: 1 }),
          );
          const badImage = await codeOf(inWorker.estimate({ data: new Uint8Array(3), width: 2, height: 2 }));
          await inWorker.dispose();
          const disposed = await codeOf(inWorker.estimate(pixels));
          await onPage.dispose();
          return {
            flags: [inWorker.inWorker, onPage.inWorker],
            threads: [inWorker.threads, onPage.threads],
            dataKept: data.length,
            same: a.depth.length === b.depth.length && a.depth.length > 0,
            maxDiff,
            keptWidth,
            transferredWidth: bitmap.width,
            badRgb,
            badImage,
            disposed,
          };
        },
        [engine, threads] as const,
      );
      await page.close();
      expect(errors).toEqual([]);
      expect(report.flags).toEqual([true, false]);
      expect(report.threads).toEqual([threads, threads]);
      expect(report.same).toBe(true);
      // The same runtime on the same input: the same depth (tfjs: the same backend in a worker).
      expect(report.maxDiff).toBeLessThanOrEqual(engine === 'tfjs' ? 1e-4 : 0);
      expect(report.dataKept).toBe(320 * 240 * 4); // a pixel buffer is copied, never detached
      expect(report.keptWidth).toBe(320);
      expect(report.transferredWidth).toBe(0); // transferred: detached on the page
      expect([report.badRgb, report.badImage, report.disposed]).toEqual([
        'BAD_INPUT',
        'BAD_IMAGE',
        'DISPOSED',
      ]);
    },
  );
});
