/**
 * `npm run bench:size -w @fastdepth/runtime-web`: what an app of each engine weighs. Builds
 * `example-app/` (the README's Vite config and pages) with the model `compile --for-web` writes,
 * one engine's page per build, and prints for each the `vite build` dist and the bytes the page
 * fetches in headless Chromium (served by `vite preview`, cross-origin isolated, 2 threads): the
 * wasm engine with float32, float16 and int8 weights, tfjs (int8 weights), onnx. Sizes are
 * deterministic (no timings); `demo/example-app.test.ts` asserts the limits of the issue
 * (dist <= 4 MB for tfjs or wasm-engine apps, a wasm-engine page fetching <= 2.0 MB).
 */
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS } from '../src/serving.js';
import { TMP_DIR } from '../src/testing/models.js';
import {
  buildApp,
  folderFiles,
  openPage,
  PAGES,
  prepareApp,
  startVite,
  stopVite,
  type Engine,
} from '../demo/example-app-harness.js';
import { markdownTable } from './common.js';

const APP = join(TMP_DIR, 'bench-size-app');
const MB = 1e6;

const CASES: readonly { engine: Engine; weights: 'float32' | 'float16' | 'int8'; label: string }[] = [
  { engine: 'wasm', weights: 'float32', label: 'wasm engine, float32 weights' },
  { engine: 'wasm', weights: 'float16', label: 'wasm engine, float16 weights' },
  { engine: 'wasm', weights: 'int8', label: 'wasm engine, int8 weights' },
  { engine: 'tfjs', weights: 'int8', label: 'tfjs, int8 weights' },
  { engine: 'onnx', weights: 'float32', label: 'onnx (onnxruntime-web, WebGPU + wasm build)' },
];

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: [...CHROMIUM_ARGS, '--disable-gpu'],
});
const rows: string[][] = [];
try {
  let prepared: string | undefined;
  for (const c of CASES) {
    // The tfjs and onnx files do not depend on the wasm dtype: one folder per wasm dtype.
    const dtype = c.engine === 'wasm' ? c.weights : (prepared ?? 'int8');
    if (prepared !== dtype) {
      console.error(`preparing the app (wasm weights ${dtype})...`);
      await prepareApp(APP, dtype as 'float32' | 'float16' | 'int8');
      prepared = dtype;
    }
    const out = join(APP, `dist-${c.engine}`);
    console.error(`vite build (${c.label})...`);
    await buildApp(APP, c.engine, out);
    const dist = folderFiles(out);
    const { url, child } = await startVite(APP, c.engine, ['preview', '--outDir', out]);
    try {
      const page = await openPage(browser, url + PAGES[c.engine]);
      if (page.error !== undefined || page.report === undefined)
        throw new Error(`${c.label}: the page failed: ${page.error ?? 'no report'}`);
      rows.push([
        c.label,
        (dist.bytes / MB).toFixed(2),
        String(dist.files.length),
        (page.bytes / MB).toFixed(2),
        `${page.report.backend} x ${page.report.threads}`,
      ]);
    } finally {
      await stopVite(child);
    }
  }
} finally {
  await browser.close();
}
console.log(markdownTable(['app (one engine page)', 'dist MB', 'files', 'page fetches MB', 'ran on'], rows));
