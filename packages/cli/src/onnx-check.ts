/** Runs an emitted ONNX model in onnxruntime-node (a runtime we did not write). */
import * as ort from 'onnxruntime-node';
import { maxRelativeError, type TensorF32 } from '@fastdepth/graph-dsl';

export async function runOnnx(bytes: Uint8Array, inputName: string, input: TensorF32): Promise<TensorF32> {
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all' });
  try {
    const feeds = { [inputName]: new ort.Tensor('float32', input.data, input.shape) };
    const results = await session.run(feeds);
    const out = results[session.outputNames[0]!]!;
    return { shape: out.dims, data: out.data as Float32Array };
  } finally {
    await session.release();
  }
}

/** max |onnxruntime - reference| / max |reference|. */
export async function onnxParity(
  bytes: Uint8Array,
  inputName: string,
  input: TensorF32,
  expected: TensorF32,
): Promise<number> {
  const out = await runOnnx(bytes, inputName, input);
  return maxRelativeError(out.data, expected.data);
}
