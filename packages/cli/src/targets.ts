/**
 * Compile targets: one entry per emitter. Each turns a model into files (paths relative to
 * the target's own folder) and the checks it ran. Adding a target is one entry here.
 */
import { encodeOnnx } from '@fastdepth/codegen-onnx';
import { emitTfjs, toJavaScript, WEIGHTS_DTYPES, type WeightsDtype } from '@fastdepth/codegen-tfjs';
import { importGeneratedModule } from '@fastdepth/codegen-tfjs/node';
import {
  createDepthEstimator,
  type DepthEstimator,
  type WasmManifest,
  type WasmModelSource,
} from '@fastdepth/runtime-web';
import { emitTvmPackage } from '@fastdepth/codegen-tvm';
import {
  emitWasm,
  encodeWasmWeights,
  loadWasmModel,
  wasmArtifactFiles,
  type WasmArtifact,
} from '@fastdepth/codegen-wasm';
import { graphInputs, maxRelativeError, type Model } from '@fastdepth/graph-dsl';
import { UserError } from './errors.js';
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
  /** How the tfjs and wasm weights files store values (default float32). */
  readonly weightsDtype?: WeightsDtype;
  /** The options the model came from, for the generated code's "Regenerate" line. */
  readonly source?: ModelOrigin;
}

/** The `compile` options that made a model: what its "Regenerate" command repeats. */
export interface ModelOrigin {
  readonly arch?: string;
  readonly weights?: string;
  /** `--input-size` as given. */
  readonly inputSize?: string;
  /** `--seed`, for seeded weights (no `--weights`); 0, the default, is left out. */
  readonly seed?: number;
}

/** `--weights-dtype`: float32 (default), float16 or int8; the tfjs and wasm targets store weights so. */
export function parseWeightsDtype(value: string | undefined, targets: readonly TargetName[]): WeightsDtype {
  if (value === undefined) return 'float32';
  if (!(WEIGHTS_DTYPES as readonly string[]).includes(value))
    throw new UserError(`--weights-dtype must be one of ${WEIGHTS_DTYPES.join(', ')}, found "${value}"`);
  if (!targets.includes('tfjs') && !targets.includes('wasm')) {
    throw new UserError(
      `--weights-dtype ${value} applies to the tfjs and wasm targets, and --target is ${targets.join(',')}`,
    );
  }
  return value as WeightsDtype;
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

/**
 * Limits for the tfjs output with rounded weights, against the exact reference on the seeded
 * check input (max |error| / max |reference|). float16 keeps 11 significant bits; per-channel
 * int8 about 8, and the rounding errors of every layer add up through the network.
 */
export const QUANTISED_LIMIT: Readonly<Record<Exclude<WeightsDtype, 'float32'>, number>> = {
  float16: 1e-2,
  int8: 1e-1,
};

export const TARGET_NAMES = ['onnx', 'tvm', 'tfjs', 'wasm'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

export const TARGETS: Readonly<Record<TargetName, (input: TargetInput) => Promise<TargetOutput>>> = {
  onnx: async ({ model, stem, reference, opset, foldBatchNorm }) => {
    const bytes = encodeOnnx(model, {
      opset,
      foldBatchNorm,
      docString: `${stem}, emitted by fastdepth compile`,
    });
    const inputName = graphInputs(model.graph)[0]!.name;
    const err = await onnxParity(bytes, inputName, reference.input, reference.expected);
    return {
      files: [{ name: `${stem}.onnx`, data: bytes }],
      checks: [
        { name: 'onnxruntime-node vs reference executor', maxRelativeError: err, limit: PARITY_LIMIT },
      ],
      summary: `opset ${opset}, BatchNorm ${foldBatchNorm ? 'folded' : 'kept'}`,
    };
  },

  tvm: ({ model, stem, reference, foldBatchNorm }) => {
    // build.py --frontend onnx reads the ONNX file the onnx target writes beside this folder.
    const { files } = emitTvmPackage(model, {
      archName: stem,
      input: reference.input,
      expected: reference.expected,
      onnxFileName: `../onnx/${stem}.onnx`,
      foldBatchNorm,
    });
    return Promise.resolve({
      files,
      checks: [],
      summary: `Relay for TVM 0.19, BatchNorm ${foldBatchNorm ? 'folded' : 'kept'}; build.py self-checks against expected.npy`,
    });
  },

  tfjs: async ({ model, stem, reference, weightsDtype = 'float32', source: origin }) => {
    // The command that made it: the model's own --arch / --weights, not the output stem (a
    // graph file's stem is no architecture name). Without an origin (prune's final network),
    // the graph and weights compile writes beside the target folders.
    const from = origin
      ? [
          ...(origin.arch !== undefined ? [`--arch ${origin.arch}`] : []),
          ...(origin.weights !== undefined ? [`--weights ${origin.weights}`] : []),
          ...(origin.inputSize !== undefined ? [`--input-size ${origin.inputSize}`] : []),
          ...(origin.seed ? [`--seed ${origin.seed}`] : []),
        ]
      : [`--arch ${stem}.json`, `--weights ${stem}.safetensors`];
    const options = {
      moduleName: stem,
      weightsFileName: `${stem}.weights.bin`,
      regenerate: [
        'fastdepth compile',
        ...from,
        '--target tfjs',
        ...(weightsDtype === 'float32' ? [] : [`--weights-dtype ${weightsDtype}`]),
      ].join(' '),
    };
    // The code is checked with exact (float32) weights; smaller weights add their own figure.
    const exact = emitTfjs(model, options);
    const emitted = weightsDtype === 'float32' ? exact : emitTfjs(model, { ...options, weightsDtype });
    const { source, weights, manifest } = emitted;
    const checks: Check[] = [
      {
        name: 'generated tfjs (wasm) vs reference executor',
        maxRelativeError: await tfjsParity(exact, reference),
        limit: PARITY_LIMIT,
      },
    ];
    if (weightsDtype !== 'float32') {
      checks.push({
        name: `generated tfjs (wasm), ${weightsDtype} weights vs reference executor`,
        maxRelativeError: await tfjsParity(emitted, reference),
        limit: QUANTISED_LIMIT[weightsDtype],
      });
    }
    // Plain JavaScript + declarations beside the TypeScript, for apps without a TS toolchain.
    const { js, dts } = toJavaScript(source);
    const ratio = exact.weights.byteLength / weights.byteLength;
    return {
      files: [
        { name: `${stem}.ts`, data: source },
        { name: `${stem}.js`, data: js },
        { name: `${stem}.d.ts`, data: dts },
        { name: `${stem}.weights.bin`, data: weights },
        { name: `${stem}.weights.json`, data: `${JSON.stringify(manifest, null, 2)}\n` },
      ],
      checks,
      summary: `TypeScript module (+ .js/.d.ts) on @tensorflow/tfjs-core, BatchNorm folded, ${weightsDtype} weights${weightsDtype === 'float32' ? '' : ` (${ratio.toFixed(1)}x smaller)`}`,
    };
  },

  wasm: async ({ model, stem, reference, weightsDtype = 'float32' }) => {
    const { files, source, emitted } = wasmArtifact(model, stem);
    const checks: Check[] = [];
    const depthMap = isDepthMap(reference);
    if (!depthMap) {
      // runtime-web's estimator returns a depth map; another output (a segmenter's classes, an
      // encoder's features) is checked through the package's own host, on one thread.
      checks.push({
        name: 'compiled wasm (codegen-wasm host, 1 thread) vs reference executor',
        maxRelativeError: await wasmHostParity(emitted, reference),
        limit: PARITY_LIMIT,
      });
    }
    // Both code paths of the module: one thread, and rows split over workers with its barriers.
    for (const threads of depthMap ? [1, 2] : []) {
      checks.push({
        name: `compiled wasm (runtime-web, ${threads} thread${threads === 1 ? '' : 's'}) vs reference executor`,
        maxRelativeError: await wasmParity(source, reference, threads),
        limit: PARITY_LIMIT,
      });
    }
    const stages = emitted.manifest.stages.length;
    const summary = `WebAssembly SIMD, ${stages} fused stages, builds: plain/relaxed SIMD x 1/N threads`;
    if (weightsDtype === 'float32') return { files, checks, summary };
    // The weights file as the page will fetch it, run through the same loader.
    const stored = wasmStoredWeights(emitted, weightsDtype);
    for (const threads of [1, 2]) {
      checks.push({
        name: `compiled wasm (runtime-web, ${threads} thread${threads === 1 ? '' : 's'}), ${weightsDtype} weights vs reference executor`,
        maxRelativeError: await wasmParity(
          {
            engine: 'wasm',
            model: { manifest: stored.manifest, modules: emitted.modules, weights: stored.weights },
          },
          reference,
          threads,
        ),
        limit: QUANTISED_LIMIT[weightsDtype],
      });
    }
    const ratio = emitted.weights.byteLength / stored.weights.byteLength;
    return {
      files: [
        ...files.filter(
          (f) => f.name !== emitted.manifest.weightsFile && !f.name.endsWith('.wasm-manifest.json'),
        ),
        { name: `${stem}.wasm-manifest.json`, data: `${JSON.stringify(stored.manifest, null, 2)}\n` },
        { name: stored.manifest.weightsFile, data: stored.weights },
      ],
      checks,
      summary: `${summary}, ${weightsDtype} weights (${ratio.toFixed(1)}x smaller, float32 at load)`,
    };
  },
};

/** The compiled wasm model: its files (relative to `wasm/`) and the in-memory source runtime-web takes. */
export function wasmArtifact(
  model: Model,
  stem: string,
): { readonly files: OutputFile[]; readonly source: WasmModelSource; readonly emitted: WasmArtifact } {
  const emitted = emitWasm(model, { arch: stem });
  const { manifest, modules, weights } = emitted;
  return {
    files: wasmArtifactFiles(emitted).map((f) => ({ name: f.path, data: f.data })),
    source: { engine: 'wasm', model: { manifest, modules, weights } },
    emitted,
  };
}

/**
 * The float build's weights stored as `dtype` (`<stem>.weights.<dtype>.bin`) and the manifest
 * naming that file; runtime-web unpacks them to float32 when it loads them.
 */
export function wasmStoredWeights(
  emitted: WasmArtifact,
  dtype: Exclude<WeightsDtype, 'float32'>,
): { readonly manifest: WasmManifest; readonly weights: Uint8Array } {
  const weights = encodeWasmWeights(emitted, dtype);
  const manifest: WasmManifest = {
    ...emitted.manifest,
    weightsFile: emitted.manifest.weightsFile.replace(/\.bin$/, `.${dtype}.bin`),
    weightsDtype: dtype,
  };
  return { manifest, weights };
}

/** Runs the compiled module through runtime-web's wasm engine at `threads` threads on the reference input. */
async function wasmParity(
  source: WasmModelSource,
  reference: ReferenceCase,
  threads: number,
): Promise<number> {
  const estimator = await createDepthEstimator({ model: source, numThreads: threads });
  try {
    if (estimator.threads !== threads)
      throw new Error(
        `the wasm engine ran ${estimator.threads} thread(s), not ${threads}: ${estimator.backendReason}`,
      );
    return maxRelativeError(await runReference(estimator, reference), reference.expected.data);
  } finally {
    await estimator.dispose();
  }
}

/**
 * Whether a network with these NCHW input and output shapes maps the image to one channel at its
 * own size (what runtime-web's estimator runs).
 */
export function isDepthMapShape(input: readonly number[], output: readonly number[]): boolean {
  const [, , h, w] = input;
  const [n, c, oh, ow] = output;
  return n === 1 && c === 1 && oh === h && ow === w;
}

function isDepthMap(reference: ReferenceCase): boolean {
  return isDepthMapShape(reference.input.shape, reference.expected.shape);
}

/** Runs the compiled module single-threaded through codegen-wasm's host on the reference input. */
async function wasmHostParity(artifact: WasmArtifact, reference: ReferenceCase): Promise<number> {
  const { manifest, modules, weights } = artifact;
  const host = await loadWasmModel(manifest, modules.simd, weights);
  return maxRelativeError(host.runSingleThread(reference.input.data), reference.expected.data);
}

/** The reference input (NCHW) through an estimator's `estimateRgb` (HWC). */
async function runReference(estimator: DepthEstimator, reference: ReferenceCase): Promise<Float32Array> {
  const [, , h, w] = reference.input.shape as [number, number, number, number];
  const hwc = new Float32Array(h * w * 3);
  for (let p = 0; p < h * w; p++)
    for (let k = 0; k < 3; k++) hwc[p * 3 + k] = reference.input.data[k * h * w + p]!;
  return (await estimator.estimateRgb({ data: hwc, width: w, height: h })).depth;
}

/**
 * The reference output in the generated module's layout (NHWC): a depth map is the same either
 * way; a network with several output channels (an encoder, a segmenter) is not.
 */
function channelsLast(t: ReferenceCase['expected']): Float32Array {
  const [n, c, h, w] = t.shape as [number, number, number, number];
  if (c === 1) return t.data;
  const out = new Float32Array(t.data.length);
  for (let b = 0; b < n; b++)
    for (let k = 0; k < c; k++)
      for (let p = 0; p < h * w; p++) out[(b * h * w + p) * c + k] = t.data[(b * c + k) * h * w + p]!;
  return out;
}

/** Runs the generated module on tfjs-wasm, through runtime-web, on the reference input. */
async function tfjsParity(emitted: ReturnType<typeof emitTfjs>, reference: ReferenceCase): Promise<number> {
  const loaded = await importGeneratedModule(emitted);
  const estimator = await createDepthEstimator({
    model: {
      engine: 'tfjs',
      module: loaded.module,
      weights: { manifest: loaded.manifest, buffer: loaded.weights },
    },
    backend: 'wasm',
  });
  try {
    if (reference.input.shape[1] !== 3) return Number.NaN;
    return maxRelativeError(await runReference(estimator, reference), channelsLast(reference.expected));
  } finally {
    await estimator.dispose();
  }
}
