/**
 * Browser half of `bench/bench.ts`: times `estimate` for one engine at one thread count on
 * models emitted into `tmp/generated/bench/` (served under `/bench-models/`). A fresh page per
 * configuration, since the wasm thread count is fixed when a runtime initialises.
 */
import { createDepthEstimator, type EngineName, type TfjsModelModule } from '@fastdepth/runtime-web';
import { wasmPaths } from 'virtual:demo-model';

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
    const model =
      request.engine === 'tfjs'
        ? {
            engine: 'tfjs' as const,
            module: (await import(/* @vite-ignore */ `/@fs${modulePath}`)) as TfjsModelModule,
            weights: { manifestUrl: `/bench-models/${name}.weights.json` },
          }
        : { engine: 'onnx' as const, model: `/bench-models/${name}.onnx` };
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

Object.assign(globalThis, { fastdepthBench: bench });
document.getElementById('state')!.textContent = 'ready';
