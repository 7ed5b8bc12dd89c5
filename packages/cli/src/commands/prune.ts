import { join } from 'node:path';
import { analyze } from '@fastdepth/graph-dsl';
import type { PreparedSample } from '@fastdepth/eval';
import {
  distillationTask,
  randomImages,
  runNetAdapt,
  supervisedTask,
  type LatencyBackend,
  type Metric,
  type NetAdaptOptions,
  type NetAdaptResult,
} from '@fastdepth/netadapt';
import { parseInputSize } from '../arch-source.js';
import { UserError } from '../errors.js';
import { writeFilesAtomic } from '../fs-atomic.js';
import type { Output } from '../output.js';
import { lineChartSvg, renderPng } from '../plot.js';
import { formatResource, pruneProgress } from '../prune-progress.js';
import { formatTable, humanCount } from '../table.js';
import { TARGET_NAMES } from '../targets.js';
import { loadImageFolder, sampleAt } from '../training-data.js';
import { loadModel } from '../weights-source.js';
import { compileArtifacts, parseInteger } from './compile.js';
import { resolveFrames } from './eval.js';

export interface PruneOptions {
  readonly arch?: string;
  readonly weights?: string;
  readonly seed: string;
  readonly inputSize?: string;
  readonly budget: string;
  readonly metric: string;
  readonly backend: string;
  readonly data?: string;
  readonly images?: string;
  readonly teacher?: string;
  readonly shortSteps: string;
  readonly longSteps: string;
  readonly resolution: string;
  readonly batchSize: string;
  readonly workers?: string;
  readonly out: string;
  readonly resume?: boolean;
  readonly json?: boolean;
}

const METRICS: readonly Metric[] = ['macs', 'latency', 'params'];
const LATENCY_BACKENDS: readonly LatencyBackend[] = ['wasm', 'onnx'];

function parseLatencyBackend(value: string): LatencyBackend {
  if (!(LATENCY_BACKENDS as readonly string[]).includes(value))
    throw new UserError(`--backend must be one of ${LATENCY_BACKENDS.join(', ')}, found "${value}"`);
  return value as LatencyBackend;
}

function parseFraction(flag: string, value: string): number {
  const v = Number(value);
  if (!(v > 0 && v < 1))
    throw new UserError(`${flag} must be a fraction between 0 and 1 (e.g. 0.5), found "${value}"`);
  return v;
}

/** Fine-tuning task: supervised on NYU data, or distillation on photos (or seeded noise images). */
async function buildTask(
  out: Output,
  options: PruneOptions,
  resolution: number,
  batchSize: number,
  teacherModel: NetAdaptOptions['model'],
) {
  if (options.data !== undefined) {
    if (options.images !== undefined || options.teacher !== undefined)
      throw new UserError('--data (supervised) and --images/--teacher (distillation) exclude each other');
    const { frames } = await resolveFrames(options.data);
    const prepared: PreparedSample[] = [];
    for (const frame of frames) prepared.push(await frame());
    out.note(
      `fine-tuning: supervised L1 on ${prepared.length} labelled frame(s) from ${options.data} at ${resolution}x${resolution}`,
    );
    return {
      kind: `supervised L1 on ${options.data}`,
      task: supervisedTask(
        prepared.map((f) => sampleAt(f, resolution)),
        { batchSize },
      ),
    };
  }
  let images;
  let source: string;
  if (options.images !== undefined) {
    images = await loadImageFolder(options.images, resolution);
    source = `${images.length} image(s) in ${options.images}`;
  } else {
    images = randomImages(8, resolution, 0);
    source = '8 seeded synthetic images (no --images or --data given)';
    out.note(
      'warning: no --data or --images: distilling on synthetic images; give real photos for a meaningful accuracy proxy',
    );
  }
  out.note(
    `fine-tuning: distillation from ${options.teacher ?? 'the original model'} on ${source} at ${resolution}x${resolution}`,
  );
  return {
    kind: `distillation on ${source}`,
    task: await distillationTask(teacherModel, images, { batchSize }),
  };
}

export async function pruneCommand(out: Output, options: PruneOptions): Promise<void> {
  const budget = parseFraction('--budget', options.budget);
  if (!(METRICS as readonly string[]).includes(options.metric))
    throw new UserError(`--metric must be one of ${METRICS.join(', ')}, found "${options.metric}"`);
  const metric = options.metric as Metric;
  const shortSteps = parseInteger('--short-steps', options.shortSteps);
  const longSteps = parseInteger('--long-steps', options.longSteps);
  const resolution = parseInteger('--resolution', options.resolution);
  const batchSize = parseInteger('--batch-size', options.batchSize);
  if (resolution % 32 !== 0 || resolution <= 0)
    throw new UserError(`--resolution must be a positive multiple of 32, found ${resolution}`);
  const workers = options.workers === undefined ? undefined : parseInteger('--workers', options.workers);
  const seed = parseInteger('--seed', options.seed);
  const { model, stem, weightsSource } = await loadModel({
    arch: options.arch ?? (options.weights === undefined ? 'fastdepth' : undefined),
    ...(options.weights !== undefined ? { weights: options.weights } : {}),
    ...(options.inputSize !== undefined ? { inputSize: parseInputSize(options.inputSize) } : {}),
    seed,
  });
  // A .safetensors teacher has no graph of its own: it is --arch's. ONNX/TFLite teachers carry theirs.
  const teacherIsWeightsOnly = options.teacher?.toLowerCase().endsWith('.safetensors') ?? false;
  const teacher =
    options.teacher === undefined
      ? model
      : (
          await loadModel({
            ...(teacherIsWeightsOnly && options.arch !== undefined ? { arch: options.arch } : {}),
            weights: options.teacher,
            seed: 0,
          })
        ).model;
  const { kind, task } = await buildTask(out, options, resolution, batchSize, teacher);

  const progress = pruneProgress(out, metric, budget, options.json ?? false);
  const result: NetAdaptResult = await runNetAdapt(
    {
      model,
      metric,
      budget,
      backend: parseLatencyBackend(options.backend),
      trainer: task.trainer,
      evaluator: task.evaluator,
      shortSteps,
      longSteps,
      outDir: options.out,
      resume: options.resume ?? false,
      resolution,
      seed,
      ...(workers !== undefined ? { workers } : {}),
    },
    progress,
  );
  progress.stop();

  const final = analyze(result.model.graph);
  const chart = lineChartSvg({
    title: `NetAdapt: ${stem}, ${metric} budget ${budget}`,
    xLabel: metric === 'latency' ? 'latency (ms, table estimate)' : metric === 'macs' ? 'MACs' : 'parameters',
    yLabel: 'accuracy proxy (-L1, higher is better)',
    series: [
      {
        label: kind.length > 60 ? `${kind.slice(0, 57)}...` : kind,
        points: [
          { x: result.initial, y: result.initialAccuracy, note: 'start' },
          ...result.rows.map((r) => ({ x: r.resource, y: r.accuracy, note: String(r.iteration) })),
        ],
      },
    ],
  });
  const plotFiles = [
    { name: 'netadapt.png', data: await renderPng(chart) },
    { name: 'netadapt.svg', data: chart },
  ];
  const written = await writeFilesAtomic(options.out, plotFiles);
  const finalStem = `${stem}-netadapt`;
  let compiled: string[] = [];
  if (result.done) {
    const artifacts = await compileArtifacts(out, {
      model: result.model,
      stem: finalStem,
      weightsSource: `NetAdapt from ${weightsSource}`,
      targets: [...TARGET_NAMES],
      opset: 13,
      foldBatchNorm: false,
    });
    compiled = await writeFilesAtomic(join(options.out, 'final'), artifacts.files);
  }

  const report = {
    arch: stem,
    weights: weightsSource,
    metric,
    budget,
    task: kind,
    resolution,
    initial: result.initial,
    final: result.final,
    fraction: result.final / result.initial,
    initialAccuracy: result.initialAccuracy,
    finalAccuracy: result.finalAccuracy,
    macs: final.macs,
    params: final.params,
    done: result.done,
    iterations: result.rows,
    files: [...written, ...compiled],
  };
  if (options.json) {
    out.json(report);
    return;
  }
  out.line(
    formatTable(
      ['iter', 'unit', 'width', metric, 'of start', 'accuracy'],
      result.rows.map((r) => [
        r.iteration,
        r.unit,
        `${r.from} -> ${r.to}`,
        formatResource(metric, r.resource),
        `${(100 * r.fraction).toFixed(1)}%`,
        r.accuracy.toFixed(4),
      ]),
    ),
  );
  out.line(
    `${metric}: ${formatResource(metric, result.initial)} -> ${formatResource(metric, result.final)} (${((100 * result.final) / result.initial).toFixed(1)}%), accuracy proxy ${result.initialAccuracy.toFixed(4)} -> ${result.finalAccuracy.toFixed(4)}`,
  );
  out.line(
    `final: ${humanCount(final.macs)} MACs, ${humanCount(final.params)} params${result.done ? `; compiled to ${TARGET_NAMES.join(', ')} in ${join(options.out, 'final')}` : ' (budget not met yet: run again with --resume)'}`,
  );
  out.line(
    `plot: ${written[0] ?? ''}; every accepted iteration is in ${options.out} (graph .json + .safetensors + report.jsonl)`,
  );
}
