/**
 * runtime-web as an application outside this repository gets it: `npm pack` of the package,
 * `npm install` of the tarball into an empty folder under the system temp dir (registry only,
 * from the npm cache where it can), `fastdepth compile --target tfjs` and `--target wasm` into
 * that folder, then the example app of packages/runtime-web/example-app run as plain Node (no
 * tsx) and built with Vite and opened in Chromium: the tfjs page, and the wasm engine's page on
 * 2 threads (its worker bundled by Vite, the page cross-origin isolated). All must give the same
 * non-trivial depth for a real photo.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createReadStream, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import sharp from 'sharp';
import ts from 'typescript';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './testing/run-cli.js';

const run = promisify(execFile);
const CHROMIUM = '/usr/bin/chromium';
const PACKAGES = fileURLToPath(new URL('../../', import.meta.url));
const RUNTIME_WEB = join(PACKAGES, 'runtime-web');
const EXAMPLE = join(RUNTIME_WEB, 'example-app');
const DATA = fileURLToPath(new URL('../../../../shared/data/', import.meta.url));
const TFLITE = join(DATA, 'weights/fast_depth_224.tflite');
const PHOTO = join(DATA, 'images/SUN_color.jpg');
const SCREENSHOTS = join(PACKAGES, 'cli', 'tmp', 'screenshots');
const MINUTES = 60_000;

interface DepthReport {
  readonly backend: string;
  readonly backendReason: string;
  readonly threads?: number;
  readonly depth: number[];
}

let root: string;
let app: string;
let tarball: string;
let packedFiles: string[];

/**
 * The environment without npm's `npm_*` variables: under `npm test` they describe this
 * workspace (prefix, workspace, config), and the app's own npm must not inherit them.
 */
const CLEAN_ENV = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_')),
);

/** Runs a command in `cwd`, failing with its output (npm's and Vite's messages say what broke). */
async function sh(cwd: string, file: string, args: string[], timeout = 5 * MINUTES): Promise<string> {
  try {
    const { stdout } = await run(file, args, { cwd, timeout, maxBuffer: 64 << 20, env: CLEAN_ENV });
    return stdout;
  } catch (error) {
    const e = error as { message: string; stdout?: string; stderr?: string };
    throw new Error(
      `${file} ${args.join(' ')} failed in ${cwd}: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`,
    );
  }
}

function stats(depth: readonly number[]): { min: number; max: number; mean: number; std: number } {
  const mean = depth.reduce((a, b) => a + b, 0) / depth.length;
  const std = Math.sqrt(depth.reduce((a, b) => a + (b - mean) ** 2, 0) / depth.length);
  return { min: Math.min(...depth), max: Math.max(...depth), mean, std };
}

/** A photo-like scene: metres, not a constant, not a seeded-weights mess. */
function expectPlausibleDepth(depth: readonly number[]): void {
  expect(depth).toHaveLength(224 * 224);
  const s = stats(depth);
  expect(s.min).toBeGreaterThan(0.1);
  expect(s.max).toBeLessThan(20);
  expect(s.std).toBeGreaterThan(0.1);
  expect(s.max - s.min).toBeGreaterThan(0.5);
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'fastdepth-consumer-'));
  app = join(root, 'app');
  mkdirSync(app);
  // `prepack` builds dist/ first, so the tarball never ships a stale or missing build.
  const packed = JSON.parse(await sh(RUNTIME_WEB, 'npm', ['pack', '--pack-destination', root, '--json'])) as {
    filename: string;
    files: { path: string }[];
  }[];
  tarball = join(root, packed[0]!.filename);
  packedFiles = packed[0]!.files.map((f) => f.path);
  const vite = (
    JSON.parse(readFileSync(join(RUNTIME_WEB, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    }
  ).devDependencies['vite']!;
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({
      name: 'depth-app',
      private: true,
      type: 'module',
      dependencies: { '@fastdepth/runtime-web': `file:${tarball}` },
      devDependencies: { vite },
    }),
  );
  // tfjs-core comes in as runtime-web's peer: one copy, shared with the generated module.
  await sh(
    app,
    'npm',
    ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'],
    8 * MINUTES,
  );
  for (const file of [
    'estimate.mjs',
    'index.html',
    'main.js',
    'show.js',
    'wasm.html',
    'wasm.js',
    'vite.config.js',
  ])
    cpSync(join(EXAMPLE, file), join(app, file));
  const r = await runCli(
    'compile',
    '--target',
    'tfjs',
    '--weights',
    TFLITE,
    '--weights-dtype',
    'int8',
    '--out',
    join(app, 'model'),
  );
  if (r.code !== 0) throw new Error(`fastdepth compile failed: ${r.stderr}`);
  // The wasm engine's files beside (model/wasm/), for the second page.
  const w = await runCli('compile', '--target', 'wasm', '--weights', TFLITE, '--out', join(app, 'model'));
  if (w.code !== 0) throw new Error(`fastdepth compile --target wasm failed: ${w.stderr}`);
}, 15 * MINUTES);

afterAll(async () => {
  if (root !== undefined) await rm(root, { recursive: true, force: true });
}, 5 * MINUTES);

describe('runtime-web in an app outside the repository', () => {
  it('packs dist/ (types included), without tests or build info', () => {
    for (const f of [
      'dist/index.js',
      'dist/index.d.ts',
      'dist/tfjs-engine.js',
      'dist/wasm-engine.js',
      'dist/wasm-worker.js',
      'dist/types.d.ts',
      'dist/vite.js',
      'dist/onnx.js',
      'README.md',
    ])
      expect(packedFiles).toContain(f);
    expect(packedFiles.filter((f) => /\.test\.|testing\/|tsbuildinfo/.test(f))).toEqual([]);
  });

  it('installs one @tensorflow/tfjs-core and no onnxruntime-node or -web (optional peers)', async () => {
    const paths = (await sh(app, 'npm', ['ls', '@tensorflow/tfjs-core', '--all', '--parseable']))
      .split('\n')
      .filter((line) => line.trim() !== '');
    expect(new Set(paths)).toEqual(new Set([join(app, 'node_modules', '@tensorflow', 'tfjs-core')]));
    expect(existsSync(join(app, 'node_modules', 'onnxruntime-node'))).toBe(false);
    expect(existsSync(join(app, 'node_modules', 'onnxruntime-web'))).toBe(false);
  });

  it('compile wrote the module as TypeScript, JavaScript and declarations, weights int8', () => {
    const dir = join(app, 'model', 'tfjs');
    for (const ext of ['.ts', '.js', '.d.ts', '.weights.bin', '.weights.json'])
      expect(existsSync(join(dir, `fastdepth-pruned${ext}`))).toBe(true);
    const manifest = JSON.parse(readFileSync(join(dir, 'fastdepth-pruned.weights.json'), 'utf8')) as {
      tensors: { dtype: string }[];
    };
    expect(manifest.tensors.some((t) => t.dtype === 'int8')).toBe(true);
  });

  it('type-checks a TypeScript file of the app against the packed types and the .d.ts', () => {
    const file = join(app, 'check.ts');
    writeFileSync(
      file,
      [
        "import { createDepthEstimator, type TfjsModelModule } from '@fastdepth/runtime-web';",
        "import * as model from './model/tfjs/fastdepth-pruned.js';",
        'const module: TfjsModelModule = model;',
        "export const estimator = createDepthEstimator({ model: { engine: 'tfjs', module, weights: { manifestUrl: 'm.json' } } });",
        'export const shape: readonly [1, 224, 224, 3] = model.MODEL_INFO.inputShape;',
      ].join('\n'),
    );
    const program = ts.createProgram([file], {
      strict: true,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
      types: [],
      skipLibCheck: true,
      noEmit: true,
    });
    const errors = ts
      .getPreEmitDiagnostics(program)
      .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(errors).toEqual([]);
  });

  let nodeDepth: number[];

  it('estimates depth in plain Node (node estimate.mjs)', async () => {
    const { data, info } = await sharp(PHOTO).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    writeFileSync(join(app, 'photo.rgba'), data);
    const { stdout, stderr } = await run(
      process.execPath,
      ['estimate.mjs', 'photo.rgba', String(info.width), String(info.height)],
      { cwd: app, timeout: 3 * MINUTES, maxBuffer: 64 << 20, env: CLEAN_ENV },
    );
    // A second tfjs-core would print "Platform node has already been set" on every run.
    expect(stderr).not.toMatch(/already been set|already registered/i);
    expect(stderr).toMatch(/^tfjs\/wasm: [\d.]+ ms, centre [\d.]+ m$/m);
    const report = JSON.parse(stdout) as DepthReport;
    expect(report.backend).toBe('wasm');
    expectPlausibleDepth(report.depth);
    nodeDepth = report.depth;
  });

  it('builds with Vite and estimates the same depth in Chromium', async () => {
    // tfjs-backend-wasm's .wasm files and model/ come into the build through the Vite plugin.
    mkdirSync(join(app, 'public'), { recursive: true });
    cpSync(PHOTO, join(app, 'public', 'photo.jpg'));
    await sh(
      app,
      process.execPath,
      [join(app, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'],
      8 * MINUTES,
    );
    expect(existsSync(join(app, 'dist', 'index.html'))).toBe(true);

    const report = await openBuiltPage('/', 'consumer-app.png');
    expect(report.backend).toBe('wasm');
    expect(report.backendReason).toMatch(/^wasm: first usable of webgpu > webgl > wasm > cpu/);
    expectPlausibleDepth(report.depth);
    // Same photo, decoded by sharp for Node and by the browser's JPEG decoder: the same depth
    // up to decoder rounding.
    expect(meanRelativeDifference(report.depth, nodeDepth)).toBeLessThan(0.02);
  });

  it('runs the compiled wasm engine on 2 threads in Chromium (its worker bundled by Vite)', async () => {
    expect(existsSync(join(app, 'dist', 'wasm.html'))).toBe(true);
    const report = await openBuiltPage('/wasm.html', 'consumer-app-wasm.png');
    expect([report.backend, report.threads]).toEqual(['wasm', 2]);
    expect(report.backendReason).toMatch(
      /^wasm: the only backend of this engine; (relaxed|simd)-threads build, 2 threads/,
    );
    expectPlausibleDepth(report.depth);
    // The paper's weights were int8 already: the int8 tfjs file holds exactly the weights the
    // wasm files hold in float32.
    expect(meanRelativeDifference(report.depth, nodeDepth)).toBeLessThan(0.02);
  });
});

function meanRelativeDifference(a: readonly number[], b: readonly number[]): number {
  return a.reduce((sum, d, i) => sum + Math.abs(d - b[i]!) / b[i]!, 0) / a.length;
}

/**
 * Opens a page of the built app (served with COOP/COEP) in Chromium and returns the report it
 * leaves in `document.body.dataset.result`, with no page error and no failed request.
 */
async function openBuiltPage(path: string, screenshot: string): Promise<DepthReport> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium`);
  const server = await serve(join(app, 'dist'));
  // No --disable-gpu: on a machine without a GPU, WebGL is SwiftShader's and the
  // automatic choice must pass over it.
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox'] });
  try {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('response', (response) => {
      if (response.status() >= 400) problems.push(`HTTP ${response.status()} ${response.url()}`);
    });
    const address = server.address() as { port: number };
    await page.goto(`http://127.0.0.1:${address.port}${path}`);
    await page.waitForFunction(() => document.body.dataset.result ?? document.body.dataset.error, undefined, {
      timeout: 3 * MINUTES,
    });
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, screenshot), fullPage: true });
    expect(await page.evaluate(() => document.body.dataset.error)).toBeUndefined();
    expect(problems).toEqual([]);
    expect(await page.evaluate(() => globalThis.crossOriginIsolated)).toBe(true);
    return JSON.parse((await page.evaluate(() => document.body.dataset.result))!) as DepthReport;
  } finally {
    await browser.close();
    await new Promise((resolve) => server.close(resolve));
  }
}

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.jpg': 'image/jpeg',
};

/** A static file server for the built app on a free loopback port. */
function serve(dir: string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    const file = normalize(join(dir, path === '/' ? 'index.html' : path));
    if (!file.startsWith(dir) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    // Cross-origin isolated, as the app's vite.config.js asks: wasm threads may run.
    res.writeHead(200, {
      'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
    });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}
