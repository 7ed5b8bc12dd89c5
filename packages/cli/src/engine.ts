/**
 * The engines `predict` and `eval` run a model on, all through runtime-web's estimator (the
 * same code an application uses): `tfjs` = the generated tfjs module (wasm, or cpu), `onnx` =
 * the emitted ONNX in onnxruntime-node, `wasm` = the module compiled by codegen-wasm (threads
 * in worker_threads; its int8 build when the weights carry an int8 model).
 */
import { encodeOnnx } from '@fastdepth/codegen-onnx';
import { emitTfjs } from '@fastdepth/codegen-tfjs';
import { importGeneratedModule } from '@fastdepth/codegen-tfjs/node';
import { emitWasmInt8 } from '@fastdepth/codegen-wasm';
import { quote, type Model, type QuantizedModel } from '@fastdepth/graph-dsl';
import { createDepthEstimator, type BackendName, type DepthEstimator } from '@fastdepth/runtime-web';
import { UserError } from './errors.js';
import { parseInteger } from './options.js';
import { wasmArtifact } from './targets.js';

export const ENGINES = ['tfjs', 'onnx', 'wasm'] as const;
export type EngineChoice = (typeof ENGINES)[number];
/** onnxruntime-node is the fastest engine in Node (see --engine's help for the figures). */
export const DEFAULT_ENGINE: EngineChoice = 'onnx';

export function parseEngine(value: string): EngineChoice {
  if (!(ENGINES as readonly string[]).includes(value))
    throw new UserError(`--engine must be one of ${ENGINES.join(', ')}, found "${value}"`);
  return value as EngineChoice;
}

const BACKENDS: readonly BackendName[] = ['wasm', 'cpu'];

export function parseBackend(value: string | undefined, engine?: EngineChoice): BackendName | undefined {
  if (value === undefined) return undefined;
  if (!(BACKENDS as readonly string[]).includes(value))
    throw new UserError(`--backend must be one of ${BACKENDS.join(', ')} in Node, found "${value}"`);
  if (engine === 'wasm' && value !== 'wasm')
    throw new UserError(`--backend ${value}: the wasm engine runs on wasm only (omit --backend)`);
  return value as BackendName;
}

/** The most `--threads` accepted: more than the cores only adds switching. */
export const MAX_THREADS = 64;

/**
 * `--threads N` (default 1): onnx (onnxruntime-node intra-op threads, or onnxruntime-web's
 * pool) and wasm (worker_threads); tfjs-wasm in Node is single-threaded.
 */
export function parseThreads(value: string | undefined, engine: EngineChoice): number {
  if (value === undefined) return 1;
  const threads = parseInteger('--threads', value, 1, MAX_THREADS);
  if (threads > 1 && engine === 'tfjs')
    throw new UserError('--threads: the tfjs engine runs one thread in Node (use --engine wasm or onnx)');
  return threads;
}

/** `--precision`: which reading of the model the wasm engine runs. */
export const PRECISIONS = ['auto', 'int8', 'float32'] as const;
export type Precision = (typeof PRECISIONS)[number];

/**
 * The precision the engine runs: `auto` is int8 on the wasm engine when the weights carry
 * their own int8 model (the paper's TFLite file), float32 otherwise; `int8` needs both.
 */
export function parsePrecision(
  value: string | undefined,
  engine: EngineChoice,
  quantized: QuantizedModel | undefined,
): 'int8' | 'float32' {
  const precision = value ?? 'auto';
  if (!(PRECISIONS as readonly string[]).includes(precision))
    throw new UserError(`--precision must be one of ${PRECISIONS.join(', ')}, found ${quote(precision)}`);
  if (precision === 'int8') {
    if (engine !== 'wasm') throw new UserError('--precision int8: only the wasm engine runs int8 models');
    if (!quantized)
      throw new UserError('--precision int8: the weights carry no int8 model (give an int8 .tflite file)');
  }
  return precision === 'float32' || engine !== 'wasm' || !quantized ? 'float32' : 'int8';
}

export async function createEstimator(
  model: Model,
  engine: EngineChoice,
  backend?: BackendName,
  numThreads = 1,
  /** The model's int8 reading, run instead of `model` by the wasm engine. */
  int8?: QuantizedModel,
): Promise<DepthEstimator> {
  const options = { ...(backend === undefined ? {} : { backend }), numThreads };
  if (engine === 'wasm' && int8) {
    const { manifest, modules, weights } = emitWasmInt8(int8, { arch: model.graph.name });
    return createDepthEstimator({
      model: { engine: 'wasm', model: { manifest, modules, weights } },
      ...options,
    });
  }
  if (engine === 'onnx')
    return createDepthEstimator({ model: { engine: 'onnx', model: encodeOnnx(model) }, ...options });
  if (engine === 'wasm') {
    return createDepthEstimator({ model: wasmArtifact(model, model.graph.name).source, ...options });
  }
  const loaded = await importGeneratedModule(emitTfjs(model));
  return createDepthEstimator({
    model: {
      engine: 'tfjs',
      module: loaded.module,
      weights: { manifest: loaded.manifest, buffer: loaded.weights },
    },
    ...options,
  });
}
