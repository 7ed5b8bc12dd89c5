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
import {
  INTEGER_ARITHMETICS,
  quote,
  type IntegerArithmetic,
  type Model,
  type QuantizedModel,
} from '@fastdepth/graph-dsl';
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

/**
 * `--int8-arithmetic`: how an int8 model's integers are requantised. The default is XNNPACK's,
 * what TFLite's default CPU delegate and LiteRT.js compute, so the int8 engine gives the integers
 * a developer holding the .tflite file sees from those runtimes; `tflite` is the arithmetic of
 * TFLite's reference kernels (what the file format specifies; the two differ by one output step
 * on a share of the pixels).
 */
export const DEFAULT_INT8_ARITHMETIC: IntegerArithmetic = 'xnnpack';

/** Checks `--int8-arithmetic` (absent: the default). */
export function parseInt8Arithmetic(value: string | undefined): IntegerArithmetic {
  if (value === undefined) return DEFAULT_INT8_ARITHMETIC;
  if (!(INTEGER_ARITHMETICS as readonly string[]).includes(value))
    throw new UserError(
      `--int8-arithmetic must be one of ${INTEGER_ARITHMETICS.join(', ')}, found ${quote(value)}`,
    );
  return value as IntegerArithmetic;
}

/** `model` declaring `arithmetic` (its integers unchanged). */
export function withInt8Arithmetic(model: QuantizedModel, arithmetic: IntegerArithmetic): QuantizedModel {
  const { graph } = model;
  return { ...model, graph: { ...graph, quantization: { ...graph.quantization, arithmetic } } };
}

/**
 * The int8 model predict/eval run, in the `--int8-arithmetic` asked for; the flag is refused when
 * the engine runs no int8 model.
 */
export function int8ModelFor(
  precision: 'int8' | 'float32',
  quantized: QuantizedModel | undefined,
  arithmeticFlag: string | undefined,
): QuantizedModel | undefined {
  const arithmetic = parseInt8Arithmetic(arithmeticFlag);
  if (precision !== 'int8' || !quantized) {
    if (arithmeticFlag !== undefined)
      throw new UserError(
        '--int8-arithmetic applies to an int8 model only (--engine wasm with an int8 .tflite, --precision auto or int8)',
      );
    return undefined;
  }
  return withInt8Arithmetic(quantized, arithmetic);
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
