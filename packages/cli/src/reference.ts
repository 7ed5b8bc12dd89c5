/**
 * The fixed check input every `compile` uses, and the reference executor's answer on it:
 * emitted artifacts are compared against this (and TVM's build.py re-checks against it).
 */
import {
  execute,
  graphInputs,
  graphOutputs,
  inferShapes,
  randomTensor,
  type Model,
  type TensorF32,
} from '@fastdepth/graph-dsl';

export const CHECK_INPUT_SEED = 2019;

export interface ReferenceCase {
  readonly input: TensorF32;
  readonly expected: TensorF32;
}

/** A seeded image-like input in [0, 1] and the float64 reference output (as float32). */
export function referenceCase(model: Model): ReferenceCase {
  const inputNode = graphInputs(model.graph)[0]!;
  const shape = inferShapes(model.graph).get(inputNode.name)!;
  const input = randomTensor(shape, CHECK_INPUT_SEED, 0, 1);
  const outputNode = graphOutputs(model.graph)[0]!;
  const out = execute(model.graph, model.weights, { [inputNode.name]: input })[outputNode.name]!;
  return { input, expected: { shape: out.shape, data: Float32Array.from(out.data) } };
}
