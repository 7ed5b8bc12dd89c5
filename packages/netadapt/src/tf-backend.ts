/**
 * tfjs backend selection for Node: cpu or wasm (SIMD, single thread; its missing backward conv
 * kernels are registered from `wasm-grad-kernels.ts`, so both train).
 */
import { createRequire, register } from 'node:module';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { registerWasmGradientKernels } from './wasm-grad-kernels.js';

/** A tfjs backend this package can run on. */
export type TfBackendName = 'cpu' | 'wasm';

let wasmPathsSet = false;
let gradientsLoaded = false;

/**
 * tfjs-core's Node entry registers no gradients (the `@tensorflow/tfjs` bundle imports
 * `dist/register_all_gradients`). That file is ESM with extensionless and directory imports,
 * which Node refuses, so a resolve hook retries `.js` / `/index.js` inside tfjs-core's dist.
 * Gradient configs go to tfjs's global registry, shared with the CommonJS copy.
 */
async function loadGradients(): Promise<void> {
  if (gradientsLoaded) return;
  const hook = `export async function resolve(s, c, next) {
    try { return await next(s, c); } catch (e) {
      if (s.startsWith('.') && c.parentURL && c.parentURL.includes('/@tensorflow/tfjs-core/dist/')) {
        for (const suffix of ['.js', '/index.js']) { try { return await next(s + suffix, c); } catch {} }
      }
      throw e;
    }
  }`;
  register(`data:text/javascript,${encodeURIComponent(hook)}`);
  await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');
  gradientsLoaded = true;
}

/** Makes `name` the active tfjs backend; the wasm binaries load from node_modules (no network). */
export async function useTfBackend(name: TfBackendName): Promise<void> {
  await loadGradients();
  if (name === 'wasm' && !wasmPathsSet) {
    const require = createRequire(import.meta.url);
    setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
    // Threads would need a worker per wasm instance; we parallelise across proposals instead.
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    registerWasmGradientKernels();
    wasmPathsSet = true;
  }
  if (tf.getBackend() === name) return;
  if (!(await tf.setBackend(name))) throw new Error(`tfjs backend "${name}" failed to initialise`);
  await tf.ready();
}

export { tf };
