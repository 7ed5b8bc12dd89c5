/**
 * The README's app config, as a new app uses it: `example-app/` (its vite.config.js with the
 * `@fastdepth/runtime-web/vite` plugin, one page per engine) copied into a folder with a model
 * as `compile --for-web --weights-dtype int8` writes it, then for each engine the Vite dev
 * server and `vite build` + `vite preview`, opened in one headless Chromium: every page gives
 * plausible depth, the same for dev and build, with no failed request and no page error, on the
 * 2 threads asked; on a page without COOP/COEP every engine runs 1 thread and says why. Also the
 * sizes the issue sets (deterministic, not timings): the `vite build` dist of a tfjs or
 * wasm-engine app <= 4 MB with no onnxruntime-web in it, and the bytes a wasm-engine page
 * fetches <= 2.0 MB with int8 weights.
 *
 * Vite runs as a child process, as `npx vite` would, on runtime-web's dist/ (built first).
 */
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, CHROMIUM_ARGS, freePort } from '../src/serving.js';
import { TMP_DIR } from '../src/testing/models.js';
import {
  buildApp,
  folderFiles,
  openPage as open,
  PAGES,
  prepareApp,
  startVite as start,
  stopVite as stop,
  type Engine,
  type Report,
} from './example-app-harness.js';

const APP = join(TMP_DIR, 'example-app-test');
const MB = 1e6;
const MINUTES = 60_000;

let browser: Browser;
const devDepth: Partial<Record<Engine, number[]>> = {};

beforeAll(async () => {
  await prepareApp(APP, 'int8');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, '--disable-gpu'] });
}, 10 * MINUTES);

afterAll(async () => {
  await browser?.close();
});

const startVite = (engine: Engine, args: string[]): ReturnType<typeof start> => start(APP, engine, args);

/** Opens `url`: its report, with no error, no failed request, isolated as expected. */
async function openPage(
  url: string,
  isolated = true,
): Promise<{ report: Report; bytes: number; requests: readonly string[] }> {
  const run = await open(browser, url);
  expect(run.error).toBeUndefined();
  expect(run.problems).toEqual([]);
  expect(run.isolated).toBe(isolated);
  return { report: run.report!, bytes: run.bytes, requests: run.requests };
}

function expectPlausibleDepth(depth: readonly number[]): void {
  expect(depth).toHaveLength(224 * 224);
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const d of depth) {
    min = Math.min(min, d);
    max = Math.max(max, d);
    sum += d;
  }
  const mean = sum / depth.length;
  expect(mean).toBeGreaterThan(0.5);
  expect(mean).toBeLessThan(10);
  expect(max - min).toBeGreaterThan(0.5);
}

function meanRelativeDifference(a: readonly number[], b: readonly number[]): number {
  return a.reduce((sum, d, i) => sum + Math.abs(d - b[i]!) / Math.max(1e-6, Math.abs(b[i]!)), 0) / a.length;
}

describe.each(['wasm', 'tfjs', 'onnx'] as const)('example app, %s engine', (engine) => {
  it(
    'vite dev server: the page gives depth',
    async () => {
      const { url, child } = await startVite(engine, []);
      try {
        const { report } = await openPage(url + PAGES[engine]);
        expect(report.engine).toBe(engine);
        expectPlausibleDepth(report.depth);
        devDepth[engine] = report.depth;
      } finally {
        await stop(child);
      }
    },
    5 * MINUTES,
  );

  it(
    'vite build + preview: the same depth, and what the dist and the page weigh',
    async () => {
      const out = join(APP, `dist-${engine}`);
      await buildApp(APP, engine, out);
      const { files, bytes: dist } = folderFiles(out);
      // Only what a page loads: no graph JSON, no safetensors, no sources.
      expect(files.filter((f) => /\.(safetensors|ts)$|fastdepth-pruned\.json$/.test(f))).toEqual([]);
      const { url, child } = await startVite(engine, ['preview', '--outDir', out]);
      try {
        const { report, bytes, requests } = await openPage(url + PAGES[engine]);
        expect(report.engine).toBe(engine);
        expectPlausibleDepth(report.depth);
        expect(meanRelativeDifference(report.depth, devDepth[engine]!)).toBeLessThan(1e-3);
        console.log(
          `example app ${engine}: dist ${(dist / MB).toFixed(2)} MB (${files.length} files), page fetched ${(bytes / MB).toFixed(2)} MB; ${report.backendReason}`,
        );
        if (engine !== 'onnx') {
          expect(files.filter((f) => /ort-wasm|onnxruntime/.test(f))).toEqual([]);
          expect(dist).toBeLessThanOrEqual(4 * MB);
        } else {
          expect(files.some((f) => /ort-wasm-simd-threaded.*\.wasm$/.test(f))).toBe(true);
        }
        if (engine === 'wasm') {
          // One build of the four, and the int8 weights.
          expect(requests.filter((r) => r.endsWith('.wasm'))).toHaveLength(1);
          expect(requests.some((r) => /\.weights\.int8\.bin$/.test(r))).toBe(true);
          expect(bytes).toBeLessThanOrEqual(2.0 * MB);
        }
      } finally {
        await stop(child);
      }
    },
    8 * MINUTES,
  );
});

describe('example app on a page that is not cross-origin isolated (plugin option isolate: false)', () => {
  it(
    'every engine runs 1 thread of the 2 asked, and backendReason says why',
    async () => {
      const { createServer } = await import('vite');
      const { fastdepth } = await import('../src/vite.js');
      const port = await freePort('127.0.0.1');
      const server = await createServer({
        root: APP,
        configFile: false,
        logLevel: 'error',
        plugins: [fastdepth({ engines: ['tfjs', 'onnx', 'wasm'], isolate: false })],
        server: { host: '127.0.0.1', port, strictPort: true },
      });
      await server.listen();
      try {
        for (const engine of ['wasm', 'onnx', 'tfjs'] as const) {
          const { report } = await openPage(`http://127.0.0.1:${port}${PAGES[engine]}`, false);
          expect([report.engine, report.threads]).toEqual([engine, 1]);
          expect(report.backendReason).toMatch(/1 thread, not 2: the page is not cross-origin isolated/);
          expectPlausibleDepth(report.depth);
        }
      } finally {
        await server.close();
      }
    },
    5 * MINUTES,
  );
});
