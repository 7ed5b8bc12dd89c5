/**
 * The fixed check input every `compile` uses, and the reference executor's answer on it:
 * emitted artifacts are compared against this (and TVM's build.py re-checks against it).
 */
import {
  constantValue,
  execute,
  graphInputs,
  graphOutputs,
  inferShapes,
  randomTensor,
  type Model,
  type TensorF32,
} from '@fastdepth/graph-dsl';
import { UserError } from './errors.js';

export const CHECK_INPUT_SEED = 2019;

export interface ReferenceCase {
  readonly input: TensorF32;
  readonly expected: TensorF32;
}

/**
 * A seeded image-like input in [0, 1] and the float64 reference output (as float32). Refuses
 * a constant output (all zeros, typically: a dead last ReLU): every check against it would
 * pass whatever the emitted code computes. `stem` names the model in that message.
 */
export function referenceCase(model: Model, stem: string = model.graph.name): ReferenceCase {
  const inputNode = graphInputs(model.graph)[0]!;
  const shape = inferShapes(model.graph).get(inputNode.name)!;
  const input = randomTensor(shape, CHECK_INPUT_SEED, 0, 1);
  const outputNode = graphOutputs(model.graph)[0]!;
  const out = execute(model.graph, model.weights, { [inputNode.name]: input })[outputNode.name]!;
  const expected = Float32Array.from(out.data);
  const value = constantValue(expected);
  if (value !== undefined) {
    throw new UserError(
      `${stem}: the reference output on the check input is constant (${value} everywhere), so no parity check could fail against it: use weights whose output varies — nothing was written`,
    );
  }
  return { input, expected: { shape: out.shape, data: expected } };
}
