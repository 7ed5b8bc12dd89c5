/**
 * NYU Depth v2 as the authors' data loader reads it: one `.h5` file per frame holding `rgb`
 * (3x480x640 uint8, C,H,W) and `depth` (480x640 float32, metres), under `val/official/*.h5`.
 * Read with h5wasm: the bytes go into its in-memory file system, are opened there, and are
 * removed again. Also `.npy` pairs (the authors' `deploy/data` layout), preprocessed the same way.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { FastDepthError, FormatError } from '@fastdepth/graph-dsl';
import { readUserFile } from '@fastdepth/graph-dsl/read-file';
import { Dataset, File as H5File, ready } from 'h5wasm';
import { readNpyFile } from './npy-file.js';
import { gatherHWC, NYU_OUTPUT_SIZE, valTransformMaps, type IndexMaps, type OutputSize } from './resize.js';

/** A raw frame: RGB interleaved (H, W, 3) uint8 and depth (H, W) in metres. */
export interface NyuSample {
  /** Names the file in errors. */
  readonly source: string;
  readonly rgb: { readonly height: number; readonly width: number; readonly data: Uint8Array };
  readonly depth: { readonly height: number; readonly width: number; readonly data: Float32Array };
}

/** A frame ready for the network and the metrics. */
export interface PreparedSample {
  readonly source: string;
  readonly height: number;
  readonly width: number;
  /** (H, W, 3) RGB in [0, 1]. */
  readonly rgb: Float32Array;
  /** (H, W) ground-truth depth in metres. */
  readonly depth: Float32Array;
}

type H5Module = Awaited<typeof ready>;
let modulePromise: Promise<H5Module> | undefined;
let fileCounter = 0;

/**
 * h5wasm with its throwing error handler on: by default HDF5 failures only print to stderr and
 * return bad ids, which would surface later as confusing crashes.
 */
function h5(): Promise<H5Module> {
  modulePromise ??= ready.then((module) => {
    module.activate_throwing_error_handler();
    return module;
  });
  return modulePromise;
}

const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/** The HDF5 superblock sits at 0, 512, 1024, 2048, ... (after an optional user block). */
function hasHdf5Signature(bytes: Uint8Array): boolean {
  for (let at = 0; at + HDF5_SIGNATURE.length <= bytes.length; at = at === 0 ? 512 : at * 2) {
    if (HDF5_SIGNATURE.every((b, i) => bytes[at + i] === b)) return true;
  }
  return false;
}

/** HDF5's error stack is many lines; its last "in Function(): reason" line is the useful one. */
function hdf5Reason(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const reasons = [...text.matchAll(/in \w+\(\): (.+)/g)].map((m) => m[1]!.trim());
  return reasons.length > 0 ? reasons[reasons.length - 1]! : (text.split('\n')[0] ?? text);
}

function datasetOf(file: H5File, name: string, source: string): Dataset {
  const entity = file.get(name);
  if (entity === null) {
    const have = file.keys();
    throw new FormatError(
      source,
      `missing dataset "${name}" (the file has ${have.length > 0 ? have.map((k) => `"${k}"`).join(', ') : 'nothing'})`,
    );
  }
  if (!(entity instanceof Dataset))
    throw new FormatError(source, `"${name}" is a ${entity.constructor.name}, expected a dataset`);
  return entity;
}

function shapeOf(dataset: Dataset, name: string, source: string): number[] {
  const shape = dataset.shape;
  if (shape === null) throw new FormatError(source, `dataset "${name}" has no shape (empty dataspace)`);
  return shape;
}

function dtypeText(dataset: Dataset): string {
  try {
    const dtype = dataset.dtype;
    return typeof dtype === 'string' ? dtype : JSON.stringify(dtype);
  } catch (error) {
    return `an unsupported type (${hdf5Reason(error)})`;
  }
}

/**
 * The most pixels a frame may have (4096x4096; a NYU frame has 480x640). Checked on the
 * declared shape, before decoding: a gzip dataset of 8000x8000 is half a megabyte on disk
 * and gigabytes once read.
 */
export const MAX_FRAME_PIXELS = 4096 * 4096;

/** Where flat `index` lies in a row-major map `width` wide, for messages. */
function place(index: number, width: number | undefined): string {
  return width === undefined || width <= 0
    ? `index ${index}`
    : `index ${index} (row ${Math.floor(index / width)}, column ${index % width})`;
}

/**
 * Checks a depth map in metres: every value finite and >= 0 (0 marks a pixel without
 * depth, which the metrics skip). Throws `FormatError` naming `source`, `what` and the first
 * bad index: a NaN, an infinity or a negative value would end as a NaN, Infinity or negative
 * metric that looks like a result.
 */
export function checkDepthValues(
  data: ArrayLike<number>,
  source: string,
  what: string,
  width?: number,
): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!(v >= 0 && v < Infinity))
      throw new FormatError(
        source,
        `${what} value ${v} at ${place(i, width)} is not a depth (finite metres >= 0; 0 marks a missing pixel)`,
      );
  }
}

/** Checks RGB values: every value finite and in [0, `max`]; names the first bad index. */
export function checkRgbValues(data: ArrayLike<number>, source: string, max: number): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!(v >= 0 && v <= max))
      throw new FormatError(
        source,
        `rgb value ${v} at index ${i} (pixel ${Math.floor(i / 3)}, channel ${i % 3}) is not in [0, ${max}]${max === 1 && v > 1 ? ' (save uint8, or divide by 255)' : ''}`,
      );
  }
}

function readSample(file: H5File, source: string): NyuSample {
  const rgbSet = datasetOf(file, 'rgb', source);
  const depthSet = datasetOf(file, 'depth', source);
  const rgbShape = shapeOf(rgbSet, 'rgb', source);
  const depthShape = shapeOf(depthSet, 'depth', source);
  if (rgbShape.length !== 3 || rgbShape[0] !== 3) {
    throw new FormatError(
      source,
      `dataset "rgb" has shape [${rgbShape.join(', ')}], expected [3, height, width] (C, H, W)`,
    );
  }
  const [, height, width] = rgbShape as [number, number, number];
  if (height * width > MAX_FRAME_PIXELS)
    throw new FormatError(
      source,
      `dataset "rgb" is ${height}x${width} (${height * width} pixels), more than the ${MAX_FRAME_PIXELS} (4096x4096) a frame may have; not decoded`,
    );
  if (depthShape.length !== 2 || depthShape[0] !== height || depthShape[1] !== width) {
    throw new FormatError(
      source,
      `dataset "depth" has shape [${depthShape.join(', ')}], expected [${height}, ${width}] like "rgb"`,
    );
  }
  // h5wasm spells uint8 `<B`/`>B`, float32 `<f`, float64 `<d`; big-endian floats are rejected
  // because we could not test that h5wasm converts them.
  const rgbType = dtypeText(rgbSet);
  if (rgbType !== '<B' && rgbType !== '>B')
    throw new FormatError(source, `dataset "rgb" has dtype ${rgbType}, expected uint8`);
  const depthType = dtypeText(depthSet);
  if (depthType !== '<f' && depthType !== '<d') {
    throw new FormatError(
      source,
      `dataset "depth" has dtype ${depthType}, expected little-endian float32 or float64`,
    );
  }
  const chw = rgbSet.value;
  const depthValue = depthSet.value;
  if (!(chw instanceof Uint8Array) || chw.length !== 3 * height * width)
    throw new FormatError(source, 'dataset "rgb" did not read as uint8 data of its shape');
  if (!(depthValue instanceof Float32Array || depthValue instanceof Float64Array))
    throw new FormatError(source, 'dataset "depth" did not read as float data');
  const plane = height * width;
  const hwc = new Uint8Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    hwc[3 * i] = chw[i]!;
    hwc[3 * i + 1] = chw[plane + i]!;
    hwc[3 * i + 2] = chw[2 * plane + i]!;
  }
  // Float64 depth becomes float32, as the authors' `imresize(..., mode='F')` makes it.
  const depth = Float32Array.from(depthValue);
  checkDepthValues(depth, source, 'dataset "depth":', width);
  return { source, rgb: { height, width, data: hwc }, depth: { height, width, data: depth } };
}

/**
 * Reads one NYU Depth v2 frame from the bytes of its `.h5` file (`source` names it in errors:
 * not HDF5, missing `rgb`/`depth`, wrong shape or dtype). RGB comes back as (H, W, 3).
 */
export async function loadNyuH5(bytes: Uint8Array, source: string): Promise<NyuSample> {
  if (!hasHdf5Signature(bytes)) throw new FormatError(source, 'not an HDF5 file (no HDF5 signature)');
  const module = await h5();
  const path = `/fastdepth-eval-${++fileCounter}.h5`;
  module.FS.writeFile(path, bytes);
  try {
    let file: H5File;
    try {
      file = new H5File(path, 'r');
    } catch (error) {
      throw new FormatError(source, `cannot open as HDF5: ${hdf5Reason(error)}`);
    }
    try {
      return readSample(file, source);
    } catch (error) {
      if (error instanceof FastDepthError) throw error;
      throw new FormatError(source, `cannot read: ${hdf5Reason(error)}`);
    } finally {
      file.close();
    }
  } finally {
    module.FS.unlink(path);
  }
}

/**
 * Writes a frame as the authors' `.h5` layout (`rgb` uint8 [3, H, W], `depth` float32 [H, W]),
 * for fixtures and for exporting frames that other tools read with h5py.
 */
export async function encodeNyuH5(sample: Pick<NyuSample, 'rgb' | 'depth'>): Promise<Uint8Array> {
  const { height, width, data } = sample.rgb;
  if (data.length !== 3 * height * width)
    throw new FastDepthError(
      `encodeNyuH5: rgb ${height}x${width}x3 needs ${3 * height * width} values, has ${data.length}`,
    );
  if (
    sample.depth.height !== height ||
    sample.depth.width !== width ||
    sample.depth.data.length !== height * width
  ) {
    throw new FastDepthError(
      `encodeNyuH5: depth ${sample.depth.height}x${sample.depth.width} does not match rgb ${height}x${width}`,
    );
  }
  const plane = height * width;
  const chw = new Uint8Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    chw[i] = data[3 * i]!;
    chw[plane + i] = data[3 * i + 1]!;
    chw[2 * plane + i] = data[3 * i + 2]!;
  }
  const module = await h5();
  const path = `/fastdepth-eval-${++fileCounter}.h5`;
  try {
    const file = new H5File(path, 'w');
    try {
      file.create_dataset({ name: 'rgb', data: chw, shape: [3, height, width], dtype: '<B' });
      file.create_dataset({ name: 'depth', data: sample.depth.data, shape: [height, width], dtype: '<f' });
    } finally {
      file.close();
    }
    return module.FS.readFile(path);
  } finally {
    if (module.FS.analyzePath(path).exists) module.FS.unlink(path);
  }
}

function prepare(
  source: string,
  rgb: ArrayLike<number>,
  rgbDivisor: number,
  depth: ArrayLike<number>,
  width: number,
  maps: IndexMaps,
): PreparedSample {
  return {
    source,
    height: maps.rows.length,
    width: maps.cols.length,
    rgb: gatherHWC(rgb, width, 3, maps, rgbDivisor),
    depth: gatherHWC(depth, width, 1, maps),
  };
}

/**
 * The authors' `val_transform`: nearest resize by 250/480, centre crop 228x304, nearest resize
 * to `outputSize` (224), RGB / 255. The same pixel picks apply to RGB and depth. The 250/480
 * factor is fixed, as in their code, whatever the frame height.
 */
export function nyuValTransform(sample: NyuSample, outputSize: OutputSize = NYU_OUTPUT_SIZE): PreparedSample {
  const { height, width } = sample.rgb;
  if (sample.depth.height !== height || sample.depth.width !== width) {
    throw new FormatError(
      sample.source,
      `depth is ${sample.depth.height}x${sample.depth.width} but rgb is ${height}x${width}`,
    );
  }
  const maps = valTransformMaps(height, width, { outputSize, source: sample.source });
  return prepare(sample.source, sample.rgb.data, 255, sample.depth.data, width, maps);
}

/** One frame of a NYU folder: its path and its raw (untransformed) sample. */
export interface NyuFolderEntry {
  readonly file: string;
  readonly sample: NyuSample;
}

async function walk(dir: string, into: { dir: string; name: string }[]): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    // Symbolic links count as what they point to (os.walk lists linked files too).
    const isDir = entry.isDirectory() || (entry.isSymbolicLink() && (await stat(path)).isDirectory());
    if (isDir) await walk(path, into);
    else if (entry.name.endsWith('.h5')) into.push({ dir, name: entry.name });
  }
}

/**
 * The `.h5` files under `dir`, recursively, in the authors' order: by directory path, then by
 * file name (their `sorted(os.walk(...))` / `sorted(fnames)`). Unlike their loader, files
 * directly in `dir` count too, so both `val/` and `val/official/` work. Throws if none is found.
 */
export async function listNyuFiles(dir: string): Promise<string[]> {
  const found: { dir: string; name: string }[] = [];
  try {
    await walk(dir, found);
  } catch (error) {
    throw new FormatError(dir, `cannot list the folder: ${(error as Error).message}`);
  }
  if (found.length === 0)
    throw new FormatError(dir, 'no .h5 files found (expected the NYU layout, e.g. val/official/00001.h5)');
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  found.sort((a, b) => cmp(a.dir, b.dir) || cmp(a.name, b.name));
  return found.map((f) => join(f.dir, f.name));
}

/** Reads one `.h5` file from disk (see `loadNyuH5`). */
export async function loadNyuH5File(path: string): Promise<NyuSample> {
  return loadNyuH5(await readUserFile(path, '.h5 file', 'h5'), path);
}

/**
 * Every frame under `dir` in the authors' order (see `listNyuFiles`), read one at a time;
 * apply `nyuValTransform` to evaluate.
 */
export async function* iterateNyuFolder(dir: string): AsyncGenerator<NyuFolderEntry> {
  for (const file of await listNyuFiles(dir)) yield { file, sample: await loadNyuH5File(file) };
}

/** Drops leading length-1 axes down to `rank` (a (1,1,H,W) prediction is an (H,W) map). */
function squeezeLeading(shape: readonly number[], rank: number): number[] {
  const out = [...shape];
  while (out.length > rank && out[0] === 1) out.shift();
  return out;
}

/**
 * Reads an RGB + depth `.npy` pair: RGB (H, W, 3) as float in [0, 1] or uint8 (divided by
 * 255), depth (H, W), (1, H, W) or (1, 1, H, W) in metres. A pair already at `outputSize`
 * (the authors' `deploy/data` sample) is used as is. Any other size goes through the
 * validation transform with the first resize factor set to 250/H instead of the fixed 250/480
 * (identical for 480-row NYU frames), so any frame is brought to the NYU field of view:
 * height to 250, centre crop 228x304, resize.
 */
export async function loadNpyPair(
  rgbPath: string,
  depthPath: string,
  outputSize: OutputSize = NYU_OUTPUT_SIZE,
): Promise<PreparedSample> {
  const [rgb, depth] = await Promise.all([readNpyFile(rgbPath), readNpyFile(depthPath)]);
  const rgbShape = squeezeLeading(rgb.shape, 3);
  if (rgbShape.length !== 3 || rgbShape[2] !== 3)
    throw new FormatError(rgbPath, `rgb has shape (${rgb.shape.join(', ')}), expected (height, width, 3)`);
  if (rgb.dtype === '<i4')
    throw new FormatError(rgbPath, 'rgb has dtype <i4, expected float in [0, 1] or uint8');
  const [height, width] = rgbShape as [number, number, number];
  let divisor = 255;
  if (rgb.dtype !== '|u1') {
    divisor = 1;
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of rgb.data) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (!(lo >= 0 && hi <= 1)) {
      throw new FormatError(
        rgbPath,
        `float rgb values must lie in [0, 1], found [${lo}, ${hi}]` +
          (hi > 1 ? ' (save uint8, or divide by 255)' : ''),
      );
    }
    // NaN passes every comparison above as false: look for it (and name where) separately.
    checkRgbValues(rgb.data, rgbPath, 1);
  }
  const depthShape = squeezeLeading(depth.shape, 2);
  if (depthShape.length !== 2)
    throw new FormatError(depthPath, `depth has shape (${depth.shape.join(', ')}), expected (height, width)`);
  if (depth.dtype !== '<f4' && depth.dtype !== '<f8')
    throw new FormatError(depthPath, `depth has dtype ${depth.dtype}, expected float32 or float64 metres`);
  if (depthShape[0] !== height || depthShape[1] !== width) {
    throw new FormatError(
      depthPath,
      `depth is ${depthShape.join('x')} but the rgb ${rgbPath} is ${height}x${width}`,
    );
  }
  checkDepthValues(depth.data, depthPath, 'depth', width);
  const [outH, outW] = typeof outputSize === 'number' ? [outputSize, outputSize] : outputSize;
  const maps: IndexMaps =
    height === outH && width === outW
      ? {
          rows: Int32Array.from({ length: outH }, (_, i) => i),
          cols: Int32Array.from({ length: outW }, (_, i) => i),
        }
      : valTransformMaps(height, width, { outputSize, scale: 250 / height, source: rgbPath });
  return prepare(rgbPath, rgb.data, divisor, depth.data, width, maps);
}

/** An HWC [0, 1] RGB image as the network's NCHW input tensor (1, 3, H, W). */
export function toInputTensor(sample: Pick<PreparedSample, 'height' | 'width' | 'rgb'>): {
  shape: [number, number, number, number];
  data: Float32Array;
} {
  const { height, width, rgb } = sample;
  const plane = height * width;
  const data = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    data[i] = rgb[3 * i]!;
    data[plane + i] = rgb[3 * i + 1]!;
    data[2 * plane + i] = rgb[3 * i + 2]!;
  }
  return { shape: [1, 3, height, width], data };
}
