/** Where we run and how bytes are fetched there; Node modules are imported lazily so bundles never see them. */
import { DepthEstimatorError } from './errors.js';
import type { Location } from './types.js';

/** True in Node (and not in a browser or a worker). */
export function isNode(): boolean {
  return (
    typeof process !== 'undefined' &&
    typeof process.versions === 'object' &&
    typeof process.versions.node === 'string' &&
    typeof window === 'undefined'
  );
}

/**
 * Why this page cannot run wasm threads (no cross-origin isolation, hence no SharedArrayBuffer,
 * or no workers), or undefined where it can (Node always can).
 */
export function isolationProblem(): string | undefined {
  if (isNode()) return undefined;
  if (
    typeof SharedArrayBuffer === 'undefined' ||
    !(globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated
  ) {
    return 'the page is not cross-origin isolated (serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp), so SharedArrayBuffer is unavailable';
  }
  if (typeof Worker === 'undefined') return 'Web Workers are not available here';
  return undefined;
}

/** Imports a module that browser bundlers must not follow (Node built-ins, onnxruntime-node). */
export async function importHidden<T>(specifier: string): Promise<T> {
  return (await import(/* @vite-ignore */ specifier)) as T;
}

function isFileLocation(location: Location): boolean {
  const text = location.toString();
  return text.startsWith('file:') || (isNode() && !/^[a-z][a-z0-9+.-]*:/i.test(text));
}

/** The bytes at `location`: fetched, or in Node read from a `file:` URL or a path. */
export async function loadBytes(location: Location, what: string): Promise<ArrayBuffer> {
  if (isFileLocation(location)) {
    const fs = await importHidden<typeof import('node:fs/promises')>('node:fs/promises');
    const url = await importHidden<typeof import('node:url')>('node:url');
    const path = location.toString().startsWith('file:') ? url.fileURLToPath(location) : location.toString();
    try {
      const bytes = await fs.readFile(path);
      return new Uint8Array(bytes).buffer;
    } catch (error) {
      throw new DepthEstimatorError(
        `${what}: cannot read ${path}: ${(error as Error).message}`,
        'LOAD_FAILED',
      );
    }
  }
  let response: Response;
  try {
    response = await fetch(location);
  } catch (error) {
    throw new DepthEstimatorError(
      `${what}: cannot fetch ${location.toString()}: ${(error as Error).message}`,
      'LOAD_FAILED',
    );
  }
  if (!response.ok)
    throw new DepthEstimatorError(
      `${what}: ${location.toString()} answered HTTP ${response.status}`,
      'LOAD_FAILED',
    );
  return response.arrayBuffer();
}

/** `relative` resolved against `base` (a URL, or a path in Node). */
export function resolveLocation(relative: string, base: Location): Location {
  const text = base.toString();
  if (/^[a-z][a-z0-9+.-]*:/i.test(text)) return new URL(relative, text);
  if (isNode()) return text.slice(0, text.lastIndexOf('/') + 1) + relative;
  return new URL(relative, new URL(text, globalThis.location.href));
}
