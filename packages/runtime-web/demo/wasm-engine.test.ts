/**
 * The wasm engine in headless Chromium (Debian's /usr/bin/chromium through playwright-core):
 * on the demo server's cross-origin-isolated page it runs the demo model at 1 and 2 threads
 * (Web Workers bundled by Vite from `new Worker(new URL(...))`, shared memory) and gives the
 * depth of the same weights in onnxruntime-node; on a page served without COOP/COEP it falls
 * back to one thread and says why.
 */
import { join } from 'node:path';
import { maxRelativeError } from '@fastdepth/graph-dsl';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDepthEstimator, type ModelSource } from '../src/index.js';
import { CHROMIUM, CHROMIUM_ARGS } from './chromium.js';
import { DEMO_MODEL_DIR } from './prepare.js';
import { startDemoServer, type DemoServer } from './server.js';

let server: DemoServer | undefined;
let browser: Browser | undefined;
let rgb: number[];
let expected: Float32Array;

interface RunResult {
  readonly depth: number[];
  readonly threads: number;
  readonly backend: string;
  readonly backendReason: string;
}

beforeAll(async () => {
  server = await startDemoServer({ quiet: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, '--disable-gpu'] });
  // A fixed smooth-plus-noise input, and its depth from the same weights in onnxruntime-node.
  const reference = await createDepthEstimator({
    model: { engine: 'onnx', model: join(DEMO_MODEL_DIR, `${server.info.name}.onnx`) },
  });
  const { width, height } = reference;
  let s = 5;
  rgb = Array.from({ length: width * height * 3 }, (_, i) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const p = Math.floor(i / 3);
    return 0.5 * ((p % width) / width) + 0.3 * (Math.floor(p / width) / height) + 0.2 * (s / 2 ** 32);
  });
  expected = (await reference.estimateRgb({ data: Float32Array.from(rgb), width, height })).depth;
  await reference.dispose();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function runInPage(query: string, threads: number): Promise<RunResult & { isolated: boolean }> {
  const page = await browser!.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  try {
    await page.goto(`${server!.url}bench.html${query}`);
    await page.waitForFunction(() => document.getElementById('state')?.textContent === 'ready');
    const model: ModelSource = {
      engine: 'wasm',
      model: { manifestUrl: `/model/wasm/${server!.info.name}.wasm-manifest.json` },
    };
    const result = await page.evaluate(
      (request) =>
        (globalThis as unknown as { fastdepthRun(r: typeof request): Promise<RunResult> }).fastdepthRun(
          request,
        ),
      { model, threads, rgb },
    );
    const isolated = await page.evaluate(() => globalThis.crossOriginIsolated);
    expect(errors).toEqual([]);
    return { ...result, isolated };
  } finally {
    await page.close();
  }
}

describe('wasm engine in headless Chromium', () => {
  it.each([1, 2])(
    'cross-origin isolated page, %i thread(s): the depth of onnxruntime-node',
    async (threads) => {
      const result = await runInPage('', threads);
      expect(result.isolated).toBe(true);
      expect([result.backend, result.threads]).toEqual(['wasm', threads]);
      expect(result.backendReason).toMatch(
        new RegExp(`; (relaxed|simd)${threads > 1 ? '-threads' : ''} build, ${threads} threads?`),
      );
      expect(maxRelativeError(Float32Array.from(result.depth), expected)).toBeLessThan(1e-4);
    },
  );

  it('page without cross-origin isolation: one thread, with the reason', async () => {
    const result = await runInPage('?isolation=off', 2);
    expect(result.isolated).toBe(false);
    expect(result.threads).toBe(1);
    expect(result.backendReason).toMatch(/1 thread, not 2: the page is not cross-origin isolated/);
    expect(maxRelativeError(Float32Array.from(result.depth), expected)).toBeLessThan(1e-4);
  });
});
