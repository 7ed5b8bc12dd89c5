/**
 * The ONNX engine: the model emitted by `@fastdepth/codegen-onnx`, run by onnxruntime-web
 * (browser: webgpu or wasm; Node: wasm) or onnxruntime-node (Node: `cpu`). onnxruntime-node
 * is imported through a hidden specifier, so browser bundles never see it.
 */
import { importHidden, isNode, loadBytes } from './env.js';
import { DepthEstimatorError } from './errors.js';
import type { BackendName, OnnxModelSource, WasmPaths } from './types.js';

type Ort = typeof import('onnxruntime-web');
type Session = import('onnxruntime-web').InferenceSession;

/** The order tried when no backend is named. */
export const ONNX_BACKEND_ORDER: Readonly<Record<'browser' | 'node', readonly BackendName[]>> = {
  browser: ['webgpu', 'wasm'],
  node: ['cpu', 'wasm'],
};

async function runtimeFor(
  backend: BackendName,
  numThreads: number,
  wasmPaths: WasmPaths | undefined,
): Promise<Ort> {
  if (backend === 'cpu') {
    if (!isNode()) throw new Error('the cpu backend of the onnx engine is onnxruntime-node (Node only)');
    return importHidden<Ort>('onnxruntime-node');
  }
  if (backend === 'webgl') throw new Error('not offered (use webgpu or wasm)');
  if (backend === 'webgpu' && (typeof navigator === 'undefined' || !('gpu' in navigator)))
    throw new Error('WebGPU is not available here');
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = numThreads;
  if (wasmPaths?.onnx !== undefined) ort.env.wasm.wasmPaths = wasmPaths.onnx;
  else if (!isNode()) {
    throw new Error(
      'no wasmPaths.onnx given: serve onnxruntime-web/dist/ort-wasm-*.{wasm,mjs} and pass its URL prefix (never fetched from a CDN)',
    );
  }
  return ort;
}

async function modelBytes(source: OnnxModelSource): Promise<Uint8Array> {
  const { model } = source;
  if (model instanceof Uint8Array) return model;
  if (model instanceof ArrayBuffer) return new Uint8Array(model);
  return new Uint8Array(await loadBytes(model, 'onnx model'));
}

/** A loaded ONNX session: runs NCHW float input to the depth values. */
export interface OnnxRunner {
  readonly backend: BackendName;
  /** Why this backend (requested, or what the automatic choice passed over). */
  readonly backendReason: string;
  /** Threads the session was opened with (onnxruntime-web falls back to 1 without cross-origin isolation). */
  readonly threads: number;
  readonly width: number;
  readonly height: number;
  run(input: Float32Array): Promise<Float32Array>;
  dispose(): Promise<void>;
}

async function open(ort: Ort, backend: BackendName, bytes: Uint8Array, numThreads: number): Promise<Session> {
  const options: import('onnxruntime-web').InferenceSession.SessionOptions =
    backend === 'cpu'
      ? { executionProviders: ['cpu'], intraOpNumThreads: numThreads, interOpNumThreads: 1 }
      : { executionProviders: [backend] };
  return ort.InferenceSession.create(bytes, options);
}

function inputSize(session: Session): [number, number] {
  const meta = session.inputMetadata[0];
  const shape = meta !== undefined && meta.isTensor ? meta.shape : [];
  const [n, c, h, w] = shape;
  if (shape.length !== 4 || n !== 1 || c !== 3 || typeof h !== 'number' || typeof w !== 'number') {
    throw new DepthEstimatorError(
      `onnx model: input shape [${shape.join(', ')}], expected [1, 3, H, W] with a fixed H and W`,
      'BAD_MODEL',
    );
  }
  return [h, w];
}

/** Opens `source` with the requested runtime, or the first of the default order that works. */
export async function createOnnxRunner(
  source: OnnxModelSource,
  requested: BackendName | undefined,
  numThreads: number,
  wasmPaths: WasmPaths | undefined,
): Promise<OnnxRunner> {
  const bytes = await modelBytes(source);
  const order = requested === undefined ? ONNX_BACKEND_ORDER[isNode() ? 'node' : 'browser'] : [requested];
  const failures: string[] = [];
  for (const backend of order) {
    let ort: Ort;
    let session: Session;
    try {
      ort = await runtimeFor(backend, numThreads, wasmPaths);
      session = await open(ort, backend, bytes, numThreads);
    } catch (error) {
      failures.push(`${backend}: ${(error as Error).message}`);
      continue;
    }
    const [height, width] = inputSize(session);
    const inputName = session.inputNames[0]!;
    const outputName = session.outputNames[0]!;
    const before = failures.length === 0 ? '' : ` (${failures.join('; ')})`;
    return {
      backend,
      backendReason:
        requested === undefined
          ? `${backend}: first usable of ${order.join(' > ')}${before}`
          : `${backend}: requested`,
      threads: backend === 'cpu' ? numThreads : (ort.env.wasm.numThreads ?? 1),
      width,
      height,
      async run(input: Float32Array): Promise<Float32Array> {
        const x = new ort.Tensor('float32', input, [1, 3, height, width]);
        const outputs = await session.run({ [inputName]: x });
        const y = outputs[outputName];
        if (y === undefined)
          throw new DepthEstimatorError(`onnx model: no output "${outputName}"`, 'BAD_MODEL');
        try {
          const data = (await y.getData()) as Float32Array;
          if (data.length !== width * height) {
            throw new DepthEstimatorError(
              `onnx model: output "${outputName}" has ${data.length} values, expected 1x1x${height}x${width}`,
              'BAD_MODEL',
            );
          }
          return data;
        } finally {
          y.dispose();
        }
      },
      async dispose(): Promise<void> {
        await session.release();
      },
    };
  }
  throw new DepthEstimatorError(`onnx: no runtime initialised (${failures.join('; ')})`, 'NO_BACKEND');
}
