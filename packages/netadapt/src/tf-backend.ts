/** tfjs backend selection for Node: cpu (has every gradient) or wasm (SIMD, single thread). */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// tfjs-core alone registers no gradients (the `@tensorflow/tfjs` bundle does this import).
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

/** A tfjs backend this package can run on. */
export type TfBackendName = 'cpu' | 'wasm';

let wasmPathsSet = false;

/** Makes `name` the active tfjs backend; the wasm binaries load from node_modules (no network). */
export async function useTfBackend(name: TfBackendName): Promise<void> {
  if (name === 'wasm' && !wasmPathsSet) {
    const require = createRequire(import.meta.url);
    setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
    // Threads would need a worker per wasm instance; we parallelise across proposals instead.
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    wasmPathsSet = true;
  }
  if (tf.getBackend() === name) return;
  if (!(await tf.setBackend(name))) throw new Error(`tfjs backend "${name}" failed to initialise`);
  await tf.ready();
}

export { tf };
