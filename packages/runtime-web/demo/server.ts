/**
 * The demo's Vite server: serves the page, the model files and the wasm binaries of tfjs and
 * onnxruntime-web from this package's node_modules (never a CDN), with the COOP/COEP headers
 * that make the page cross-origin isolated so wasm threads can be used (the tfjs and onnx wasm
 * pools, and the wasm engine's workers); `?isolation=off` serves a page without them.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer, type Connect, type Plugin, type ViteDevServer } from 'vite';
import {
  freePort,
  ISOLATION_HEADERS,
  serveFiles,
  VITE_PREBUNDLE,
  WASM_URLS,
  wasmDirs,
} from '../src/serving.js';
import { GENERATED_DIR, SHARED_DATA_DIR } from '../src/testing/models.js';
import { DEMO_MODEL_DIR, prepareDemoModel, type DemoModelInfo } from './prepare.js';

const DEMO_DIR = dirname(fileURLToPath(import.meta.url));

const require = createRequire(import.meta.url);

/** Where LiteRT.js's wasm builds (plain, threaded, JSPI, compat) are served, for `bench:litert`. */
export const LITERT_WASM_URL = '/wasm/litert/';

/** URL prefix -> folder served under it: the wasm binaries, the demo model, the bench models. */
export const STATIC_DIRS: Readonly<Record<string, string>> = {
  ...wasmDirs(),
  // A devDependency: the bench's LiteRT.js page loads them from here, never from a CDN.
  [LITERT_WASM_URL]: join(dirname(require.resolve('@litertjs/core/package.json')), 'wasm'),
  '/model/': DEMO_MODEL_DIR,
  '/bench-models/': join(GENERATED_DIR, 'bench'),
  // The sample photo the demo opens with (shared data, never copied into the repository).
  '/samples/': join(SHARED_DATA_DIR, 'photos'),
};

/**
 * A page asked for with `?isolation=off` is served without COOP/COEP, so it is not
 * cross-origin isolated: the e2e test checks the fallback to one wasm thread there.
 */
function isolationOff(): Connect.NextHandleFunction {
  return (req, res, next) => {
    if (!/[?&]isolation=off(&|$)/.test(req.url ?? '')) {
      next();
      return;
    }
    const setHeader = res.setHeader.bind(res);
    const dropped = new Set(Object.keys(ISOLATION_HEADERS).map((k) => k.toLowerCase()));
    res.setHeader = (name, value) => (dropped.has(name.toLowerCase()) ? res : setHeader(name, value));
    next();
  };
}

/** `virtual:demo-model`: the generated module plus where its files are served. */
function demoPlugin(info: DemoModelInfo): Plugin {
  const id = 'virtual:demo-model';
  return {
    name: 'fastdepth-demo',
    resolveId: (source) => (source === id ? `\0${id}` : undefined),
    load(loaded) {
      if (loaded !== `\0${id}`) return undefined;
      const module = join(DEMO_MODEL_DIR, `${info.name}.ts`);
      return [
        `export * as module from ${JSON.stringify(module)};`,
        `export const info = ${JSON.stringify(info)};`,
        `export const manifestUrl = ${JSON.stringify(`/model/${info.name}.weights.json`)};`,
        `export const onnxUrl = ${JSON.stringify(`/model/${info.name}.onnx`)};`,
        `export const wasmManifestUrl = ${JSON.stringify(`/model/wasm/${info.name}.wasm-manifest.json`)};`,
        `export const wasmPaths = ${JSON.stringify(WASM_URLS)};`,
      ].join('\n');
    },
    configureServer(server) {
      server.middlewares.use(isolationOff());
      server.middlewares.use(serveFiles(STATIC_DIRS));
    },
  };
}

/** A running demo server. */
export interface DemoServer {
  readonly url: string;
  readonly info: DemoModelInfo;
  readonly vite: ViteDevServer;
  close(): Promise<void>;
}

/** Prepares the model and starts the dev server (default 127.0.0.1 on a free port). */
export async function startDemoServer(
  options: { host?: string; port?: number; quiet?: boolean } = {},
): Promise<DemoServer> {
  const host = options.host ?? '127.0.0.1';
  const info = await prepareDemoModel(options.quiet === true ? () => undefined : console.log);
  const port = options.port ?? (await freePort(host));
  const vite = await createServer({
    configFile: false,
    root: DEMO_DIR,
    logLevel: options.quiet === true ? 'error' : 'info',
    clearScreen: false,
    resolve: { conditions: ['@fastdepth/source', 'module', 'browser', 'development|production'] },
    plugins: [demoPlugin(info)],
    server: {
      host,
      port,
      strictPort: true,
      headers: ISOLATION_HEADERS,
      fs: { allow: [join(DEMO_DIR, '..', '..', '..')] },
    },
    build: {
      rollupOptions: { input: { main: join(DEMO_DIR, 'index.html'), bench: join(DEMO_DIR, 'bench.html') } },
    },
    // The estimation worker imports the runtime's dynamic chunks (tfjs backends, onnxruntime-web).
    worker: { format: 'es', plugins: () => [demoPlugin(info)] },
    // LiteRT.js too: the bench's LiteRT page imports it, and a dependency discovered mid-run
    // would make Vite re-optimise and reload the page.
    optimizeDeps: { ...VITE_PREBUNDLE, include: [...VITE_PREBUNDLE.include, '@litertjs/core'] },
  });
  await vite.listen();
  return { url: `http://${host}:${port}/`, info, vite, close: () => vite.close() };
}
