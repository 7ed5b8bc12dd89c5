import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SingleBar } from 'cli-progress';
import { fmt, graphOutputs, inferShapes, readNpy } from '@fastdepth/graph-dsl';
import {
  METRIC_INFO,
  METRIC_NAMES,
  MetricsAverager,
  checkDepthValues,
  computeMetrics,
  listNyuFiles,
  loadNpyPair,
  loadNyuH5File,
  nyuValTransform,
  type DepthMetrics,
  type PreparedSample,
} from '@fastdepth/eval';
import { readInput } from '../arch-source.js';
import {
  createEstimator,
  int8ModelFor,
  parseInt8Arithmetic,
  parseBackend,
  parseEngine,
  parsePrecision,
  parseThreads,
} from '../engine.js';
import { UserError } from '../errors.js';
import { parseInteger } from '../options.js';
import type { Output } from '../output.js';
import { formatTable } from '../table.js';
import { loadModel } from '../weights-source.js';

export interface EvalOptions {
  readonly arch?: string;
  readonly weights?: string;
  readonly data: string;
  readonly engine: string;
  /** `--precision auto|int8|float32` (wasm engine: int8 when the weights carry an int8 model). */
  readonly precision?: string;
  /** `--int8-arithmetic tflite|xnnpack` (default xnnpack) for the int8 model. */
  readonly int8Arithmetic?: string;
  readonly backend?: string;
  readonly threads?: string;
  readonly limit?: string;
  readonly comparePred?: string;
  readonly json?: boolean;
}

/** One frame to evaluate, loaded lazily so a folder of .h5 files streams. */
type Frame = () => Promise<PreparedSample>;

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    throw new UserError(`--data "${path}": no such file or folder`);
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * `--data` is a folder of NYU `.h5` files (searched recursively, the authors' layout), a
 * folder holding an `rgb.npy` + `depth.npy` pair, one `.h5` file, or `RGB.npy,DEPTH.npy`.
 */
export async function resolveFrames(data: string): Promise<{ kind: string; frames: Frame[] }> {
  if (data.includes(',')) {
    const [rgb, depth, ...rest] = data.split(',');
    if (!rgb || !depth || rest.length > 0)
      throw new UserError(`--data "${data}": a pair is written RGB.npy,DEPTH.npy`);
    return { kind: '.npy pair', frames: [() => loadNpyPair(rgb, depth)] };
  }
  if (await isDir(data)) {
    const rgb = join(data, 'rgb.npy');
    const depth = join(data, 'depth.npy');
    if ((await exists(rgb)) && (await exists(depth)))
      return { kind: '.npy pair', frames: [() => loadNpyPair(rgb, depth)] };
    const files = await listNyuFiles(data);
    return {
      kind: 'NYU .h5 folder',
      frames: files.map((f) => async () => nyuValTransform(await loadNyuH5File(f))),
    };
  }
  if (data.endsWith('.h5'))
    return { kind: 'NYU .h5 file', frames: [async () => nyuValTransform(await loadNyuH5File(data))] };
  throw new UserError(`--data "${data}": expected a folder, a .h5 file or RGB.npy,DEPTH.npy`);
}

/** mean(|a - b| / b) over pixels where b > 0. */
function meanRelativeDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < b.length; i++) {
    if (b[i]! > 0) {
      sum += Math.abs(a[i]! - b[i]!) / b[i]!;
      n++;
    }
  }
  return sum / n;
}

export async function evalCommand(out: Output, options: EvalOptions): Promise<void> {
  const engine = parseEngine(options.engine);
  const backend = parseBackend(options.backend, engine);
  const threads = parseThreads(options.threads, engine);
  // A bad value is refused before any work.
  parseInt8Arithmetic(options.int8Arithmetic);
  const limit = options.limit === undefined ? Infinity : parseInteger('--limit', options.limit, 1);
  const { kind, frames } = await resolveFrames(options.data);
  const { model, stem, weightsSource, quantized } = await loadModel({
    ...(options.arch !== undefined ? { arch: options.arch } : {}),
    ...(options.weights !== undefined ? { weights: options.weights } : {}),
    seed: 0,
  });
  if (options.weights === undefined)
    out.note('warning: no --weights given: evaluating seeded, untrained weights');
  const selected = frames.slice(0, limit);
  const comparePred =
    options.comparePred === undefined
      ? undefined
      : readNpy(await readInput(options.comparePred, 'prediction file', 'npy'), options.comparePred);
  if (comparePred && selected.length !== 1)
    throw new UserError('--compare-pred compares one frame: give --data a single frame');
  if (comparePred) {
    // The network's output is 1x1xHxW; a prediction saved as HxW or 1xHxW is the same data.
    const outShape = inferShapes(model.graph).get(graphOutputs(model.graph)[0]!.name)!;
    const squeeze = (shape: readonly number[]): number[] => {
      const dims = [...shape];
      while (dims.length > 2 && dims[0] === 1) dims.shift();
      return dims;
    };
    const [want, got] = [squeeze(outShape), squeeze(comparePred.shape)];
    if (want.length !== got.length || want.some((d, i) => d !== got[i]))
      throw new UserError(
        `--compare-pred "${options.comparePred ?? ''}": the prediction is ${fmt(comparePred.shape)}, the network's output is ${fmt(outShape)}`,
      );
    checkDepthValues(
      comparePred.data,
      options.comparePred ?? '',
      'prediction',
      comparePred.shape[comparePred.shape.length - 1],
    );
    // The difference is relative to the prediction, over its positive pixels.
    if (!Array.from(comparePred.data as ArrayLike<number>).some((v) => v > 0))
      throw new UserError(
        `--compare-pred "${options.comparePred ?? ''}": no positive depth in the prediction to compare against`,
      );
  }

  const precision = parsePrecision(options.precision, engine, quantized);
  const int8Model = int8ModelFor(precision, quantized, options.int8Arithmetic);
  const int8Arithmetic = int8Model?.graph.quantization.arithmetic;
  const estimator = await createEstimator(model, engine, backend, threads, int8Model);
  const averager = new MetricsAverager();
  const latencies: number[] = [];
  let relDiff: number | undefined;
  const bar = new SingleBar({
    format: 'eval [{bar}] {value}/{total} frames | ETA {eta}s',
    stream: process.stderr,
    hideCursor: true,
    noTTYOutput: false,
  });
  if (!options.json && selected.length > 1) bar.start(selected.length, 0);
  try {
    for (const frame of selected) {
      const sample = await frame();
      if (sample.height !== estimator.height || sample.width !== estimator.width) {
        throw new UserError(
          `${sample.source}: prepared frame is ${sample.height}x${sample.width}, the network takes ${estimator.height}x${estimator.width}`,
        );
      }
      const result = await estimator.estimateRgb({
        data: sample.rgb,
        width: sample.width,
        height: sample.height,
      });
      latencies.push(result.latencyMs);
      // A network whose output is not a depth (a graph without a final ReLU, say) would
      // average to a negative or NaN metric that reads like a result.
      checkDepthValues(
        result.depth,
        sample.source,
        `the depth ${stem} (weights: ${weightsSource}) predicts:`,
        sample.width,
      );
      averager.add(computeMetrics(result.depth, sample.depth));
      if (comparePred) relDiff = meanRelativeDifference(result.depth, comparePred.data);
      bar.increment();
    }
  } finally {
    bar.stop();
    await estimator.dispose();
  }
  const metrics: DepthMetrics = averager.average();
  const medianLatency = latencies.sort((a, b) => a - b)[Math.floor(latencies.length / 2)]!;
  const report = {
    arch: stem,
    weights: weightsSource,
    data: options.data,
    kind,
    frames: averager.count,
    engine: estimator.engine,
    precision,
    ...(int8Arithmetic ? { int8Arithmetic } : {}),
    backend: estimator.backend,
    threads: estimator.threads,
    metrics,
    medianLatencyMs: medianLatency,
    ...(relDiff === undefined ? {} : { meanRelativeDifferenceToPred: relDiff }),
  };
  if (options.json) {
    out.json(report);
    return;
  }
  out.line(
    `${stem} (weights: ${weightsSource}) on ${options.data}: ${averager.count} frame(s), ${kind}, ${estimator.engine}${int8Arithmetic ? ` (int8, ${int8Arithmetic} arithmetic)` : ''}/${estimator.backend}${estimator.threads > 1 ? ` x ${estimator.threads} threads` : ''}`,
  );
  out.line(
    formatTable(
      ['metric', 'value', 'unit'],
      METRIC_NAMES.map((n) => [
        METRIC_INFO[n].label,
        metrics[n].toFixed(METRIC_INFO[n].digits),
        METRIC_INFO[n].unit,
      ]),
    ),
  );
  if (relDiff !== undefined)
    out.line(`mean relative difference to ${options.comparePred ?? ''}: ${(relDiff * 100).toFixed(2)}%`);
  out.line(`median latency ${medianLatency.toFixed(1)} ms per frame`);
}
