import { basename, dirname, extname } from 'node:path';
import sharp, { type OutputInfo } from 'sharp';
import { encodeNpy } from '@fastdepth/graph-dsl';
import { resizeDepth, toColorMap, type ColormapName } from '@fastdepth/runtime-web';
import { parseInputSize, readInput } from '../arch-source.js';
import { createEstimator, parseBackend, parseEngine } from '../engine.js';
import { UserError } from '../errors.js';
import { writeFilesAtomic, type OutputFile } from '../fs-atomic.js';
import type { Output } from '../output.js';
import { loadModel } from '../weights-source.js';

export interface PredictOptions {
  readonly arch?: string;
  readonly weights?: string;
  readonly seed: string;
  readonly inputSize?: string;
  readonly engine: string;
  readonly backend?: string;
  readonly out: string;
  readonly npy?: string;
  readonly colormap: string;
  readonly sideBySide?: boolean;
  readonly json?: boolean;
}

const COLORMAPS: readonly ColormapName[] = ['turbo', 'viridis'];

function percentile(sorted: Float32Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export async function predictCommand(out: Output, image: string, options: PredictOptions): Promise<void> {
  const engine = parseEngine(options.engine);
  const backend = parseBackend(options.backend);
  if (!(COLORMAPS as readonly string[]).includes(options.colormap))
    throw new UserError(`--colormap must be one of ${COLORMAPS.join(', ')}, found "${options.colormap}"`);
  const colormap = options.colormap as ColormapName;
  const bytes = await readInput(image, 'image');
  let pixels: { data: Buffer; info: OutputInfo };
  try {
    pixels = await sharp(bytes).removeAlpha().ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new UserError(
      `cannot decode image "${image}": ${(e as Error).message} (PNG, JPEG, WebP, TIFF, GIF and AVIF are read)`,
    );
  }
  const { model, stem, weightsSource } = await loadModel({
    ...(options.arch !== undefined ? { arch: options.arch } : {}),
    ...(options.weights !== undefined ? { weights: options.weights } : {}),
    ...(options.inputSize !== undefined ? { inputSize: parseInputSize(options.inputSize) } : {}),
    seed: Number(options.seed),
  });
  if (options.weights === undefined)
    out.note('warning: no --weights given: seeded, untrained weights make a meaningless depth map');

  const estimator = await createEstimator(model, engine, backend);
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
    const full = resizeDepth(result, input.width, input.height);
    const rgba = toColorMap(full, { colormap });
    const depthPng = await sharp(Buffer.from(rgba.buffer, rgba.byteOffset, rgba.byteLength), {
      raw: { width: input.width, height: input.height, channels: 4 },
    })
      .png()
      .toBuffer();
    const png = options.sideBySide
      ? await sharp({
          create: { width: 2 * input.width, height: input.height, channels: 4, background: '#000' },
        })
          .composite([
            {
              input: pixels.data,
              raw: { width: input.width, height: input.height, channels: 4 },
              left: 0,
              top: 0,
            },
            { input: depthPng, left: input.width, top: 0 },
          ])
          .png()
          .toBuffer()
      : depthPng;
    const files: OutputFile[] = [{ name: basename(options.out), data: png }];
    const written = await writeFilesAtomic(dirname(options.out), files);
    if (options.npy !== undefined) {
      if (extname(options.npy) !== '.npy')
        throw new UserError(`--npy must name a .npy file, found "${options.npy}"`);
      written.push(
        ...(await writeFilesAtomic(dirname(options.npy), [
          { name: basename(options.npy), data: encodeNpy([result.height, result.width], result.depth) },
        ])),
      );
    }
    const report = {
      image,
      arch: stem,
      weights: weightsSource,
      engine: result.engine,
      backend: result.backend,
      networkSize: [result.height, result.width],
      depthMetres: stats,
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
      `latency: ${result.latencyMs.toFixed(1)} ms on ${result.engine}/${result.backend} (first call ${first.latencyMs.toFixed(1)} ms)`,
    );
    out.line(`wrote ${written.join(', ')}`);
  } finally {
    await estimator.dispose();
  }
}
