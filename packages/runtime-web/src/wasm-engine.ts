/**
 * The wasm engine: the network compiled by `@fastdepth/codegen-wasm` into one WebAssembly SIMD
 * module. One thread runs the unshared build on the calling thread. N > 1 threads run the
 * `-threads` build in N workers (browser Web Workers, Node worker_threads) on one shared
 * memory: the host writes the input, bumps a control word and awaits (Atomics.waitAsync, or
 * a message where the page lacks it) the last worker's notify; the workers split each stage's
 * rows and meet at the module's own barrier between stages. The main thread never blocks.
 */
import { importHidden, isNode, isolationProblem, loadBytes, resolveLocation } from './env.js';
import { DepthEstimatorError } from './errors.js';
import { preprocessRows } from './preprocess-rows.js';
import type { Fit } from './preprocess.js';
import type {
  BackendName,
  Location,
  PixelBuffer,
  WasmManifest,
  WasmModelSource,
  WasmVariant,
} from './types.js';
import {
  checkModule,
  chooseVariant,
  compileModule,
  copyWeights,
  createWasmMemory,
  instantiate,
  parseWasmManifest,
  relaxedDotExact,
  relaxedSimdSupported,
  validateWasmManifest,
  WasmIo,
  type WasmModelExports,
} from './wasm-model.js';

/** Control word indices; wasm-worker.js has the same. */
const GENERATION = 0;
const DONE = 1;
const STOP = 2;
/** 1: the workers preprocess the staged image into the input first (`runPixels`); 0: the input is written. */
const MODE = 3;
const IMAGE_WIDTH = 4;
const IMAGE_HEIGHT = 5;
const IMAGE_CHANNELS = 6;
/** Staging buffers posted so far (each announced here before the run that needs it). */
const STAGING = 7;
/** 1: `fill`, 0: `cover` (how the staged image is fitted, see preprocess-rows.js). */
const FIT = 8;
const CONTROL_WORDS = 9;

/** `Atomics.waitAsync` (ES2024: Chromium 87+, Node 16+; not yet in every browser). */
type WaitAsync = (
  array: Int32Array,
  index: number,
  value: number,
) => { async: false; value: string } | { async: true; value: Promise<string> };
const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;

/** A loaded wasm model: runs NCHW float input to the depth values. */
export interface WasmRunner {
  readonly backend: BackendName;
  readonly backendReason: string;
  readonly threads: number;
  readonly width: number;
  readonly height: number;
  /** The build in use. */
  readonly variant: WasmVariant;
  readonly manifest: WasmManifest;
  run(input: Float32Array): Promise<Float32Array>;
  /**
   * Preprocesses `pixels` (the rules of `preprocess`, bit-identical) and runs: with threads, each
   * worker converts its share of the input rows, so nothing but a copy of the pixels is left on
   * the calling thread; with one, straight into the module's input.
   */
  runPixels(pixels: PixelBuffer, fit?: Fit): Promise<Float32Array>;
  dispose(): Promise<void>;
}

/** Why threads cannot run here, or undefined when they can. */
export function threadsUnavailable(): string | undefined {
  return isolationProblem();
}

interface Loaded {
  readonly manifest: WasmManifest;
  /** The builds offered (bytes or compiled), by variant; fetched lazily for URLs. */
  readonly module: (
    variant: WasmVariant,
  ) => Promise<{ module: WebAssembly.Module; where: string } | undefined>;
  readonly weights: () => Promise<{ bytes: Uint8Array; where: string }>;
}

function locationName(location: Location): string {
  return location.toString();
}

async function load(source: WasmModelSource): Promise<Loaded> {
  const files = source.model;
  if ('manifest' in files) {
    const given = files.manifest as unknown;
    const arch = typeof given === 'object' && given !== null ? (given as { arch?: unknown }).arch : undefined;
    const manifest = validateWasmManifest(given, `wasm manifest (in memory, arch ${JSON.stringify(arch)})`);
    return {
      manifest,
      async module(variant) {
        const given = files.modules[variant];
        if (given === undefined) return undefined;
        const where = `wasm module "${variant}" (in memory)`;
        return {
          module: given instanceof WebAssembly.Module ? given : await compileModule(given, where),
          where,
        };
      },
      weights: () =>
        Promise.resolve({
          bytes: files.weights instanceof Uint8Array ? files.weights : new Uint8Array(files.weights),
          where: 'wasm weights (in memory)',
        }),
    };
  }
  let manifestUrl = files.manifestUrl;
  let manifest = parseWasmManifest(
    await loadBytes(manifestUrl, 'wasm manifest'),
    `wasm manifest ${locationName(manifestUrl)}`,
  );
  // The int8 build of the same model, when the folder has one and the caller did not opt out.
  const precision = files.precision ?? 'auto';
  if (precision !== 'float32' && manifest.quantization === undefined && manifest.int8Manifest !== undefined) {
    manifestUrl = resolveLocation(manifest.int8Manifest, manifestUrl);
    manifest = parseWasmManifest(
      await loadBytes(manifestUrl, 'wasm int8 manifest'),
      `wasm manifest ${locationName(manifestUrl)}`,
    );
    if (manifest.quantization?.scheme !== 'int8')
      throw new DepthEstimatorError(
        `wasm manifest ${locationName(manifestUrl)}: named as the int8 build by "int8Manifest" but has no "quantization"`,
        'BAD_MODEL',
      );
  }
  if (precision === 'int8' && manifest.quantization === undefined)
    throw new DepthEstimatorError(
      `wasm manifest ${locationName(files.manifestUrl)}: precision "int8" asked, but the manifest is a float32 build and names no "int8Manifest" (compile with --quantize int8)`,
      'BAD_OPTION',
    );
  if (precision === 'float32' && manifest.quantization !== undefined)
    throw new DepthEstimatorError(
      `wasm manifest ${locationName(files.manifestUrl)}: precision "float32" asked, but the manifest is an int8 build`,
      'BAD_OPTION',
    );
  return {
    manifest,
    async module(variant) {
      const url = files.moduleUrls?.[variant] ?? resolveLocation(manifest.modules[variant], manifestUrl);
      const where = `wasm module ${locationName(url)}`;
      return { module: await compileModule(await loadBytes(url, 'wasm module'), where), where };
    },
    async weights() {
      const url = files.weightsUrl ?? resolveLocation(manifest.weightsFile, manifestUrl);
      return {
        bytes: new Uint8Array(await loadBytes(url, 'wasm weights')),
        where: `wasm weights ${locationName(url)}`,
      };
    },
  };
}

/** A thread of the pool (browser Worker or Node worker_thread) behind one interface. */
interface PoolThread {
  post(message: unknown): void;
  onMessage(handler: (message: WorkerMessage) => void): void;
  onError(handler: (error: Error) => void): void;
  terminate(): Promise<void>;
}

type WorkerMessage =
  | { readonly type: 'ready'; readonly thread: number }
  | { readonly type: 'done'; readonly generation: number }
  | { readonly type: 'error'; readonly thread: number; readonly message: string };

async function startThread(): Promise<PoolThread> {
  if (isNode()) {
    const { Worker } = await importHidden<typeof import('node:worker_threads')>('node:worker_threads');
    const worker = new Worker(new URL('./wasm-worker.js', import.meta.url));
    return {
      post: (message) => worker.postMessage(message),
      onMessage: (handler) => worker.on('message', handler),
      onError: (handler) => worker.on('error', handler),
      terminate: async () => {
        await worker.terminate();
      },
    };
  }
  // This exact form lets bundlers (Vite, webpack 5, Parcel) emit the worker as its own chunk.
  const worker = new Worker(new URL('./wasm-worker.js', import.meta.url), { type: 'module' });
  return {
    post: (message) => worker.postMessage(message),
    onMessage: (handler) =>
      worker.addEventListener('message', (event) => handler(event.data as WorkerMessage)),
    onError: (handler) =>
      worker.addEventListener('error', (event) => {
        handler(new Error(event.message || 'the worker script failed to load'));
      }),
    terminate: () => {
      worker.terminate();
      return Promise.resolve();
    },
  };
}

/** Threads waiting on a control word, started and instantiated; resolves when all are ready. */
class Pool {
  private readonly control = new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4));
  /** Where `stage` copies the pixels for the workers; replaced (and posted) when too small. */
  private staging: Uint8Array | undefined;
  private failure: Error | undefined;
  private readonly failed: Promise<never>;
  private fail!: (error: Error) => void;
  private pendingDone: (() => void) | undefined;
  private readonly notifyByMessage = waitAsync === undefined;

  private constructor(private readonly threads: PoolThread[]) {
    this.failed = new Promise<never>((_, reject) => {
      this.fail = (error) => {
        this.failure ??= error;
        reject(this.failure);
      };
    });
    // Observed so a failure with no inference in flight is not an unhandled rejection.
    this.failed.catch(() => undefined);
  }

  static async start(
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    count: number,
    where: string,
    manifest: WasmManifest,
  ): Promise<Pool> {
    const [, , height, width] = manifest.input.shape as [number, number, number, number];
    const threads = await Promise.all(Array.from({ length: count }, () => startThread()));
    const pool = new Pool(threads);
    const ready = threads.map(
      (thread, index) =>
        new Promise<void>((resolve) => {
          thread.onMessage((message) => {
            if (message.type === 'ready') resolve();
            else if (message.type === 'done') pool.pendingDone?.();
            else
              pool.fail(
                new DepthEstimatorError(
                  `${where}: thread ${message.thread} failed: ${message.message}`,
                  'INFERENCE_FAILED',
                ),
              );
          });
          thread.onError((error) =>
            pool.fail(
              new DepthEstimatorError(
                `${where}: worker ${index} failed: ${error.message}`,
                'INFERENCE_FAILED',
              ),
            ),
          );
          thread.post({
            type: 'init',
            module,
            memory,
            control: pool.control.buffer,
            thread: index,
            threads: count,
            notifyByMessage: pool.notifyByMessage,
            input: { byteOffset: manifest.input.byteOffset, width, height },
          });
        }),
    );
    try {
      await Promise.race([Promise.all(ready), pool.failed]);
    } catch (error) {
      await pool.terminate();
      throw error;
    }
    return pool;
  }

  /**
   * Copies an image for the next `runOnce(true)`: the workers preprocess it. A buffer larger than
   * any before is posted to every worker and announced in STAGING, so each takes it first.
   */
  stage(pixels: PixelBuffer, fit: Fit): void {
    const channels = pixels.channels ?? 4;
    const bytes = pixels.width * pixels.height * channels;
    if (pixels.data.length < bytes)
      throw new DepthEstimatorError(
        `wasm engine: image ${pixels.width}x${pixels.height}x${channels} needs ${bytes} bytes, its data has ${pixels.data.length}`,
        'BAD_IMAGE',
      );
    if (this.staging === undefined || this.staging.length < bytes) {
      this.staging = new Uint8Array(new SharedArrayBuffer(bytes));
      for (const thread of this.threads) thread.post({ type: 'staging', buffer: this.staging.buffer });
      Atomics.add(this.control, STAGING, 1);
    }
    this.staging.set(pixels.data.length === bytes ? pixels.data : pixels.data.subarray(0, bytes));
    Atomics.store(this.control, IMAGE_WIDTH, pixels.width);
    Atomics.store(this.control, IMAGE_HEIGHT, pixels.height);
    Atomics.store(this.control, IMAGE_CHANNELS, channels);
    Atomics.store(this.control, FIT, fit === 'fill' ? 1 : 0);
  }

  /** One inference: wakes every thread and resolves when the last one is done. */
  async runOnce(preprocess = false): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    const control = this.control;
    Atomics.store(control, MODE, preprocess ? 1 : 0);
    const count = this.threads.length;
    Atomics.store(control, DONE, 0);
    const byMessage =
      waitAsync === undefined
        ? new Promise<void>((resolve) => {
            this.pendingDone = resolve;
          })
        : undefined;
    Atomics.add(control, GENERATION, 1);
    Atomics.notify(control, GENERATION);
    if (waitAsync === undefined) {
      await Promise.race([byMessage, this.failed]);
      this.pendingDone = undefined;
      return;
    }
    for (let done = Atomics.load(control, DONE); done < count; done = Atomics.load(control, DONE)) {
      const wait = waitAsync(control, DONE, done);
      if (wait.async) await Promise.race([wait.value, this.failed]);
    }
  }

  async terminate(): Promise<void> {
    Atomics.store(this.control, STOP, 1);
    Atomics.add(this.control, GENERATION, 1);
    Atomics.notify(this.control, GENERATION);
    await Promise.all(this.threads.map((t) => t.terminate()));
  }
}

function requestedBackend(requested: BackendName | undefined): void {
  if (requested !== undefined && requested !== 'wasm') {
    throw new DepthEstimatorError(
      `wasm engine: backend "${requested}" is not offered (the compiled module runs on wasm only; omit backend or pass "wasm")`,
      'BAD_OPTION',
    );
  }
}

/** Loads the compiled model with `numThreads` threads where the page allows it, else one. */
export async function createWasmRunner(
  source: WasmModelSource,
  requested: BackendName | undefined,
  numThreads: number,
): Promise<WasmRunner> {
  requestedBackend(requested);
  if (typeof WebAssembly !== 'object')
    throw new DepthEstimatorError('wasm engine: WebAssembly is not available here', 'UNSUPPORTED');
  const loaded = await load(source);
  const { manifest } = loaded;
  const [, , height, width] = manifest.input.shape as [number, number, number, number];
  // int8 relaxed builds use the relaxed integer dot in its unsigned x signed form, exact only
  // where the engine computes it as such (they trap elsewhere): probe that first.
  const int8 = manifest.quantization !== undefined;
  const relaxed = int8 ? relaxedDotExact() : relaxedSimdSupported();
  const notes: string[] = [];
  let threads = numThreads;
  if (threads > 1) {
    const why = threadsUnavailable();
    if (why !== undefined) {
      notes.push(`1 thread, not ${numThreads}: ${why}`);
      threads = 1;
    } else if (threads > manifest.maxThreads) {
      notes.push(
        `${manifest.maxThreads} threads, not ${numThreads}: the module reserves scratch for ${manifest.maxThreads}`,
      );
      threads = manifest.maxThreads;
    }
  }
  // Preferred build first; a build missing from an in-memory source falls back to the next.
  const order: WasmVariant[] = [];
  for (const t of threads > 1 ? [true, false] : [false])
    for (const r of relaxed ? [true, false] : [false]) order.push(chooseVariant({ threads: t, relaxed: r }));
  let chosen: { module: WebAssembly.Module; where: string; variant: WasmVariant } | undefined;
  for (const variant of order) {
    const got = await loaded.module(variant);
    if (got !== undefined) {
      chosen = { ...got, variant };
      break;
    }
    notes.push(`no "${variant}" build given`);
  }
  if (chosen === undefined)
    throw new DepthEstimatorError(
      `wasm engine: none of the builds ${order.join(', ')} was given`,
      'BAD_MODEL',
    );
  if (threads > 1 && !chosen.variant.endsWith('-threads')) threads = 1;
  checkModule(chosen.module, manifest, chosen.where);
  const shared = chosen.variant.endsWith('-threads');
  const memory = createWasmMemory(manifest, shared);
  const weights = await loaded.weights();
  copyWeights(manifest, memory, weights.bytes, weights.where);
  const io = new WasmIo(manifest, memory);
  // The host's own instance: single-thread runs, and the profile's run_stage.
  const exports: WasmModelExports = await instantiate(chosen.module, memory, chosen.where);
  const pool =
    threads > 1 ? await Pool.start(chosen.module, memory, threads, chosen.where, manifest) : undefined;
  const reason = [
    `wasm: ${requested === undefined ? 'the only backend of this engine' : 'requested'}`,
    `${manifest.quantization ? 'int8 ' : ''}${chosen.variant} build, ${threads} thread${threads === 1 ? '' : 's'}`,
    ...(relaxed ? [] : [int8 ? 'no exact relaxed integer dot here' : 'no relaxed SIMD here']),
    ...notes,
  ].join('; ');
  let broken: Error | undefined;
  /** Runs on the input in place (or, `preprocess`, on the image the workers convert first). */
  const infer = async (preprocess: boolean): Promise<Float32Array> => {
    if (broken !== undefined) throw broken;
    if (pool === undefined) {
      try {
        exports.run(0, 1);
      } catch (error) {
        broken = new DepthEstimatorError(
          `${chosen.where}: inference failed: ${(error as Error).message}`,
          'INFERENCE_FAILED',
        );
        throw broken;
      }
    } else {
      io.resetBarrier();
      try {
        await pool.runOnce(preprocess);
      } catch (error) {
        // A trapped thread leaves the others at a barrier: this pool is done for.
        broken = error as Error;
        await pool.terminate();
        throw broken;
      }
    }
    return io.readOutput();
  };
  return {
    backend: 'wasm',
    backendReason: reason,
    threads,
    width,
    height,
    variant: chosen.variant,
    manifest,
    async run(input: Float32Array): Promise<Float32Array> {
      io.writeInput(input);
      return infer(false);
    },
    async runPixels(pixels: PixelBuffer, fit: Fit = 'cover'): Promise<Float32Array> {
      if (pool === undefined) {
        if (broken !== undefined) throw broken;
        const { data, width: w, height: h } = pixels;
        preprocessRows(
          data,
          w,
          h,
          pixels.channels ?? 4,
          width,
          height,
          'nchw',
          io.inputView(),
          0,
          height,
          fit,
        );
      } else pool.stage(pixels, fit);
      return infer(pool !== undefined);
    },
    async dispose(): Promise<void> {
      await pool?.terminate();
    },
  };
}

/** Times each stage alone (`run_stage` over all its rows, one thread); for the benchmark. */
export async function profileStages(
  source: WasmModelSource,
  runs: number,
): Promise<{ name: string; kind: string; macs: number; ms: number }[]> {
  const loaded = await load(source);
  const { manifest } = loaded;
  const relaxed = manifest.quantization ? relaxedDotExact() : relaxedSimdSupported();
  const variant = chooseVariant({ threads: false, relaxed });
  const got = (await loaded.module(variant)) ?? (await loaded.module('simd'));
  if (got === undefined)
    throw new DepthEstimatorError(`wasm profile: no ${variant} or simd build given`, 'BAD_MODEL');
  const memory = createWasmMemory(manifest, false);
  const weights = await loaded.weights();
  copyWeights(manifest, memory, weights.bytes, weights.where);
  const exports = await instantiate(got.module, memory, got.where);
  const now = (): number => (typeof performance === 'undefined' ? Date.now() : performance.now());
  exports.run(0, 1); // warm-up, and every stage's input in place
  return manifest.stages.map((stage, index) => {
    const times: number[] = [];
    for (let r = 0; r < runs; r++) {
      const start = now();
      exports.run_stage(index, 0, stage.rows, 0);
      times.push(now() - start);
    }
    times.sort((a, b) => a - b);
    return { name: stage.name, kind: stage.kind, macs: stage.macs, ms: times[times.length >> 1]! };
  });
}
