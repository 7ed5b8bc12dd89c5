/**
 * The engines `predict` and `eval` run a model on, all through runtime-web's estimator (the
 * same code an application uses): `tfjs` = the generated tfjs module (wasm, or cpu), `onnx` =
 * the emitted ONNX in onnxruntime-node.
 */
import { encodeOnnx } from '@fastdepth/codegen-onnx';
import { emitTfjs } from '@fastdepth/codegen-tfjs';
import { importGeneratedModule } from '@fastdepth/codegen-tfjs/node';
import type { Model } from '@fastdepth/graph-dsl';
import { createDepthEstimator, type BackendName, type DepthEstimator } from '@fastdepth/runtime-web';
import { UserError } from './errors.js';

export const ENGINES = ['tfjs', 'onnx'] as const;
export type EngineChoice = (typeof ENGINES)[number];
/** onnxruntime-node is the fastest engine in Node (see --engine's help for the figures). */
export const DEFAULT_ENGINE: EngineChoice = 'onnx';

export function parseEngine(value: string): EngineChoice {
  if (!(ENGINES as readonly string[]).includes(value))
    throw new UserError(`--engine must be one of ${ENGINES.join(', ')}, found "${value}"`);
  return value as EngineChoice;
}

const BACKENDS: readonly BackendName[] = ['wasm', 'cpu'];

export function parseBackend(value: string | undefined): BackendName | undefined {
  if (value === undefined) return undefined;
  if (!(BACKENDS as readonly string[]).includes(value))
    throw new UserError(`--backend must be one of ${BACKENDS.join(', ')} in Node, found "${value}"`);
  return value as BackendName;
}

export async function createEstimator(
  model: Model,
  engine: EngineChoice,
  backend?: BackendName,
): Promise<DepthEstimator> {
  const options = backend === undefined ? {} : { backend };
  if (engine === 'onnx')
    return createDepthEstimator({ model: { engine: 'onnx', model: encodeOnnx(model) }, ...options });
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
