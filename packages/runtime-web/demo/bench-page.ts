/**
 * Browser half of `bench/bench.ts` and of the wasm engine's e2e test: times `estimate` for one
 * engine at one thread count on models emitted into `tmp/generated/bench/` (served under
 * `/bench-models/`), runs one prepared input through an engine, and times the wasm engine's
 * stages. A fresh page per configuration, since the wasm thread count is fixed when a runtime
 * initialises.
 */
import {
  createDepthEstimator,
  type EngineName,
  type ModelSource,
  type TfjsModelModule,
} from '@fastdepth/runtime-web';
import '@fastdepth/runtime-web/onnx';
import { wasmPaths } from 'virtual:demo-model';
import { profileStages } from '../src/wasm-engine.js';

interface BenchRequest {
  readonly engine: EngineName;
  readonly threads: number;
  readonly models: readonly { readonly name: string; readonly modulePath: string }[];
  readonly warmup: number;
  readonly runs: number;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function bench(request: BenchRequest): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const { name, modulePath } of request.models) {
    const model: ModelSource =
      request.engine === 'tfjs'
        ? {
            engine: 'tfjs',
            module: (await import(/* @vite-ignore */ `/@fs${modulePath}`)) as TfjsModelModule,
            weights: { manifestUrl: `/bench-models/${name}.weights.json` },
          }
        : request.engine === 'onnx'
          ? { engine: 'onnx', model: `/bench-models/${name}.onnx` }
          : { engine: 'wasm', model: { manifestUrl: `/bench-models/wasm/${name}.wasm-manifest.json` } };
    const estimator = await createDepthEstimator({
      model,
      backend: 'wasm',
      numThreads: request.threads,
      wasmPaths,
    });
    const image = {
      data: new Uint8ClampedArray(estimator.width * estimator.height * 4).map((_, i) => (i * 37) % 251),
      width: estimator.width,
      height: estimator.height,
    };
    for (let i = 0; i < request.warmup; i++) await estimator.estimate(image);
    const times: number[] = [];
    for (let i = 0; i < request.runs; i++) times.push((await estimator.estimate(image)).latencyMs);
    out[name] = median(times);
    out[`${name}:threads`] = estimator.threads;
    await estimator.dispose();
  }
  return out;
}

/** One prepared input (HWC RGB in [0, 1]) through an engine, for parity checks. */
interface RunRequest {
  readonly model: ModelSource;
  readonly threads: number;
  readonly rgb: readonly number[];
}

async function runOnce(
  request: RunRequest,
): Promise<{ depth: number[]; threads: number; backend: string; backendReason: string }> {
  const estimator = await createDepthEstimator({
    model: request.model,
    numThreads: request.threads,
    wasmPaths,
  });
  try {
    const { width, height } = estimator;
    // Twice: the second run reuses every buffer (and, with threads, the woken pool).
    await estimator.estimateRgb({ data: Float32Array.from(request.rgb), width, height });
    const result = await estimator.estimateRgb({ data: Float32Array.from(request.rgb), width, height });
    return {
      depth: Array.from(result.depth),
      threads: estimator.threads,
      backend: estimator.backend,
      backendReason: estimator.backendReason,
    };
  } finally {
    await estimator.dispose();
  }
}

/** Per-stage medians of the wasm engine (one thread, `run_stage` over all rows). */
async function stages(request: { readonly name: string; readonly runs: number }): Promise<unknown> {
  return profileStages(
    { engine: 'wasm', model: { manifestUrl: `/bench-models/wasm/${request.name}.wasm-manifest.json` } },
    request.runs,
  );
}

Object.assign(globalThis, { fastdepthBench: bench, fastdepthRun: runOnce, fastdepthStages: stages });
document.getElementById('state')!.textContent = 'ready';
