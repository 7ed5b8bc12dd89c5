/**
 * onnxruntime-node helpers for the tests and the benchmark only: not exported from the package
 * and not part of the library build (onnxruntime-node is a dev dependency).
 */
import ort from 'onnxruntime-node';

/** A float32 NCHW tensor. */
export interface F32Tensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export interface OrtOptions {
  /** Threads inside one op; unset = onnxruntime's default (one per core). */
  readonly intraOpNumThreads?: number;
}

export type OrtSession = ort.InferenceSession;

/** Loads `.onnx` bytes into a CPU session with full graph optimisation. */
export async function createSession(bytes: Uint8Array, options: OrtOptions = {}): Promise<OrtSession> {
  return ort.InferenceSession.create(bytes, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    ...(options.intraOpNumThreads === undefined ? {} : { intraOpNumThreads: options.intraOpNumThreads }),
  });
}

/** Runs a session on named float32 inputs; returns every output by name. */
export async function runSession(
  session: OrtSession,
  inputs: Readonly<Record<string, F32Tensor>>,
): Promise<Record<string, F32Tensor>> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(inputs))
    feeds[name] = new ort.Tensor('float32', t.data, [...t.shape]);
  const results = await session.run(feeds);
  const out: Record<string, F32Tensor> = {};
  for (const name of session.outputNames) {
    const t = results[name]!;
    if (t.type !== 'float32') throw new Error(`output "${name}" is ${t.type}, expected float32`);
    out[name] = { shape: [...t.dims], data: t.data as Float32Array };
  }
  return out;
}

/** Runs a single-input model once and returns its first output. */
export async function runOnnx(
  bytes: Uint8Array,
  input: F32Tensor,
  options: OrtOptions = {},
): Promise<F32Tensor> {
  const session = await createSession(bytes, options);
  try {
    const outputs = await runSession(session, { [session.inputNames[0]!]: input });
    return outputs[session.outputNames[0]!]!;
  } finally {
    await session.release();
  }
}
