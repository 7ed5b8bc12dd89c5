/**
 * The demo's Vite server: serves the page, the model files and the wasm binaries of tfjs and
 * onnxruntime-web from this package's node_modules (never a CDN), with the COOP/COEP headers
 * that make the page cross-origin isolated so wasm threads can be used (the tfjs and onnx wasm
 * pools, and the wasm engine's workers); `?isolation=off` serves a page without them.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer as createNetServer } from 'node:net';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer, type Connect, type Plugin, type ViteDevServer } from 'vite';
import { GENERATED_DIR } from '../src/testing/models.js';
import { DEMO_MODEL_DIR, prepareDemoModel, type DemoModelInfo } from './prepare.js';

const DEMO_DIR = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/** URL prefix -> folder served under it. */
export const STATIC_DIRS: Readonly<Record<string, string>> = {
  '/wasm/tfjs/': dirname(require.resolve('@tensorflow/tfjs-backend-wasm')),
  '/wasm/ort/': join(dirname(require.resolve('onnxruntime-web')), '..', 'dist'),
  '/model/': DEMO_MODEL_DIR,
  '/bench-models/': join(GENERATED_DIR, 'bench'),
};

export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

const TYPES: Readonly<Record<string, string>> = {
  '.wasm': 'application/wasm',
  '.mjs': 'text/javascript',
  '.js': 'text/javascript',
  '.json': 'application/json',
  '.bin': 'application/octet-stream',
  '.onnx': 'application/octet-stream',
  '.ts': 'text/plain',
};

function serveStatic(): Connect.NextHandleFunction {
  return (req, res, next) => {
    const path = (req.url ?? '').split('?')[0]!;
    const prefix = Object.keys(STATIC_DIRS).find((p) => path.startsWith(p));
    if (prefix === undefined) {
      next();
      return;
    }
    const root = STATIC_DIRS[prefix]!;
    const file = normalize(join(root, decodeURIComponent(path.slice(prefix.length))));
    if (!file.startsWith(root) || !existsSync(file) || !statSync(file).isFile()) {
      next();
      return;
    }
    res.setHeader('Content-Type', TYPES[extname(file)] ?? 'application/octet-stream');
    for (const [k, v] of Object.entries(ISOLATION_HEADERS)) res.setHeader(k, v);
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    createReadStream(file).pipe(res);
  };
}

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
        `export const wasmPaths = ${JSON.stringify({ tfjs: '/wasm/tfjs/', onnx: '/wasm/ort/' })};`,
      ].join('\n');
    },
    configureServer(server) {
      server.middlewares.use(isolationOff());
      server.middlewares.use(serveStatic());
    },
  };
}

/** A free TCP port on `host`. */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const address = probe.address();
      probe.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
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
    optimizeDeps: {
      // Pre-bundled up front so a dynamically imported backend never triggers a re-optimise and reload.
      include: [
        '@tensorflow/tfjs-core',
        '@tensorflow/tfjs-backend-cpu',
        '@tensorflow/tfjs-backend-wasm',
        '@tensorflow/tfjs-backend-webgl',
        '@tensorflow/tfjs-backend-webgpu',
      ],
      exclude: ['onnxruntime-web'],
    },
  });
  await vite.listen();
  return { url: `http://${host}:${port}/`, info, vite, close: () => vite.close() };
}
