/**
 * tfjs-backend-wasm (or cpu) in Node for timing generated tfjs code: the wasm binaries load from
 * node_modules (no network), one thread (a one-layer network is timed on the thread NetAdapt
 * runs on; threads would need a worker per wasm instance). Inference only: the gradients
 * `@fastdepth/netadapt` trains with are registered by its own `useTfBackend`.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

let wasmPathsSet = false;

/** Makes `name` the active tfjs backend. */
export async function useTimingBackend(name: 'wasm' | 'cpu'): Promise<void> {
  // Another module (netadapt's trainer) may have started wasm already: its paths are set then.
  if (name === 'wasm' && !wasmPathsSet && tf.findBackend('wasm') === undefined) {
    const require = createRequire(import.meta.url);
    setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    wasmPathsSet = true;
  }
  if (tf.getBackend() === name) return;
  if (!(await tf.setBackend(name))) throw new Error(`tfjs backend "${name}" failed to initialise`);
  await tf.ready();
}

export { tf };
