/**
 * Runs `example-app/` as a new app would (shared by `example-app.test.ts` and `bench/size.ts`):
 * the app folder with a compiled model, Vite as a child process (`vite`, `vite build`,
 * `vite preview`, as `npx vite` runs them, on runtime-web's dist/), and a page opened in
 * Chromium, reporting its depth and the bytes it fetched.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify, stripVTControlCharacters } from 'node:util';
import type { Browser } from 'playwright-core';
import { freePort } from '../src/serving.js';
import { PACKAGE_DIR, SHARED_DATA_DIR } from '../src/testing/models.js';
import { writeExampleModel } from './example-model.js';

const run = promisify(execFile);
export const VITE = join(PACKAGE_DIR, 'node_modules', 'vite', 'bin', 'vite.js');
const PHOTO = join(SHARED_DATA_DIR, 'images', 'SUN_color.jpg');
const MINUTES = 60_000;

export type Engine = 'tfjs' | 'wasm' | 'onnx';
export const PAGES: Readonly<Record<Engine, string>> = { tfjs: '/', wasm: '/wasm.html', onnx: '/onnx.html' };

/** What a page of the example app leaves in `document.body.dataset.result`. */
export interface Report {
  readonly engine: string;
  readonly backend: string;
  readonly backendReason: string;
  readonly threads: number;
  readonly depth: number[];
}

/** Builds runtime-web's dist/ (the app imports the package as installed) and writes the app. */
export async function prepareApp(
  app: string,
  wasmDtype: 'float32' | 'float16' | 'int8' = 'int8',
): Promise<void> {
  await run('npx', ['tsc', '-b', 'tsconfig.lib.json'], { cwd: PACKAGE_DIR, timeout: 5 * MINUTES });
  rmSync(app, { recursive: true, force: true });
  mkdirSync(join(app, 'public'), { recursive: true });
  cpSync(join(PACKAGE_DIR, 'example-app'), app, { recursive: true });
  cpSync(PHOTO, join(app, 'public', 'photo.jpg'));
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'depth-app', private: true, type: 'module' }),
  );
  await writeExampleModel(join(app, 'model'), wasmDtype);
}

/** `vite build` of one engine's page into `out`. */
export async function buildApp(app: string, engine: Engine, out: string): Promise<void> {
  await run(process.execPath, [VITE, 'build', '--outDir', out, '--emptyOutDir', '--logLevel', 'warn'], {
    cwd: app,
    env: { ...process.env, FASTDEPTH_ENGINES: engine },
    timeout: 5 * MINUTES,
    maxBuffer: 16 << 20,
  });
}

/** Starts `vite ARGS` in the app (FASTDEPTH_ENGINES=engine) and resolves its URL once it listens. */
export async function startVite(
  app: string,
  engine: Engine,
  args: string[],
): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort('127.0.0.1');
  const child = spawn(
    process.execPath,
    [VITE, ...args, '--host', '127.0.0.1', '--port', String(port), '--strictPort'],
    {
      cwd: app,
      env: { ...process.env, FASTDEPTH_ENGINES: engine },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`vite ${args.join(' ')} did not start: ${output}`)),
      MINUTES,
    );
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      // Vite colours the port where colour is forced (nx passes FORCE_COLOR to `npm test`'s tasks).
      if (stripVTControlCharacters(output).includes(`127.0.0.1:${port}`)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`vite ${args.join(' ')} exited ${code}: ${output}`)));
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

/** Stops a child started by `startVite`. */
export async function stopVite(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

export interface PageRun {
  readonly report?: Report;
  readonly error?: string;
  readonly isolated: boolean;
  /** Failed requests and page errors. */
  readonly problems: readonly string[];
  /** Response body bytes of every request the page made (the HTML, scripts, wasm, model). */
  readonly bytes: number;
  readonly requests: readonly string[];
}

/** Opens `url` in a new page and waits for its report (or error). */
export async function openPage(browser: Browser, url: string): Promise<PageRun> {
  const page = await browser.newPage();
  const problems: string[] = [];
  const requests: string[] = [];
  const sizes: Promise<number>[] = [];
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`HTTP ${response.status()} ${response.url()}`);
  });
  page.on('requestfinished', (request) => {
    requests.push(new URL(request.url()).pathname);
    sizes.push(request.sizes().then((s) => s.responseBodySize));
  });
  try {
    await page.goto(url);
    // Vite's dev server reloads the page once when it discovers a dependency to pre-bundle only
    // after the first load began (it depends on how fast its crawl is): the reloaded page reports
    // again, so a read that the reload interrupts is made on the new page.
    let state: { error?: string; result?: string; isolated: boolean } | undefined;
    for (let attempt = 0; state === undefined; attempt++) {
      try {
        await page.waitForFunction(
          () => document.body.dataset.result ?? document.body.dataset.error,
          undefined,
          { timeout: 3 * MINUTES },
        );
        state = await page.evaluate(() => ({
          ...(document.body.dataset.error === undefined ? {} : { error: document.body.dataset.error }),
          ...(document.body.dataset.result === undefined ? {} : { result: document.body.dataset.result }),
          isolated: globalThis.crossOriginIsolated,
        }));
      } catch (error) {
        if (attempt > 0 || !/Execution context was destroyed|navigation/i.test(String(error))) throw error;
      }
    }
    const { error, result, isolated } = state;
    const bytes = (await Promise.all(sizes)).reduce((a, b) => a + b, 0);
    return {
      ...(result !== undefined ? { report: JSON.parse(result) as Report } : {}),
      ...(error !== undefined ? { error } : {}),
      isolated,
      problems,
      bytes,
      requests,
    };
  } finally {
    await page.close();
  }
}

/** Every file under `dir`, relative, and their total size. */
export function folderFiles(dir: string): { files: string[]; bytes: number } {
  let bytes = 0;
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    bytes += statSync(path).size;
    files.push(path.slice(dir.length + 1));
  }
  return { files, bytes };
}
