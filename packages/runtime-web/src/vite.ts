/**
 * `@fastdepth/runtime-web/vite`: the Vite plugin for an app that runs this package, in the dev
 * server and in `vite build` alike.
 *
 * ```js
 * // vite.config.js
 * import { defineConfig } from 'vite';
 * import { fastdepth } from '@fastdepth/runtime-web/vite';
 * export default defineConfig({ plugins: [fastdepth({ engines: ['wasm'] })] });
 * ```
 *
 * What it does, per engine the app names:
 * - every engine: serves and copies the app's model folder (default `model/`, at
 *   `${BASE_URL}model/`), only the files a page loads (wasm builds and manifests, weights,
 *   `.onnx`; never `.safetensors`, graph JSON or sources); sends the COOP/COEP headers (dev and
 *   preview) that make the page cross-origin isolated, so wasm threads run; emits workers as ES
 *   modules; leaves `@fastdepth/runtime-web` unbundled by the dev optimiser (its workers are
 *   found with `new URL('./x.js', import.meta.url)` beside it);
 * - `tfjs`: pre-bundles tfjs-core and its backends (CommonJS inside: without it the dev server
 *   fails with `does not provide an export named 'wasmWorkerContents'` and `require is not
 *   defined`), serves and copies tfjs-backend-wasm's `.wasm` files at `${BASE_URL}fastdepth/tfjs/`
 *   (pass that as `wasmPaths.tfjs`);
 * - `onnx`: leaves onnxruntime-web unbundled in dev (it loads its wasm beside itself); the
 *   page imports `@fastdepth/runtime-web/onnx`, and the build emits onnxruntime-web's wasm for
 *   that page only. Without `onnx` in `engines`, nothing of onnxruntime-web is in the build.
 *
 * Runs in Node (Vite's config); Vite itself is an optional peer (types only here).
 */
import { createReadStream, existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import type { Plugin, UserConfig } from 'vite';
import { ISOLATION_HEADERS } from './serving.js';

/** The engines an app may name. */
export const FASTDEPTH_ENGINES = ['tfjs', 'onnx', 'wasm'] as const;
export type FastdepthEngine = (typeof FASTDEPTH_ENGINES)[number];

export interface FastdepthViteOptions {
  /** The engines the app's pages use: each brings only what it needs (see above). */
  readonly engines: readonly FastdepthEngine[];
  /**
   * The folder `fastdepth compile` wrote into (relative to Vite's `root`), served and copied at
   * `${BASE_URL}model/`; `false`: none (the app imports its model files itself). Default `model`.
   */
  readonly model?: string | false;
  /** The URL path of the model folder under `base`, without slashes. Default `model`. */
  readonly modelPath?: string;
  /**
   * COOP/COEP on the dev and preview servers (threads need them; a production server must send
   * the same two headers). Default true.
   */
  readonly isolate?: boolean;
  /**
   * The tfjs-backend-wasm builds copied: `simd` (every current browser), `threaded-simd` (the
   * page is cross-origin isolated and asks for threads), `plain` (browsers without wasm SIMD).
   * Default all three; tfjs picks one at run time.
   */
  readonly tfjsWasm?: readonly ('simd' | 'threaded-simd' | 'plain')[];
}

/** The URL path (under `base`) of tfjs-backend-wasm's `.wasm` files: pass it as `wasmPaths.tfjs`. */
export const TFJS_WASM_PATH = 'fastdepth/tfjs/';

const TFJS_WASM_FILES = {
  simd: 'tfjs-backend-wasm-simd.wasm',
  'threaded-simd': 'tfjs-backend-wasm-threaded-simd.wasm',
  plain: 'tfjs-backend-wasm.wasm',
} as const;

/** The tfjs packages the dev optimiser must pre-bundle (CommonJS inside them). */
export const TFJS_PREBUNDLE: readonly string[] = [
  '@tensorflow/tfjs-core',
  '@tensorflow/tfjs-backend-cpu',
  '@tensorflow/tfjs-backend-wasm',
  '@tensorflow/tfjs-backend-webgl',
  '@tensorflow/tfjs-backend-webgpu',
];

/** Folders of a `fastdepth compile` output that belong to an engine (the others are left alone). */
const ENGINE_FOLDERS: Readonly<Record<string, FastdepthEngine>> = {
  tfjs: 'tfjs',
  onnx: 'onnx',
  wasm: 'wasm',
};

/**
 * Whether a page loads `name` (a file of the model folder): the wasm engine's manifests, builds
 * and weights, the tfjs weights and their manifest, an `.onnx` file. Not the graph JSON, the
 * `.safetensors`, the tfjs module's sources (the app imports and bundles it) or TVM's files.
 */
export function isWebModelFile(name: string): boolean {
  return (
    /\.wasm-manifest\.json$/.test(name) ||
    /\.wasm$/.test(name) ||
    /\.weights(\.[a-z0-9]+)?\.bin$/.test(name) ||
    /\.weights\.json$/.test(name) ||
    /\.onnx$/.test(name)
  );
}

/** The web files of `dir` (relative paths, `/`-separated), in the folders of `engines`. */
export function webModelFiles(dir: string, engines: readonly FastdepthEngine[]): string[] {
  const out: string[] = [];
  const walk = (at: string, depth: number): void => {
    for (const entry of readdirSync(join(dir, at), { withFileTypes: true })) {
      const path = at === '' ? entry.name : `${at}/${entry.name}`;
      if (entry.isDirectory()) {
        const engine = depth === 0 ? ENGINE_FOLDERS[entry.name] : undefined;
        if (depth === 0 && entry.name === 'tvm') continue;
        if (engine !== undefined && !engines.includes(engine)) continue;
        if (depth < 4) walk(path, depth + 1);
      } else if (entry.isFile() && isWebModelFile(entry.name)) out.push(path);
    }
  };
  walk('', 0);
  return out.sort();
}

const TYPES: Readonly<Record<string, string>> = {
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.bin': 'application/octet-stream',
  '.onnx': 'application/octet-stream',
};

type Middleware = (req: IncomingMessage, res: ServerResponse, next: () => void) => void;

/** Serves `files(urlPath)` (a real file, or undefined to pass on) under `prefix`, isolated. */
function serveUnder(prefix: string, file: (path: string) => string | undefined): Middleware {
  return (req, res, next) => {
    const url = (req.url ?? '').split(/[?#]/)[0]!;
    if (!url.startsWith(prefix)) {
      next();
      return;
    }
    let path: string;
    try {
      path = decodeURIComponent(url.slice(prefix.length));
    } catch {
      next();
      return;
    }
    const found = path.includes('\0') ? undefined : file(path);
    if (found === undefined) {
      next();
      return;
    }
    res.setHeader('Content-Type', TYPES[extname(found)] ?? 'application/octet-stream');
    res.setHeader('Content-Length', String(statSync(found).size));
    for (const [k, v] of Object.entries(ISOLATION_HEADERS)) res.setHeader(k, v);
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    createReadStream(found).pipe(res);
  };
}

function checkOptions(options: FastdepthViteOptions): void {
  const engines = (options as { engines?: unknown }).engines;
  if (!Array.isArray(engines) || engines.length === 0)
    throw new Error(
      `fastdepth vite plugin: "engines" must list the engines the app uses (${FASTDEPTH_ENGINES.join(', ')}), found ${JSON.stringify(engines) ?? 'nothing'}`,
    );
  for (const e of engines as unknown[]) {
    if (!(FASTDEPTH_ENGINES as readonly unknown[]).includes(e))
      throw new Error(
        `fastdepth vite plugin: unknown engine ${JSON.stringify(e)} (known: ${FASTDEPTH_ENGINES.join(', ')})`,
      );
  }
  const path = options.modelPath ?? 'model';
  if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(path) || path.split('/').includes('..'))
    throw new Error(`fastdepth vite plugin: "modelPath" ${JSON.stringify(path)} must be a plain URL path`);
}

/**
 * The Vite config this plugin adds (`optimizeDeps`, headers, worker format) without the
 * serving and copying: for apps that merge it into their own config instead.
 */
export function fastdepthViteConfig(options: FastdepthViteOptions): UserConfig {
  checkOptions(options);
  const { engines } = options;
  const headers = options.isolate === false ? {} : { ...ISOLATION_HEADERS };
  return {
    optimizeDeps: {
      // tfjs-core for every engine: the main entry imports it (the tfjs engine, timeModel), and
      // a dependency found mid-run makes the dev server re-optimise and reload the page.
      include: engines.includes('tfjs') ? [...TFJS_PREBUNDLE] : ['@tensorflow/tfjs-core'],
      // runtime-web finds its workers beside itself; onnxruntime-web its wasm beside itself.
      exclude: ['@fastdepth/runtime-web', 'onnxruntime-web'],
    },
    server: { headers },
    preview: { headers },
    worker: { format: 'es' },
    // onnxruntime-web starts its threads as workers on its own module's URL: in a chunk of its
    // own, so a worker runs onnxruntime-web and not the page's code bundled beside it.
    ...(engines.includes('onnx')
      ? {
          build: {
            rollupOptions: {
              output: {
                manualChunks: (id: string): string | undefined =>
                  /[\\/]node_modules[\\/]onnxruntime-web[\\/]/.test(id) ? 'onnxruntime-web' : undefined,
              },
            },
          },
        }
      : {}),
  };
}

/** The Vite plugin (see the module comment). */
export function fastdepth(options: FastdepthViteOptions): Plugin {
  checkOptions(options);
  const { engines } = options;
  const requireHere = createRequire(import.meta.url);
  const tfjsDir = (): string => dirname(requireHere.resolve('@tensorflow/tfjs-backend-wasm'));
  const tfjsFiles = engines.includes('tfjs')
    ? (options.tfjsWasm ?? ['simd', 'threaded-simd', 'plain']).map((k) => TFJS_WASM_FILES[k])
    : [];
  const modelPath = options.modelPath ?? 'model';
  let root = process.cwd();
  let base = '/';
  let modelDir: string | undefined;

  const modelFile = (path: string): string | undefined => {
    if (modelDir === undefined || !isWebModelFile(path)) return undefined;
    const file = resolve(modelDir, path);
    if (!file.startsWith(modelDir + sep) || !existsSync(file) || !statSync(file).isFile()) return undefined;
    // A link out of the model folder is not served.
    const real = realpathSync(file);
    if (!real.startsWith(realpathSync(modelDir) + sep)) return undefined;
    const first = relative(modelDir, file).split(sep)[0]!;
    const engine = ENGINE_FOLDERS[first];
    if (first === 'tvm' || (engine !== undefined && !engines.includes(engine))) return undefined;
    return file;
  };
  const tfjsFile = (path: string): string | undefined =>
    (tfjsFiles as readonly string[]).includes(path) ? join(tfjsDir(), path) : undefined;

  const install = (middlewares: { use(fn: Middleware): void }): void => {
    if (tfjsFiles.length > 0) middlewares.use(serveUnder(`${base}${TFJS_WASM_PATH}`, tfjsFile));
    if (modelDir !== undefined) middlewares.use(serveUnder(`${base}${modelPath}/`, modelFile));
  };

  return {
    name: 'fastdepth',
    config: () => fastdepthViteConfig(options),
    configResolved(config) {
      root = config.root;
      base = config.base.endsWith('/') ? config.base : `${config.base}/`;
      if (!base.startsWith('/')) base = '/';
      if (options.model !== false) {
        const dir = resolve(root, options.model ?? 'model');
        // No model folder yet is fine in dev (compile may come later); the build says so.
        modelDir = existsSync(dir) && statSync(dir).isDirectory() ? dir : undefined;
        if (modelDir === undefined && options.model !== undefined && config.command === 'build')
          throw new Error(
            `fastdepth vite plugin: model folder ${dir} does not exist (run fastdepth compile --for-web --out ${options.model})`,
          );
        if (modelDir === undefined)
          config.logger.warn(
            `fastdepth: no model folder ${dir}: nothing served at ${base}${modelPath}/ (fastdepth compile --for-web --out ${relative(root, dir) || '.'})`,
          );
      }
    },
    configureServer(server) {
      install(server.middlewares);
    },
    generateBundle() {
      for (const name of tfjsFiles)
        this.emitFile({
          type: 'asset',
          fileName: `${TFJS_WASM_PATH}${name}`,
          source: readFileSync(join(tfjsDir(), name)),
        });
      if (modelDir !== undefined) {
        for (const path of webModelFiles(modelDir, engines))
          this.emitFile({
            type: 'asset',
            fileName: `${modelPath}/${path}`,
            source: readFileSync(join(modelDir, path)),
          });
      }
    },
  };
}
