// @ts-check
/* global WebAssembly, process */
import { preprocessRows } from './preprocess-rows.js';
/**
 * One thread of the wasm engine (a browser module Worker or a Node worker_thread). Plain
 * JavaScript whose one import (preprocess-rows.js) is plain JavaScript too, so the same files run from src/ and dist/, in Node without a
 * TypeScript loader, and bundlers see `new Worker(new URL('./wasm-worker.js', import.meta.url))`
 * as one self-contained chunk.
 *
 * Protocol (see wasm-engine.ts): one `init` message brings the compiled `-threads` module, the
 * shared memory and a small shared control array; the worker instantiates and answers `ready`,
 * then loops: wait for the generation word to change; when the host staged an image (MODE 1),
 * convert this thread's share of the network input rows from it (preprocess-rows.js, the same
 * arithmetic as the calling thread's `preprocess`; a new staging buffer comes as a `staging`
 * message, announced by the STAGING word); run its share of the whole network; count itself done; the last one notifies the control word (and, where the page cannot
 * `Atomics.waitAsync`, posts `done`). A trap is posted as `error`: the other threads then wait
 * at a barrier forever, so the host terminates them all.
 */

/** Control word indices (Int32Array over a SharedArrayBuffer); wasm-engine.ts has the same. */
const GENERATION = 0;
const DONE = 1;
const STOP = 2;
/** Source image of a MODE 1 run: width, height, channels (3 or 4); STAGING counts buffers posted. */
const MODE = 3;
const IMAGE_WIDTH = 4;
const IMAGE_HEIGHT = 5;
const IMAGE_CHANNELS = 6;
const STAGING = 7;
/** 1: `fill` (the whole image, see preprocess-rows.js `inputRegion`); 0: `cover`. */
const FIT = 8;

/**
 * @typedef {{
 *   module: WebAssembly.Module,
 *   memory: WebAssembly.Memory,
 *   control: SharedArrayBuffer,
 *   thread: number,
 *   threads: number,
 *   notifyByMessage: boolean,
 *   input: { byteOffset: number, width: number, height: number },
 * }} InitMessage
 * @typedef {{ postMessage(message: unknown): void }} Port
 * @typedef {{ type: 'staging', buffer: SharedArrayBuffer }} StagingMessage
 */

/** Staging buffers posted by the host, in order, and the wake-up of a worker awaiting one. */
/** @type {SharedArrayBuffer[]} */
const stagingQueue = [];
/** @type {(() => void) | undefined} */
let stagingArrived;
/** @param {unknown} message */
function onLaterMessage(message) {
  const m = /** @type {StagingMessage} */ (message);
  if (m.type === 'staging') {
    stagingQueue.push(m.buffer);
    stagingArrived?.();
  }
}

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
  const { input } = init;
  const inputView = new Float32Array(init.memory.buffer, input.byteOffset, 3 * input.width * input.height);
  // This thread's input rows: the rows the module's input stage gives it ([H t / T, H (t + 1) / T)),
  // so it reads only what this thread wrote and needs no barrier first.
  const rowStart = Math.floor((input.height * init.thread) / init.threads);
  const rowEnd = Math.floor((input.height * (init.thread + 1)) / init.threads);
  /** @type {Uint8Array | undefined} */
  let staging;
  let stagingSeen = 0;
  port.postMessage({ type: 'ready', thread: init.thread });
  for (;;) {
    Atomics.wait(control, GENERATION, seen);
    if (Atomics.load(control, STOP) !== 0) return;
    const generation = Atomics.load(control, GENERATION);
    if (generation === seen) continue;
    seen = generation;
    try {
      // A new staging buffer was posted before this run: take it (awaiting lets the message in).
      while (stagingSeen !== Atomics.load(control, STAGING)) {
        while (stagingQueue.length === 0)
          await new Promise((resolve) => {
            stagingArrived = () => resolve(undefined);
          });
        staging = new Uint8Array(/** @type {SharedArrayBuffer} */ (stagingQueue.shift()));
        stagingSeen++;
      }
      if (Atomics.load(control, MODE) === 1 && staging !== undefined) {
        preprocessRows(
          staging,
          Atomics.load(control, IMAGE_WIDTH),
          Atomics.load(control, IMAGE_HEIGHT),
          Atomics.load(control, IMAGE_CHANNELS),
          input.width,
          input.height,
          'nchw',
          inputView,
          rowStart,
          rowEnd,
          Atomics.load(control, FIT) === 1 ? 'fill' : 'cover',
        );
      }
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
      port.on('message', onLaterMessage);
      void serve(init, port);
    });
  });
} else {
  const scope = /** @type {{ onmessage: ((event: { data: unknown }) => void) | null } & Port} */ (
    /** @type {unknown} */ (globalThis)
  );
  scope.onmessage = (event) => {
    scope.onmessage = (later) => onLaterMessage(later.data);
    const init = /** @type {InitMessage} */ (event.data);
    void serve(init, scope);
  };
}
