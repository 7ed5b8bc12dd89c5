/**
 * Compile targets: one entry per emitter. Each turns a model into files (paths relative to
 * the target's own folder) and the checks it ran. Adding a target is one entry here.
 */
import { encodeOnnx } from '@fastdepth/codegen-onnx';
import { graphInputs, type Model } from '@fastdepth/graph-dsl';
import type { OutputFile } from './fs-atomic.js';
import { onnxParity } from './onnx-check.js';
import type { ReferenceCase } from './reference.js';

export interface TargetInput {
  readonly model: Model;
  /** File stem for the artifacts, e.g. `fastdepth-pruned`. */
  readonly stem: string;
  readonly reference: ReferenceCase;
  readonly opset: number;
  readonly foldBatchNorm: boolean;
}

export interface Check {
  readonly name: string;
  /** Max abs error relative to the reference output's max. */
  readonly maxRelativeError: number;
  readonly limit: number;
}

export interface TargetOutput {
  readonly files: readonly OutputFile[];
  readonly checks: readonly Check[];
  /** One line for people, e.g. "opset 13, BN kept". */
  readonly summary: string;
}

export const PARITY_LIMIT = 1e-4;

export const TARGET_NAMES = ['onnx'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

export const TARGETS: Readonly<Record<TargetName, (input: TargetInput) => Promise<TargetOutput>>> = {
  onnx: async ({ model, stem, reference, opset, foldBatchNorm }) => {
    const bytes = encodeOnnx(model, { opset, foldBatchNorm, docString: `${stem}, emitted by fastdepth compile` });
    const inputName = graphInputs(model.graph)[0]!.name;
    const err = await onnxParity(bytes, inputName, reference.input, reference.expected);
    return {
      files: [{ name: `${stem}.onnx`, data: bytes }],
      checks: [{ name: 'onnxruntime-node vs reference executor', maxRelativeError: err, limit: PARITY_LIMIT }],
      summary: `opset ${opset}, BatchNorm ${foldBatchNorm ? 'folded' : 'kept'}`,
    };
  },
};
