/**
 * `compile --quantize int8`: post-training quantisation of the compiled model on a folder of
 * photos (graph-dsl `quantizeModel`), its agreement with the float network on held-out
 * photos (int8 reference executor against the float reference executor), and the int8
 * artifacts: the graph JSON carrying its `quantization` annotation and the integer weights
 * (I8 weights, I32 biases) as safetensors.
 */
import {
  emitWasmInt8,
  linkInt8Build,
  loadWasmModel,
  wasmInt8ArtifactFiles,
  type WasmInt8Artifact,
  type WasmManifest,
} from '@fastdepth/codegen-wasm';
import { createDepthEstimator } from '@fastdepth/runtime-web';
import {
  agreement,
  CALIBRATION_METHODS,
  DEFAULT_PERCENTILE,
  dequantizeValues,
  encodeQuantizedWeights,
  execute,
  executeQuantized,
  graphInputs,
  graphOutputs,
  GraphError,
  maxRelativeError,
  quantizeModel,
  saveGraph,
  type TensorF32,
  type Agreement,
  type CalibrationMethod,
  type IntegerArithmetic,
  type Model,
  type QuantizedModel,
} from '@fastdepth/graph-dsl';
import { UserError } from './errors.js';
import type { OutputFile } from './fs-atomic.js';
import { parseInteger } from './options.js';
import { isDepthMapShape, type Check } from './targets.js';
import type { Output } from './output.js';
import { loadQuantizationImages, type QuantizationImages } from './training-data.js';

/** The schemes `--quantize` accepts. */
export const QUANTIZE_SCHEMES = ['int8'] as const;

/** What `--quantize`, `--images`, `--calibration`, `--percentile` and `--holdout` ask for. */
export interface QuantizeRequest {
  readonly images: string;
  readonly calibration: CalibrationMethod;
  readonly percentile: number;
  /** Photos held out for the agreement report (undefined: one in five). */
  readonly holdout?: number;
}

/** The quantisation flags as given (strings, or undefined when absent). */
export interface QuantizeFlags {
  readonly quantize?: string;
  readonly images?: string;
  readonly calibration?: string;
  readonly percentile?: string;
  readonly holdout?: string;
}

/**
 * Checks the quantisation flags before any work; undefined when `--quantize` is absent, `'own'`
 * for `--quantize int8` without `--images` (the weights' own int8 model: an int8 .tflite).
 */
export function parseQuantizeFlags(flags: QuantizeFlags): QuantizeRequest | 'own' | undefined {
  if (flags.quantize === undefined) {
    const stray = (['images', 'calibration', 'percentile', 'holdout'] as const).find(
      (k) => flags[k] !== undefined,
    );
    if (stray) throw new UserError(`--${stray} applies to --quantize int8 only`);
    return undefined;
  }
  if (!(QUANTIZE_SCHEMES as readonly string[]).includes(flags.quantize))
    throw new UserError(
      `--quantize must be one of ${QUANTIZE_SCHEMES.join(', ')}, found "${flags.quantize}"`,
    );
  if (flags.images === undefined) {
    const stray = (['calibration', 'percentile', 'holdout'] as const).find((k) => flags[k] !== undefined);
    if (stray) throw new UserError(`--${stray} applies to calibration on --images DIR only`);
    return 'own';
  }
  const calibration = flags.calibration ?? 'minmax';
  if (!(CALIBRATION_METHODS as readonly string[]).includes(calibration))
    throw new UserError(
      `--calibration must be one of ${CALIBRATION_METHODS.join(', ')}, found "${calibration}"`,
    );
  let percentile = DEFAULT_PERCENTILE;
  if (flags.percentile !== undefined) {
    if (calibration !== 'percentile')
      throw new UserError('--percentile applies to --calibration percentile only');
    percentile = Number(flags.percentile);
    if (!/^\s*\d+(\.\d+)?\s*$/.test(flags.percentile) || !(percentile > 50 && percentile <= 100))
      throw new UserError(
        `--percentile must be a number above 50 and at most 100, found "${flags.percentile}"`,
      );
  }
  const holdout = flags.holdout === undefined ? undefined : parseInteger('--holdout', flags.holdout, 1);
  return {
    images: flags.images,
    calibration: calibration as CalibrationMethod,
    percentile,
    ...(holdout !== undefined ? { holdout } : {}),
  };
}

/** Agreement of the int8 model with the float one on one held-out photo (or all together). */
export interface AgreementRow extends Agreement {
  readonly photo: string;
}

/** What `quantizeForCompile` produced. */
export interface Int8Result {
  readonly model: QuantizedModel;
  /** Files relative to the output folder. */
  readonly files: readonly OutputFile[];
  /** One row per held-out photo, then `all` over every held-out pixel. */
  readonly agreement: readonly AgreementRow[];
  readonly calibrationPhotos: readonly string[];
  /** The int8 wasm build: what was written (and its checks), or why there is none. */
  readonly wasm: { readonly built: boolean; readonly note: string; readonly checks: readonly Check[] };
}

/**
 * The int8 wasm build of `model` (`<stem>.int8.*`, beside the float build in wasm/), checked
 * through runtime-web's wasm engine at 1 and 2 threads against the int8 reference executor
 * on `check` (NCHW in [0, 1]): the engine computes the model's integers (in its declared arithmetic), so the check's limit is 0.
 */
export async function int8WasmFiles(
  model: QuantizedModel,
  stem: string,
  check: TensorF32,
): Promise<{ files: OutputFile[]; built: boolean; note: string; checks: Check[] }> {
  let artifact: WasmInt8Artifact;
  try {
    artifact = emitWasmInt8(model, { arch: stem });
  } catch (e) {
    if (!(e instanceof GraphError)) throw e;
    return { files: [], built: false, note: `no int8 wasm build: ${e.message}`, checks: [] };
  }
  const output = graphOutputs(model.graph)[0]!.name;
  const q = executeQuantized(model, { [graphInputs(model.graph)[0]!.name]: check })[output]!;
  const expected = dequantizeValues(q.data, q.params);
  // (C, H, W) photos and (N, C, H, W) check inputs alike: H and W are the last two dimensions.
  const [h, w] = check.shape.slice(-2) as [number, number];
  const depthMap = isDepthMapShape([1, 3, h, w], artifact.manifest.output.shape);
  const checks: Check[] = [];
  if (!depthMap) {
    // runtime-web's estimator returns a depth map at the input's size; another output (a
    // half-resolution map, an encoder's features) is checked through codegen-wasm's own host.
    const host = await loadWasmModel(artifact.manifest, artifact.modules.simd, artifact.weights);
    checks.push({
      name: 'int8 wasm (codegen-wasm host, 1 thread) vs int8 reference executor',
      maxRelativeError: maxRelativeError(host.runSingleThread(check.data), expected),
      limit: 0,
    });
  }
  const hwc = new Float32Array(depthMap ? h * w * 3 : 0);
  if (depthMap)
    for (let p = 0; p < h * w; p++) for (let k = 0; k < 3; k++) hwc[p * 3 + k] = check.data[k * h * w + p]!;
  for (const threads of depthMap ? [1, 2] : []) {
    const estimator = await createDepthEstimator({
      model: {
        engine: 'wasm',
        model: { manifest: artifact.manifest, modules: artifact.modules, weights: artifact.weights },
      },
      numThreads: threads,
    });
    try {
      const { depth } = await estimator.estimateRgb({ data: hwc, width: w, height: h });
      checks.push({
        name: `int8 wasm (runtime-web, ${threads} thread${threads === 1 ? '' : 's'}) vs int8 reference executor`,
        maxRelativeError: maxRelativeError(depth, expected),
        limit: 0,
      });
    } finally {
      await estimator.dispose();
    }
  }
  const files = wasmInt8ArtifactFiles(artifact).map((f) => ({ name: `wasm/${f.path}`, data: f.data }));
  const failed = checks.find((c) => !(c.maxRelativeError <= c.limit));
  if (failed)
    throw new UserError(
      `wasm int8: ${failed.name}: max relative error ${failed.maxRelativeError.toExponential(2)}, expected the reference's integers exactly — nothing was written`,
    );
  return {
    files,
    built: true,
    note: `int8 wasm build written to wasm/ (${files.length} files, ${stem}.int8.*; the float manifest links it, so --engine wasm runs it), equal to the int8 reference executor ${!depthMap ? 'on one thread (its output is not a depth map at the input size, which runtime-web runs)' : 'at 1 and 2 threads'}`,
    checks,
  };
}

/** The float wasm manifest among `files`, rewritten to name its int8 sibling (`linkInt8Build`). */
export function linkFloatManifest(files: readonly OutputFile[], stem: string): OutputFile[] {
  const name = `wasm/${stem}.wasm-manifest.json`;
  return files.map((f) => {
    if (f.name !== name) return f;
    const text = typeof f.data === 'string' ? f.data : new TextDecoder().decode(f.data);
    return { name, data: `${JSON.stringify(linkInt8Build(JSON.parse(text) as WasmManifest), null, 2)}\n` };
  });
}

/**
 * `--quantize int8` on weights that carry their own int8 model (the paper's TFLite file): that
 * model as it is (no calibration, so no agreement table), with its files and int8 wasm build.
 */
export function ownInt8ForCompile(
  out: Output,
  input: { quantized: QuantizedModel; stem: string; wasm: boolean; check: TensorF32 },
): Promise<Int8Result> {
  return int8Artifacts(out, input, { calibration: 'the file' }, { agreement: [], calibrationPhotos: [] });
}

/**
 * The int8 model's files (`<stem>.int8.json` + `.int8.safetensors` with `metadata`), and its
 * wasm build when `input.wasm`, checked on `input.check`.
 */
async function int8Artifacts(
  out: Output,
  input: { quantized: QuantizedModel; stem: string; wasm: boolean; check: TensorF32 },
  metadata: Readonly<Record<string, string>>,
  report: Pick<Int8Result, 'agreement' | 'calibrationPhotos'>,
): Promise<Int8Result> {
  const { quantized, stem } = input;
  const files: OutputFile[] = [
    { name: `${stem}.int8.json`, data: saveGraph(quantized.graph) },
    {
      name: `${stem}.int8.safetensors`,
      data: encodeQuantizedWeights(quantized.weights, { arch: stem, scheme: 'int8', ...metadata }),
    },
  ];
  let wasm: Int8Result['wasm'] = {
    built: false,
    note: 'no int8 wasm build asked (--target has no wasm)',
    checks: [],
  };
  if (input.wasm) {
    out.note(`compiling the int8 model of ${stem} for wasm...`);
    const built = await int8WasmFiles(quantized, stem, input.check);
    files.push(...built.files);
    wasm = { built: built.built, note: built.note, checks: built.checks };
  }
  return { model: quantized, files, wasm, ...report };
}

/** The photos of `request.images` at `model`'s input size, split into calibration and held-out sets. */
export function loadPhotosFor(
  model: Model,
  stem: string,
  request: QuantizeRequest,
  seed: number,
): Promise<QuantizationImages> {
  const inputs = graphInputs(model.graph);
  if (inputs.length !== 1 || inputs[0]!.attrs.shape[1] !== 3)
    throw new UserError(`--quantize int8: ${stem} must have one RGB input to calibrate on photos`);
  const [, , height, width] = inputs[0]!.attrs.shape;
  return loadQuantizationImages(request.images, {
    ...(request.holdout !== undefined ? { holdout: request.holdout } : {}),
    height,
    width,
    seed,
  });
}

/**
 * Calibrates `model` on the photos of `request.images` (`photos`, from `loadPhotosFor`),
 * measures agreement on the held-out ones and returns the int8 files (`${stem}.int8.json`,
 * `${stem}.int8.safetensors`, and the int8 wasm build when `wasm` is asked and available).
 */
export async function quantizeForCompile(
  out: Output,
  input: {
    model: Model;
    stem: string;
    request: QuantizeRequest;
    photos: QuantizationImages;
    /** The integer arithmetic the int8 model declares (`--int8-arithmetic`). */
    arithmetic: IntegerArithmetic;
    wasm: boolean;
  },
): Promise<Int8Result> {
  const { model, stem, request, photos } = input;
  const inputs = graphInputs(model.graph);
  const method =
    request.calibration === 'percentile' ? `percentile ${request.percentile}` : request.calibration;
  out.note(
    `quantising ${stem} to int8: calibrating on ${photos.calibration.length} photo(s) of "${request.images}" (${method}, float64 reference executor)...`,
  );
  const calibrated = quantizeModel(model.graph, model.weights, photos.calibration, {
    calibration: request.calibration,
    percentile: request.percentile,
    onInput: (i, n) => out.note(`  calibration photo ${i + 1}/${n}`),
  });
  const quantized: QuantizedModel = {
    ...calibrated,
    graph: {
      ...calibrated.graph,
      quantization: { ...calibrated.graph.quantization, arithmetic: input.arithmetic },
    },
  };

  out.note(`agreement on ${photos.heldOut.length} held-out photo(s): float vs int8 reference executors...`);
  const outputName = graphOutputs(model.graph)[0]!.name;
  const step = quantized.graph.quantization.tensors[outputName]!.scale;
  const rows: AgreementRow[] = [];
  const allFloat: number[] = [];
  const allInt8: number[] = [];
  photos.heldOut.forEach((photo, i) => {
    const feed = { [inputs[0]!.name]: photo };
    const float = execute(model.graph, model.weights, feed)[outputName]!.data;
    const q = executeQuantized(quantized, feed)[outputName]!;
    const int8 = dequantizeValues(q.data, q.params);
    rows.push({ photo: photos.heldOutNames[i]!, ...agreement(float, int8, step) });
    for (let k = 0; k < float.length; k++) {
      allFloat.push(float[k]!);
      allInt8.push(int8[k]!);
    }
  });
  rows.push({ photo: 'all', ...agreement(allFloat, allInt8, step) });

  return int8Artifacts(
    out,
    { quantized, stem, wasm: input.wasm, check: photos.heldOut[0]! },
    { calibration: method, images: request.images },
    { agreement: rows, calibrationPhotos: photos.photos },
  );
}
