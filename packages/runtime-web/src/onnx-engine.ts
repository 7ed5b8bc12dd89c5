/**
 * The ONNX engine: the model emitted by `@fastdepth/codegen-onnx`, run by onnxruntime-web
 * (browser: webgpu or wasm; Node: wasm) or onnxruntime-node (Node: `cpu`).
 *
 * Nothing here imports onnxruntime-web (an optional peer of 28 MB of wasm): a page that uses
 * this engine imports `@fastdepth/runtime-web/onnx` (or `/onnx-wasm`), which registers the
 * runtime, so a bundler gives the wasm to that page only. In Node, onnxruntime-web and
 * onnxruntime-node are imported through hidden specifiers when nothing was registered.
 */
import { importHidden, isNode, isolationProblem, loadBytes } from './env.js';
import { DepthEstimatorError } from './errors.js';
import type { BackendName, OnnxModelSource, WasmPaths } from './types.js';

/** Types only: erased at compile time, so the main entry carries no onnxruntime-web import. */
type Ort = typeof import('onnxruntime-web');
type Session = import('onnxruntime-web').InferenceSession;

/** onnxruntime-web as `@fastdepth/runtime-web/onnx` registered it (browser and Node). */
let registered: { readonly ort: Ort; readonly entry: string } | undefined;

/**
 * Makes `ort` (the `onnxruntime-web` module, or its `/wasm` build) the runtime of the onnx
 * engine; `entry` names it in `backendReason`. Called by `@fastdepth/runtime-web/onnx`.
 */
export function registerOnnxRuntime(ort: unknown, entry: string): void {
  const candidate = ort as Partial<Ort> | undefined;
  if (typeof candidate?.InferenceSession?.create !== 'function' || typeof candidate.Tensor !== 'function')
    throw new DepthEstimatorError(
      `registerOnnxRuntime: ${entry} is not onnxruntime-web (no InferenceSession.create / Tensor)`,
      'BAD_OPTION',
    );
  registered = { ort: ort as Ort, entry };
}

const MISSING =
  'onnxruntime-web is not loaded: install it (npm install onnxruntime-web, an optional peer of @fastdepth/runtime-web) and import "@fastdepth/runtime-web/onnx" on the page that uses the onnx engine';

/**
 * The registered onnxruntime-web; in Node, the installed one. Throws RUNTIME_MISSING where
 * there is none (a browser page that did not import `@fastdepth/runtime-web/onnx`).
 */
export async function onnxWebRuntime(): Promise<Ort> {
  if (registered !== undefined) return registered.ort;
  if (!isNode()) throw new DepthEstimatorError(`onnx engine: ${MISSING}`, 'RUNTIME_MISSING');
  try {
    return await importHidden<Ort>('onnxruntime-web');
  } catch (error) {
    throw new DepthEstimatorError(
      `onnx engine: onnxruntime-web cannot be imported (${(error as Error).message}); npm install onnxruntime-web`,
      'RUNTIME_MISSING',
    );
  }
}

/** A runtime that is not installed or not registered (not a backend that failed to start). */
class RuntimeMissing extends Error {}

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
    try {
      return await importHidden<Ort>('onnxruntime-node');
    } catch (error) {
      throw new RuntimeMissing(
        `onnxruntime-node cannot be imported (${(error as Error).message}); install it with ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node where the machine is offline`,
      );
    }
  }
  if (backend === 'webgl') throw new Error('not offered (use webgpu or wasm)');
  if (backend === 'webgpu' && (typeof navigator === 'undefined' || !('gpu' in navigator)))
    throw new Error('WebGPU is not available here');
  let ort: Ort;
  try {
    ort = await onnxWebRuntime();
  } catch (error) {
    throw new RuntimeMissing((error as Error).message.replace(/^onnx engine: /, ''));
  }
  ort.env.wasm.numThreads = numThreads;
  // Without wasmPaths, onnxruntime-web finds its wasm beside its own module (import.meta.url),
  // which is where a bundler (Vite: the fastdepth plugin) puts it; never a CDN.
  if (wasmPaths?.onnx !== undefined) ort.env.wasm.wasmPaths = wasmPaths.onnx;
  return ort;
}

/**
 * The threads onnxruntime-web really runs: it falls back to one where the page is not
 * cross-origin isolated (no SharedArrayBuffer), whatever `env.wasm.numThreads` says.
 */
function webThreads(numThreads: number): { threads: number; note?: string } {
  if (numThreads <= 1) return { threads: 1 };
  const why = isolationProblem();
  return why === undefined
    ? { threads: numThreads }
    : { threads: 1, note: `1 thread, not ${numThreads}: ${why}` };
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
  // A page that did not import the runtime: say so, not "every backend failed".
  if (!isNode() && registered === undefined && requested !== 'cpu')
    throw new DepthEstimatorError(`onnx engine: ${MISSING}`, 'RUNTIME_MISSING');
  const bytes = await modelBytes(source);
  const order = requested === undefined ? ONNX_BACKEND_ORDER[isNode() ? 'node' : 'browser'] : [requested];
  const failures: string[] = [];
  let missing = 0;
  for (const backend of order) {
    let ort: Ort;
    let session: Session;
    // onnxruntime-web keeps 1 thread on a page that is not isolated: ask for what it will run.
    const web = backend === 'cpu' ? { threads: numThreads } : webThreads(numThreads);
    try {
      ort = await runtimeFor(backend, web.threads, wasmPaths);
      session = await open(ort, backend, bytes, numThreads);
    } catch (error) {
      if (error instanceof RuntimeMissing) missing++;
      failures.push(`${backend}: ${(error as Error).message}`);
      continue;
    }
    const [height, width] = inputSize(session);
    const inputName = session.inputNames[0]!;
    const outputName = session.outputNames[0]!;
    const before = failures.length === 0 ? '' : ` (${failures.join('; ')})`;
    const runtime =
      backend === 'cpu' ? 'onnxruntime-node' : (registered?.entry ?? 'onnxruntime-web (Node import)');
    const threadNote = [
      `${runtime}, ${web.threads} thread${web.threads === 1 ? '' : 's'}`,
      ...(web.note === undefined ? [] : [web.note]),
    ].join('; ');
    return {
      backend,
      backendReason:
        requested === undefined
          ? `${backend}: first usable of ${order.join(' > ')}${before}; ${threadNote}`
          : `${backend}: requested; ${threadNote}`,
      threads: web.threads,
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
  throw new DepthEstimatorError(
    `onnx: no runtime initialised (${failures.join('; ')})`,
    missing === order.length ? 'RUNTIME_MISSING' : 'NO_BACKEND',
  );
}
