// @ts-check
/* global WebAssembly, process */
/**
 * One thread of the wasm engine (a browser module Worker or a Node worker_thread). Plain
 * JavaScript with no imports, so the same file runs from src/ and dist/, in Node without a
 * TypeScript loader, and bundlers see `new Worker(new URL('./wasm-worker.js', import.meta.url))`
 * as one self-contained chunk.
 *
 * Protocol (see wasm-engine.ts): one `init` message brings the compiled `-threads` module, the
 * shared memory and a small shared control array; the worker instantiates and answers `ready`,
 * then loops: wait for the generation word to change, run its share of the whole network, count
 * itself done; the last one notifies the control word (and, where the page cannot
 * `Atomics.waitAsync`, posts `done`). A trap is posted as `error`: the other threads then wait
 * at a barrier forever, so the host terminates them all.
 */

/** Control word indices (Int32Array over a SharedArrayBuffer); wasm-engine.ts has the same. */
const GENERATION = 0;
const DONE = 1;
const STOP = 2;

/**
 * @typedef {{
 *   module: WebAssembly.Module,
 *   memory: WebAssembly.Memory,
 *   control: SharedArrayBuffer,
 *   thread: number,
 *   threads: number,
 *   notifyByMessage: boolean,
 * }} InitMessage
 * @typedef {{ postMessage(message: unknown): void }} Port
 */

/**
 * @param {InitMessage} init
 * @param {Port} port
 */
async function serve(init, port) {
  /** @type {{ run(thread: number, threads: number): void }} */
  let exports;
  try {
    const instance = await WebAssembly.instantiate(init.module, { env: { memory: init.memory } });
    exports = /** @type {{ run(thread: number, threads: number): void }} */ (
      /** @type {unknown} */ (instance.exports)
    );
  } catch (error) {
    port.postMessage({
      type: 'error',
      thread: init.thread,
      message: /** @type {Error} */ (error).message,
    });
    return;
  }
  const control = new Int32Array(init.control);
  let seen = Atomics.load(control, GENERATION);
  port.postMessage({ type: 'ready', thread: init.thread });
  for (;;) {
    Atomics.wait(control, GENERATION, seen);
    if (Atomics.load(control, STOP) !== 0) return;
    const generation = Atomics.load(control, GENERATION);
    if (generation === seen) continue;
    seen = generation;
    try {
      exports.run(init.thread, init.threads);
    } catch (error) {
      port.postMessage({
        type: 'error',
        thread: init.thread,
        message: /** @type {Error} */ (error).message,
      });
      return;
    }
    if (Atomics.add(control, DONE, 1) + 1 === init.threads) {
      Atomics.notify(control, DONE);
      if (init.notifyByMessage) port.postMessage({ type: 'done', generation });
    }
  }
}

const isNode = typeof process === 'object' && typeof process.versions?.node === 'string';
if (isNode) {
  // A variable specifier: browser bundlers must not follow it. No top-level await: bundlers
  // emit workers as classic scripts by default (Vite: worker.format 'iife').
  const specifier = 'node:worker_threads';
  void import(/* @vite-ignore */ specifier).then((/** @type {unknown} */ loaded) => {
    const { parentPort } = /** @type {typeof import('node:worker_threads')} */ (loaded);
    const port = /** @type {import('node:worker_threads').MessagePort} */ (parentPort);
    port.once('message', (/** @type {InitMessage} */ init) => {
      void serve(init, port);
    });
  });
} else {
  const scope = /** @type {{ onmessage: ((event: { data: unknown }) => void) | null } & Port} */ (
    /** @type {unknown} */ (globalThis)
  );
  scope.onmessage = (event) => {
    scope.onmessage = null;
    const init = /** @type {InitMessage} */ (event.data);
    void serve(init, scope);
  };
}
