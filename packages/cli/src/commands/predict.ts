import { extname, relative, resolve } from 'node:path';
import sharp, { type OutputInfo } from 'sharp';
import { encodeNpy } from '@fastdepth/graph-dsl';
import { type ColormapName } from '@fastdepth/runtime-web';
import { readInput } from '../arch-source.js';
import { parseColorScale, renderDepthPicture } from '../depth-picture.js';
import {
  createEstimator,
  int8ModelFor,
  parseInt8Arithmetic,
  parseBackend,
  parseEngine,
  parsePrecision,
  parseThreads,
} from '../engine.js';
import { errorLine, UserError } from '../errors.js';
import { writeFilesAtomic, type OutputFile } from '../fs-atomic.js';
import { checkOutputFile, parseInputSize, parseInteger, SEED_MAX } from '../options.js';
import type { Output } from '../output.js';
import { loadModel } from '../weights-source.js';

export interface PredictOptions {
  readonly arch?: string;
  readonly weights?: string;
  readonly seed: string;
  readonly inputSize?: string;
  readonly engine: string;
  /** `--precision auto|int8|float32` (wasm engine: int8 when the weights carry an int8 model). */
  readonly precision?: string;
  /** `--int8-arithmetic tflite|xnnpack` (default xnnpack) for the int8 model. */
  readonly int8Arithmetic?: string;
  readonly backend?: string;
  readonly threads?: string;
  readonly out: string;
  readonly npy?: string;
  readonly colormap: string;
  readonly range?: string;
  readonly sideBySide?: boolean;
  readonly json?: boolean;
}

const COLORMAPS: readonly ColormapName[] = ['turbo', 'viridis'];

/** `--out` is written in the format its extension names. */
const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'];

/**
 * The largest image read: sharp's own default limit (16383 x 16383 pixels), checked from the
 * header before decoding so the message names the file and its size.
 */
export const MAX_IMAGE_PIXELS = 16383 * 16383;

const SCALE_NOTES = {
  fixed: 'fixed by --range',
  percentile: "2nd to 98th percentile of this image's depth; --range full for all of it",
  full: "this image's whole depth range",
} as const;

function percentile(sorted: Float32Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export async function predictCommand(out: Output, image: string, options: PredictOptions): Promise<void> {
  const engine = parseEngine(options.engine);
  const backend = parseBackend(options.backend, engine);
  const threads = parseThreads(options.threads, engine);
  // A bad value is refused before any work.
  parseInt8Arithmetic(options.int8Arithmetic);
  if (!(COLORMAPS as readonly string[]).includes(options.colormap))
    throw new UserError(`--colormap must be one of ${COLORMAPS.join(', ')}, found "${options.colormap}"`);
  const colormap = options.colormap as ColormapName;
  const range = options.range === undefined ? undefined : parseColorScale(options.range);
  const seed = parseInteger('--seed', options.seed, 0, SEED_MAX);
  const inputSize = options.inputSize === undefined ? undefined : parseInputSize(options.inputSize);
  await checkOutputFile(options.out, '--out', IMAGE_EXTENSIONS);
  if (options.npy !== undefined) await checkOutputFile(options.npy, '--npy', ['.npy']);
  const pixels = await decodeImage(image);
  const { model, stem, weightsSource, quantized } = await loadModel({
    ...(options.arch !== undefined ? { arch: options.arch } : {}),
    ...(options.weights !== undefined ? { weights: options.weights } : {}),
    ...(inputSize !== undefined ? { inputSize } : {}),
    seed,
  });
  if (options.weights === undefined)
    out.note('warning: no --weights given: seeded, untrained weights make a meaningless depth map');

  const precision = parsePrecision(options.precision, engine, quantized);
  const int8Model = int8ModelFor(precision, quantized, options.int8Arithmetic);
  const int8Arithmetic = int8Model?.graph.quantization.arithmetic;
  const estimator = await createEstimator(model, engine, backend, threads, int8Model);
  try {
    const input = {
      data: pixels.data,
      width: pixels.info.width,
      height: pixels.info.height,
      channels: 4 as const,
    };
    const first = await estimator.estimate(input); // includes one-off warm-up (kernel compilation, allocation)
    const result = await estimator.estimate(input);
    const sorted = Float32Array.from(result.depth).sort();
    const stats = { min: sorted[0]!, median: percentile(sorted, 0.5), max: sorted[sorted.length - 1]! };
    const picture = await renderDepthPicture({
      result,
      image: input,
      colormap,
      ...(range ? { range } : {}),
      sideBySide: options.sideBySide ?? false,
    });
    const jpeg = ['.jpg', '.jpeg'].includes(extname(options.out).toLowerCase());
    // JPEG has no alpha: what the network did not see becomes white there.
    const encoded = jpeg
      ? await sharp(picture.png, { limitInputPixels: false })
          .flatten({ background: '#ffffff' })
          .jpeg({ quality: 92 })
          .toBuffer()
      : picture.png;
    // One atomic write for both files (names relative to the working folder): both are on
    // disk under temporary names before either takes its real one.
    const files: OutputFile[] = [{ name: relative(process.cwd(), resolve(options.out)), data: encoded }];
    if (options.npy !== undefined) {
      const data = encodeNpy([result.height, result.width], result.depth);
      files.push({ name: relative(process.cwd(), resolve(options.npy)), data });
    }
    const written = await writeFilesAtomic(process.cwd(), files);
    const report = {
      image,
      arch: stem,
      weights: weightsSource,
      engine: result.engine,
      precision,
      ...(int8Arithmetic ? { int8Arithmetic } : {}),
      backend: result.backend,
      threads: estimator.threads,
      networkSize: [result.height, result.width],
      depthMetres: stats,
      colorRange: picture.range,
      crop: picture.crop,
      latencyMs: { first: first.latencyMs, steady: result.latencyMs },
      files: written,
    };
    if (options.json) {
      out.json(report);
      return;
    }
    out.line(
      `${image}: ${input.width}x${input.height} -> ${stem} at ${result.width}x${result.height} (weights: ${weightsSource})`,
    );
    out.line(
      `depth (m): min ${stats.min.toFixed(3)}  median ${stats.median.toFixed(3)}  max ${stats.max.toFixed(3)}`,
    );
    out.line(
      `latency: ${result.latencyMs.toFixed(1)} ms on ${result.engine}${int8Arithmetic ? ` (int8, ${int8Arithmetic} arithmetic)` : ''}/${result.backend}${estimator.threads > 1 ? ` x ${estimator.threads} threads` : ''} (first call ${first.latencyMs.toFixed(1)} ms)`,
    );
    const { crop, range: used } = picture;
    out.line(`colour bar: ${used.min.toFixed(3)} to ${used.max.toFixed(3)} m (${SCALE_NOTES[used.scale]})`);
    if (crop.width < input.width || crop.height < input.height)
      out.line(
        `the network saw ${crop.width}x${crop.height} at (${crop.x}, ${crop.y}) of the image; the rest is left transparent`,
      );
    out.line(`wrote ${written.join(', ')}`);
  } finally {
    await estimator.dispose();
  }
}

/** Decodes `image` to RGBA pixels; a file that is not an image, or too large, is named. */
async function decodeImage(image: string): Promise<{ data: Buffer; info: OutputInfo }> {
  const bytes = await readInput(image, 'image', 'image');
  const formats = '(PNG, JPEG, WebP, TIFF, GIF and AVIF are read)';
  let size: { width?: number | undefined; height?: number | undefined };
  try {
    size = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (e) {
    throw new UserError(`cannot decode image "${image}": ${errorLine(e)} ${formats}`);
  }
  const { width = 0, height = 0 } = size;
  if (width * height > MAX_IMAGE_PIXELS) {
    throw new UserError(
      `image "${image}" is ${width}x${height} (${((width * height) / 1e6).toFixed(0)} megapixels); predict reads at most ${(MAX_IMAGE_PIXELS / 1e6).toFixed(0)} megapixels (16383x16383): scale it down first`,
    );
  }
  try {
    return await sharp(bytes, { limitInputPixels: MAX_IMAGE_PIXELS })
      .removeAlpha()
      .ensureAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new UserError(`cannot decode image "${image}": ${errorLine(e)} ${formats}`);
  }
}
