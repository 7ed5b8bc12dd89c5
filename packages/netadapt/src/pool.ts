/**
 * Proposal fine-tuning, in-process or in a pool of worker threads (scoring happens in the
 * loop, through the recovery). Workers rebuild the default trainer from its portable spec. The worker entry is
 * `worker.js` next to this file when built (dist/); from sources (tests, tsx) it is `worker.ts`
 * started with tsx's loader and the `@fastdepth/source` condition.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { FastDepthError, saveGraph, type Model, type TensorF32 } from '@fastdepth/graph-dsl';
import type { PortableTask, Trainer } from './train.js';

/** One job: fine-tune `model` for `steps` (seeded). */
export interface ProposalJob {
  readonly model: Model;
  readonly steps: number;
  readonly seed: number;
}

export interface ProposalOutcome {
  readonly model: Model;
}

/** Runs jobs; `close` ends any workers. */
export interface ProposalPool {
  run(job: ProposalJob): Promise<ProposalOutcome>;
  close(): Promise<void>;
}

/** Messages between the pool and `worker.ts`. */
export interface WorkerRequest {
  readonly id: number;
  readonly graph: string;
  readonly weights: readonly (readonly [string, TensorF32])[];
  readonly steps: number;
  readonly seed: number;
}
export type WorkerResponse =
  | {
      readonly id: number;
      readonly weights: readonly (readonly [string, TensorF32])[];
    }
  | { readonly id: number; readonly error: string };
export interface WorkerInit {
  readonly train: PortableTask;
}

/** Fine-tunes in this thread. */
export function inProcessPool(trainer: Trainer): ProposalPool {
  return {
    async run(job) {
      return { model: await trainer.train(job.model, job.steps, job.seed) };
    },
    close: () => Promise.resolve(),
  };
}

/**
 * A worker thread running `entry` (a path next to this file, without extension): the built
 * `.js`, or from sources the `.ts` through tsx's loader (tests, tsx).
 */
export function startThread(entry: string, workerData: unknown): Worker {
  const built = new URL(`./${entry}.js`, import.meta.url);
  if (existsSync(fileURLToPath(built))) return new Worker(built, { workerData });
  const require = createRequire(import.meta.url);
  // require.resolve finds the CommonJS build; the ESM one sits beside it.
  const tsx = pathToFileURL(require.resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  const source = new URL(`./${entry}.ts`, import.meta.url).href;
  // A loader registered with --import does not reach worker threads; register it inside.
  const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(source)}); });`;
  return new Worker(code, { eval: true, workerData, execArgv: ['--conditions=@fastdepth/source'] });
}

/** The fine-tuning worker. */
const startWorker = (init: WorkerInit): Worker => startThread('worker', init);

/** A pool of `size` worker threads; the trainer must be portable. */
export function workerPool(size: number, trainer: Trainer): ProposalPool {
  if (!trainer.portable) {
    throw new FastDepthError(
      'workers > 0 needs the built-in trainer (portable); use workers: 0 for a custom one',
    );
  }
  const init: WorkerInit = { train: trainer.portable };
  const idle: Worker[] = [];
  const all: Worker[] = [];
  const waiting: ((w: Worker) => void)[] = [];
  let nextId = 0;
  for (let i = 0; i < size; i++) {
    const w = startWorker(init);
    all.push(w);
    idle.push(w);
  }
  const acquire = (): Promise<Worker> =>
    new Promise((resolve) => {
      const w = idle.pop();
      if (w) resolve(w);
      else waiting.push(resolve);
    });
  const release = (w: Worker): void => {
    const next = waiting.shift();
    if (next) next(w);
    else idle.push(w);
  };
  return {
    async run(job) {
      const worker = await acquire();
      const id = nextId++;
      try {
        const response = await new Promise<WorkerResponse>((resolve, reject) => {
          const onMessage = (m: WorkerResponse): void => {
            if (m.id !== id) return;
            worker.off('message', onMessage);
            worker.off('error', reject);
            resolve(m);
          };
          worker.on('message', onMessage);
          worker.once('error', reject);
          const request: WorkerRequest = {
            id,
            graph: saveGraph(job.model.graph),
            weights: [...job.model.weights],
            steps: job.steps,
            seed: job.seed,
          };
          worker.postMessage(request);
        });
        if ('error' in response) throw new Error(`proposal worker: ${response.error}`);
        return { model: { graph: job.model.graph, weights: new Map(response.weights) } };
      } finally {
        release(worker);
      }
    },
    async close() {
      await Promise.all(all.map((w) => w.terminate()));
    },
  };
}
