/**
 * The Vite plugin without a browser: which model files a page gets (and which never), the
 * config it adds per engine, its option errors, and its dev middleware: web files of the named
 * engines served with the isolation headers, everything else (sources, safetensors, another
 * engine's folder, `..`, a link out of the folder) passed on to Vite, never read.
 */
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  fastdepth,
  fastdepthViteConfig,
  isWebModelFile,
  webModelFiles,
  type FastdepthViteOptions,
} from './vite.js';

let root: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'fastdepth-vite-'));
  const model = join(root, 'model');
  for (const d of ['tfjs', 'onnx', 'wasm', 'tvm']) mkdirSync(join(model, d), { recursive: true });
  const files = [
    'fastdepth-pruned.json',
    'fastdepth-pruned.safetensors',
    'tfjs/fastdepth-pruned.ts',
    'tfjs/fastdepth-pruned.js',
    'tfjs/fastdepth-pruned.d.ts',
    'tfjs/fastdepth-pruned.weights.bin',
    'tfjs/fastdepth-pruned.weights.json',
    'onnx/fastdepth-pruned.onnx',
    'wasm/fastdepth-pruned.wasm-manifest.json',
    'wasm/fastdepth-pruned.simd.wasm',
    'wasm/fastdepth-pruned.weights.int8.bin',
    'tvm/build.py',
    'tvm/params.json',
  ];
  for (const f of files) writeFileSync(join(model, f), f);
  writeFileSync(join(root, 'secret.wasm'), 'outside');
  symlinkSync(join(root, 'secret.wasm'), join(model, 'wasm', 'link.wasm'));
});

describe('model files a page loads', () => {
  it('wasm builds and manifests, weights, .onnx; not sources, graph JSON or safetensors', () => {
    expect(isWebModelFile('a.simd.wasm')).toBe(true);
    expect(isWebModelFile('a.weights.float16.bin')).toBe(true);
    expect(isWebModelFile('a.json')).toBe(false);
    expect(isWebModelFile('a.safetensors')).toBe(false);
    expect(isWebModelFile('a.js')).toBe(false);
  });

  it('only the folders of the engines named, never tvm, never a link', () => {
    expect(webModelFiles(join(root, 'model'), ['wasm'])).toEqual([
      'wasm/fastdepth-pruned.simd.wasm',
      'wasm/fastdepth-pruned.wasm-manifest.json',
      'wasm/fastdepth-pruned.weights.int8.bin',
    ]); // not the link out of the folder

    expect(webModelFiles(join(root, 'model'), ['tfjs', 'onnx'])).toEqual([
      'onnx/fastdepth-pruned.onnx',
      'tfjs/fastdepth-pruned.weights.bin',
      'tfjs/fastdepth-pruned.weights.json',
    ]);
  });
});

describe('config', () => {
  it('tfjs pre-bundles tfjs and its backends; every engine keeps runtime-web and onnxruntime-web unbundled, isolated', () => {
    const tfjs = fastdepthViteConfig({ engines: ['tfjs'] });
    expect(tfjs.optimizeDeps?.include).toContain('@tensorflow/tfjs-backend-wasm');
    expect(tfjs.optimizeDeps?.exclude).toEqual(['@fastdepth/runtime-web', 'onnxruntime-web']);
    expect(tfjs.server?.headers).toEqual({
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
    });
    expect(tfjs.build).toBeUndefined();
    const wasm = fastdepthViteConfig({ engines: ['wasm'], isolate: false });
    expect(wasm.optimizeDeps?.include).toEqual(['@tensorflow/tfjs-core']);
    expect(wasm.server?.headers).toEqual({});
    const onnx = fastdepthViteConfig({ engines: ['onnx'] });
    const output = onnx.build?.rollupOptions?.output as { manualChunks(id: string): string | undefined };
    expect(output.manualChunks('/app/node_modules/onnxruntime-web/dist/ort.bundle.min.mjs')).toBe(
      'onnxruntime-web',
    );
    expect(output.manualChunks('/app/main.js')).toBeUndefined();
  });

  it('refuses no engines, an unknown one, and a model path that climbs', () => {
    expect(() => fastdepth({} as FastdepthViteOptions)).toThrow(/"engines" must list the engines/);
    expect(() => fastdepth({ engines: ['tflite'] } as unknown as FastdepthViteOptions)).toThrow(
      /unknown engine "tflite"/,
    );
    expect(() => fastdepth({ engines: ['wasm'], modelPath: '../x' })).toThrow(/must be a plain URL path/);
  });
});

describe('dev middleware', () => {
  type Middleware = (req: IncomingMessage, res: ServerResponse, next: () => void) => void;

  function serve(
    options: FastdepthViteOptions,
  ): (url: string) => Promise<{ body?: string; headers: Record<string, string> }> {
    const plugin = fastdepth(options);
    const middlewares: Middleware[] = [];
    const warnings: string[] = [];
    (plugin.configResolved as (c: unknown) => void)({
      root,
      base: '/',
      command: 'serve',
      logger: { warn: (m: string) => warnings.push(m) },
    });
    (plugin.configureServer as (s: unknown) => void)({
      middlewares: { use: (m: Middleware) => middlewares.push(m) },
    });
    return (url) =>
      new Promise((resolve) => {
        const headers: Record<string, string> = {};
        const res = new PassThrough() as unknown as ServerResponse & PassThrough;
        res.setHeader = (k: string, v: string) => {
          headers[k] = v;
          return res;
        };
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ body, headers }));
        const next = (i: number): void => {
          if (i === middlewares.length) resolve({ headers });
          else
            middlewares[i]!(Object.assign(Object.create(null) as IncomingMessage, { url }), res, () =>
              next(i + 1),
            );
        };
        next(0);
      });
  }

  it('serves web files of the named engines, isolated; passes on everything else', async () => {
    const get = serve({ engines: ['wasm', 'tfjs'] });
    const manifest = await get('/model/wasm/fastdepth-pruned.wasm-manifest.json?import');
    expect(manifest.body).toBe('wasm/fastdepth-pruned.wasm-manifest.json');
    expect(manifest.headers['Cross-Origin-Embedder-Policy']).toBe('require-corp');
    expect(manifest.headers['Content-Type']).toBe('application/json');
    const tfjsWasm = await get('/fastdepth/tfjs/tfjs-backend-wasm-simd.wasm');
    expect(tfjsWasm.headers['Content-Type']).toBe('application/wasm');
    expect(Number(tfjsWasm.headers['Content-Length'])).toBeGreaterThan(100_000);
    for (const url of [
      '/model/fastdepth-pruned.safetensors',
      '/model/fastdepth-pruned.json',
      '/model/tfjs/fastdepth-pruned.ts',
      '/model/onnx/fastdepth-pruned.onnx',
      '/model/tvm/params.json',
      '/model/wasm/../../secret.wasm',
      '/model/wasm/%2e%2e/%2e%2e/secret.wasm',
      '/model/wasm/link.wasm',
      '/fastdepth/tfjs/../../package.json',
      '/fastdepth/tfjs/tfjs-backend-wasm.js',
    ])
      expect((await get(url)).body, url).toBeUndefined();
  });

  it('without tfjs, no tfjs wasm is served', async () => {
    const get = serve({ engines: ['wasm'] });
    expect((await get('/fastdepth/tfjs/tfjs-backend-wasm-simd.wasm')).body).toBeUndefined();
  });
});
