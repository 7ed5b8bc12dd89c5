/**
 * Node-side helpers for serving pages that run this package in a browser, shared by the demo,
 * its benchmark and NetAdapt's browser latency runner (`@fastdepth/latency/browser`): where
 * Debian's chromium is and the flags every headless launch shares, the COOP/COEP headers that
 * make a page cross-origin isolated (so wasm threads work), the wasm binaries of tfjs and
 * onnxruntime-web served from node_modules (never a CDN), and a free port. Not part of the
 * browser entry point: import `@fastdepth/runtime-web/serving`.
 */
import { createReadStream, existsSync, realpathSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { createServer as createNetServer } from 'node:net';
import { dirname, extname, isAbsolute, join, normalize, sep } from 'node:path';

/** The browser the e2e tests and runners drive: Debian's chromium through playwright-core. */
export const CHROMIUM = '/usr/bin/chromium';

/** Flags every launch shares (a fresh temporary profile comes from `launch()` itself). */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Headers that make a page cross-origin isolated (SharedArrayBuffer, hence wasm threads). */
export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

/**
 * Vite's dependency pre-bundling for a page that loads this package (apps: the
 * `@fastdepth/runtime-web/vite` plugin sets it, and more): the tfjs backends bundled
 * up front (a backend imported dynamically mid-run would make Vite re-optimise and reload the
 * page), onnxruntime-web left as it is (it finds its wasm files beside itself).
 */
export const VITE_PREBUNDLE = {
  include: [
    '@tensorflow/tfjs-core',
    '@tensorflow/tfjs-backend-cpu',
    '@tensorflow/tfjs-backend-wasm',
    '@tensorflow/tfjs-backend-webgl',
    '@tensorflow/tfjs-backend-webgpu',
  ],
  exclude: ['onnxruntime-web'],
};

const require = createRequire(import.meta.url);

/** URL prefixes under which the wasm binaries are served by `serveWasm`, as `WasmPaths`. */
export const WASM_URLS = { tfjs: '/wasm/tfjs/', onnx: '/wasm/ort/' } as const;

/**
 * URL prefix -> folder of the tfjs-backend-wasm and onnxruntime-web binaries; onnxruntime-web
 * (an optional peer) only where it is installed.
 */
export function wasmDirs(): Record<string, string> {
  const dirs: Record<string, string> = {
    [WASM_URLS.tfjs]: dirname(require.resolve('@tensorflow/tfjs-backend-wasm')),
  };
  let ort: string | undefined;
  try {
    ort = require.resolve('onnxruntime-web');
  } catch {
    ort = undefined;
  }
  if (ort !== undefined) dirs[WASM_URLS.onnx] = join(dirname(ort), '..', 'dist');
  return dirs;
}

const TYPES: Readonly<Record<string, string>> = {
  '.wasm': 'application/wasm',
  '.mjs': 'text/javascript',
  '.js': 'text/javascript',
  '.json': 'application/json',
  '.ts': 'text/plain',
};

/** Connect-style middleware serving files under `dirs` (URL prefix -> folder), isolated. */
export function serveFiles(
  dirs: Readonly<Record<string, string>> = wasmDirs(),
): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  return (req, res, next) => {
    const path = (req.url ?? '').split('?')[0]!;
    const prefix = Object.keys(dirs).find((p) => path.startsWith(p));
    if (prefix === undefined) {
      next();
      return;
    }
    const root = dirs[prefix]!;
    const file = normalize(join(root, decodeURIComponent(path.slice(prefix.length))));
    if (!file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile()) {
      next();
      return;
    }
    res.setHeader('Content-Type', TYPES[extname(file)] ?? 'application/octet-stream');
    for (const [k, v] of Object.entries(ISOLATION_HEADERS)) res.setHeader(k, v);
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    createReadStream(file).pipe(res);
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

/** `dir` with its symlinks resolved where it exists (Vite names files by their real paths). */
function real(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return normalize(dir);
  }
}

function inside(dirs: readonly string[], file: string): boolean {
  return dirs.some((d) => file === d || file.startsWith(d.endsWith(sep) ? d : d + sep));
}

/** What `servingGuard` lets through: folders a page may load files from, and folders it never may. */
export interface ServingScope {
  /** Folders whose files may be served by absolute path (`/@fs/...`, `/@id/...`). */
  readonly allow: readonly string[];
  /** Folders never served, even inside an allowed one (the output folder). */
  readonly deny?: readonly string[];
}

/**
 * The `server.fs` options that match a `ServingScope`: strict, allowed folders only (Vite's
 * default would allow the whole workspace: the checkout, its lock file, the outputs).
 */
export function viteFsOptions(scope: ServingScope): { strict: true; allow: string[]; deny: string[] } {
  return {
    strict: true,
    allow: scope.allow.map(real),
    deny: ['.env', '.env.*', '*.{crt,pem,key}', '**/.git/**', '**/.npmrc'],
  };
}

/**
 * Connect-style middleware, installed before Vite's own, that answers 403 for any request
 * naming a file outside `scope` by absolute path (`/@fs/<path>`, `/@id/<path>`, whatever the
 * query: `?raw`, `?import`, `?url`), or climbing with `..` or a NUL byte: Vite's allow list is
 * the second line, not the only one (its checks have had bypasses through queries).
 */
export function servingGuard(
  scope: ServingScope,
): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  const allow = scope.allow.map(real);
  const deny = (scope.deny ?? []).map(real);
  const refuse = (res: ServerResponse): void => {
    res.statusCode = 403;
    res.setHeader('Content-Type', 'text/plain');
    res.end('403: not served');
  };
  return (req, res, next) => {
    const raw = (req.url ?? '/').split(/[?#]/)[0]!;
    let path: string;
    try {
      path = decodeURIComponent(raw);
    } catch {
      refuse(res);
      return;
    }
    if (path.includes('\0') || path.includes('\\') || /(^|\/)\.\.(\/|$)/.test(path)) {
      refuse(res);
      return;
    }
    const absolute = /^\/@(fs|id)\/(.*)$/.exec(path);
    if (absolute) {
      // `/@fs/abs/path`; `/@id/` carries module ids, of which only absolute paths name files.
      const file = absolute[1] === 'fs' ? `/${absolute[2]!}` : absolute[2]!;
      if (absolute[1] === 'fs' || isAbsolute(file)) {
        const named = normalize(file);
        const resolved = existsSync(named) ? real(named) : named;
        const ok = (f: string): boolean => inside(allow, f) && !inside(deny, f);
        if (!ok(named) || !ok(resolved)) {
          refuse(res);
          return;
        }
      }
    }
    next();
  };
}
