/**
 * Runs a `-threads` module on N worker_threads sharing one memory (the workers of
 * `run-worker.ts`), one inference per input, and returns each output. For the tests that the
 * threaded schedule gives the single-thread result bit for bit.
 */
import { Worker } from 'node:worker_threads';
import type { WasmManifest } from '../manifest.js';
import { createWasmMemory, loadWasmModel } from './load.js';
import { RUN_WORKER_SOURCE } from './run-worker.js';

/** A float (`emitWasm`) or int8 (`emitWasmInt8`) artifact. */
export interface ThreadedArtifact {
  readonly manifest: WasmManifest;
  readonly modules: Partial<Record<'simd-threads' | 'relaxed-threads', Uint8Array<ArrayBuffer>>>;
  readonly weights: Uint8Array;
}

export async function runThreaded(
  artifact: ThreadedArtifact,
  inputs: readonly Float32Array[],
  threads: number,
  variant: 'simd-threads' | 'relaxed-threads' = 'simd-threads',
): Promise<Float32Array[]> {
  const bytes = artifact.modules[variant];
  if (bytes === undefined) throw new Error(`runThreaded: the artifact has no ${variant} module`);
  const memory = createWasmMemory(artifact.manifest, true);
  const host = await loadWasmModel(artifact.manifest, bytes, artifact.weights, { memory });
  const module = await WebAssembly.compile(bytes);
  const control = new SharedArrayBuffer(8);
  const flags = new Int32Array(control);
  const runs = inputs.length;
  const workers = Array.from(
    { length: threads },
    (_, thread) =>
      new Worker(RUN_WORKER_SOURCE, {
        eval: true,
        workerData: { module, memory, thread, threads, runs, control },
      }),
  );
  let failure: Error | undefined;
  const finished = workers.map(
    (w) =>
      new Promise<void>((resolve, reject) => {
        w.once('message', () => resolve());
        w.once('error', (e: Error) => {
          failure = e;
          reject(e);
        });
      }),
  );
  // Waits without blocking the event loop, so a worker's error is seen instead of a hang.
  const allReported = async (): Promise<void> => {
    const deadline = Date.now() + 60_000;
    while (Atomics.load(flags, 1) < threads) {
      if (failure) throw failure;
      if (Date.now() > deadline) throw new Error(`${threads} workers did not finish within 60 s`);
      await new Promise((r) => setTimeout(r, 1));
    }
  };
  await new Promise((r) => setTimeout(r, 1000));
  const outputs: Float32Array[] = [];
  try {
    for (let r = 0; r < runs; r++) {
      host.writeInput(inputs[r]!);
      host.resetBarrier();
      Atomics.store(flags, 1, 0);
      Atomics.store(flags, 0, r + 1);
      Atomics.notify(flags, 0);
      await allReported();
      outputs.push(host.readOutput());
    }
    await Promise.all(finished);
    return outputs;
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
