/**
 * End to end: the demo page in headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core) loads the model, estimates depth for a real photograph picked through the
 * file input, and shows a non-blank depth map with its latency (after the sample photo it opens
 * with), every engine in the demo's worker. A screenshot goes to
 * `tmp/screenshots/` for a person to look at.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TMP_DIR } from '../src/testing/models.js';
import { CHROMIUM, CHROMIUM_ARGS } from './chromium.js';
import { startDemoServer, type DemoServer } from './server.js';

const IMAGES = fileURLToPath(new URL('../../../../shared/data/images/', import.meta.url));
const SCREENSHOTS = join(TMP_DIR, 'screenshots');

let server: DemoServer | undefined;
let browser: Browser | undefined;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run the browser end-to-end test`,
    );
  }
  server = await startDemoServer({ quiet: true });
  // launch() gives the browser a fresh temporary profile of its own.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [...CHROMIUM_ARGS, '--disable-gpu'],
  });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe.each([
  ['tfjs', 'wasm', 2],
  ['onnx', 'wasm', 1],
  ['wasm', 'wasm', 2],
  // The int8 build of the paper's int8 model (the demo's trained model has one).
  ['wasm-int8', 'wasm', 2],
])('demo page, %s on %s, %i thread(s)', (engine, backend, threads) => {
  it('shows a depth map and its latency for a photograph, then for the next one', async () => {
    const page = await browser!.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    // Every request answered (no favicon 404 or missing wasm file).
    page.on('response', (response) => {
      if (response.status() >= 400) errors.push(`HTTP ${response.status()} ${response.url()}`);
    });
    await page.goto(`${server!.url}?engine=${engine}&backend=${backend}&threads=${threads}`);
    await page.waitForFunction(
      () => document.getElementById('status')?.textContent?.startsWith('Ready') === true,
      undefined,
      { timeout: 60_000 },
    );
    expect(await page.evaluate(() => globalThis.crossOriginIsolated)).toBe(true);
    // The page opens on the sample photo, already estimated.
    await page.waitForFunction(() => document.body.dataset.estimates === '1', undefined, { timeout: 60_000 });

    for (const [n, image] of [
      [2, 'SUN_color.jpg'],
      [3, 'esanet_rgb.png'],
    ] as const) {
      await page.setInputFiles('#file', join(IMAGES, image));
      await page.waitForFunction((count) => document.body.dataset.estimates === String(count), n, {
        timeout: 60_000,
      });
    }
    const stats = await page.evaluate(() => {
      const canvas = document.getElementById('depth-canvas') as HTMLCanvasElement;
      const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
      let sum = 0;
      let sum2 = 0;
      let count = 0;
      for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3] === 0) continue;
        const v = data[i]! + data[i + 1]! + data[i + 2]!;
        sum += v;
        sum2 += v * v;
        count++;
      }
      return {
        count,
        variance: count === 0 ? 0 : sum2 / count - (sum / count) ** 2,
        latency: Number(document.getElementById('stat-latency')?.dataset.ms),
        backend: document.getElementById('stat-backend')?.textContent,
        engine: document.getElementById('stat-engine')?.dataset.engine,
        inWorker: (globalThis as { demo?: { estimator?: { inWorker: boolean } } }).demo?.estimator?.inWorker,
        reason: document.getElementById('stat-reason')?.textContent,
        status: document.getElementById('status')?.textContent,
        cores: navigator.hardwareConcurrency,
      };
    });
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, `demo-${engine}-${backend}.png`), fullPage: true });
    await page.close();
    expect(errors).toEqual([]);
    expect(stats.status).not.toMatch(/error/i);
    // The threads asked for really run (tfjs-wasm alone would halve them on a 2-core machine).
    const expected = Math.min(threads, stats.cores);
    expect([stats.engine, stats.backend]).toEqual([
      engine === 'wasm-int8' ? 'wasm' : engine,
      expected > 1 ? `${backend} × ${expected} threads` : backend,
    ]);
    // The wasm engine adds its build and thread count after the same start.
    expect(stats.reason).toMatch(new RegExp(`^${backend}: requested($|; )`));
    expect(stats.inWorker).toBe(true);
    // The int8 choice runs the int8 build, the plain wasm one the float32 build.
    if (engine === 'wasm-int8') expect(stats.reason).toMatch(/; int8 /);
    if (engine === 'wasm') expect(stats.reason).not.toMatch(/int8/);
    expect(stats.count).toBeGreaterThan(1000);
    expect(stats.variance).toBeGreaterThan(0);
    expect(stats.latency).toBeGreaterThan(0);
  });
});
