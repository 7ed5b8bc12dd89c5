/**
 * `compile --quantize int8`: post-training quantisation of the compiled model on a folder of
 * photos (graph-dsl `quantizeModel`), its agreement with the float network on held-out
 * photos (int8 reference executor against the float reference executor), and the int8
 * artifacts: the graph JSON carrying its `quantization` annotation and the integer weights
 * (I8 weights, I32 biases) as safetensors.
 */
import * as codegenWasm from '@fastdepth/codegen-wasm';
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
  quantizeModel,
  saveGraph,
  type Agreement,
  type CalibrationMethod,
  type Model,
  type QuantizedModel,
} from '@fastdepth/graph-dsl';
import { UserError } from './errors.js';
import type { OutputFile } from './fs-atomic.js';
import { parseInteger } from './options.js';
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

/** Checks the quantisation flags before any work; undefined when `--quantize` is absent. */
export function parseQuantizeFlags(flags: QuantizeFlags): QuantizeRequest | undefined {
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
  if (flags.images === undefined)
    throw new UserError('--quantize int8 needs --images DIR: a folder of photos to calibrate on');
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
  /** The int8 wasm build: what was written, or why there is none. */
  readonly wasm: { readonly built: boolean; readonly note: string };
}

/**
 * The int8 wasm emitter's names in `@fastdepth/codegen-wasm`, looked up at run time so that
 * this command builds before that emitter exists; once it is exported, import it statically.
 */
const WASM_INT8_EMITTER = 'emitWasmInt8';
const WASM_INT8_FILES = 'wasmInt8ArtifactFiles';

type Int8Emitter = (model: QuantizedModel, options: { arch?: string }) => unknown;
type Int8Files = (
  artifact: unknown,
) => readonly { readonly path: string; readonly data: Uint8Array | string }[];

/** The int8 wasm build of `model`, when codegen-wasm has an int8 emitter; otherwise says so. */
export function int8WasmFiles(
  model: QuantizedModel,
  stem: string,
): { files: OutputFile[]; built: boolean; note: string } {
  const exports = codegenWasm as Readonly<Record<string, unknown>>;
  const emit = exports[WASM_INT8_EMITTER];
  const files = exports[WASM_INT8_FILES];
  if (typeof emit !== 'function' || typeof files !== 'function') {
    return {
      files: [],
      built: false,
      note: 'the int8 wasm build is not yet available (codegen-wasm has no int8 emitter yet): only the float wasm build was written',
    };
  }
  // Its files are named `<arch>.int8.*`: they sit beside the float build in wasm/.
  const artifact = (emit as Int8Emitter)(model, { arch: stem });
  const out = (files as Int8Files)(artifact).map((f) => ({ name: `wasm/${f.path}`, data: f.data }));
  return {
    files: out,
    built: true,
    note: `int8 wasm build written to wasm/ (${out.length} files, ${stem}.int8.*)`,
  };
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
export function quantizeForCompile(
  out: Output,
  input: { model: Model; stem: string; request: QuantizeRequest; photos: QuantizationImages; wasm: boolean },
): Int8Result {
  const { model, stem, request, photos } = input;
  const inputs = graphInputs(model.graph);
  const method =
    request.calibration === 'percentile' ? `percentile ${request.percentile}` : request.calibration;
  out.note(
    `quantising ${stem} to int8: calibrating on ${photos.calibration.length} photo(s) of "${request.images}" (${method}, float64 reference executor)...`,
  );
  const quantized = quantizeModel(model.graph, model.weights, photos.calibration, {
    calibration: request.calibration,
    percentile: request.percentile,
    onInput: (i, n) => out.note(`  calibration photo ${i + 1}/${n}`),
  });

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

  const files: OutputFile[] = [
    { name: `${stem}.int8.json`, data: saveGraph(quantized.graph) },
    {
      name: `${stem}.int8.safetensors`,
      data: encodeQuantizedWeights(quantized.weights, {
        arch: stem,
        scheme: 'int8',
        calibration: method,
        images: request.images,
      }),
    },
  ];
  let wasm = { built: false, note: 'no int8 wasm build asked (--target has no wasm)' };
  if (input.wasm) {
    const built = int8WasmFiles(quantized, stem);
    files.push(...built.files);
    wasm = { built: built.built, note: built.note };
  }
  return { model: quantized, files, agreement: rows, calibrationPhotos: photos.photos, wasm };
}
