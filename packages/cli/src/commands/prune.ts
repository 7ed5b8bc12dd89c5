/**
 * `fastdepth prune`: NetAdapt on a family network or saved graph. With photos (`--images`) or
 * NYU frames (`--data`), each proposal is repaired by a least-squares refit against the
 * starting network and ranked by agreement with its depth; with neither, the run is data-free
 * (shapes and filter norms only) and says so. Gradient fine-tuning is an optional extra.
 */
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { analyze, type Model, type TensorF32 } from '@fastdepth/graph-dsl';
import type { PreparedSample } from '@fastdepth/eval';
import { checkLatencyTables, type TableProvenance } from '@fastdepth/latency';
import {
  agreementOn,
  dataFreeRecovery,
  distillationTask,
  reconstructionRecovery,
  runNetAdapt,
  supervisedTask,
  type ChannelSelection,
  type Metric,
  type NetAdaptOptions,
  type NetAdaptResult,
  type Recovery,
  type Trainer,
} from '@fastdepth/netadapt';
import { UserError } from '../errors.js';
import { writeFilesAtomic } from '../fs-atomic.js';
import {
  openLatency,
  parseLatencyChoice,
  type LatencyOptions,
  type OpenedLatency,
} from '../latency-options.js';
import { checkOutputDir, linkedFolderNote, parseInputSize, parseInteger, SEED_MAX } from '../options.js';
import {
  checkQueueReachable,
  openDispatcher,
  parseQueueChoice,
  type QueueOptions,
} from '../queue-options.js';
import type { Output } from '../output.js';
import { lineChartSvg, renderPng } from '../plot.js';
import { formatResource, pruneProgress } from '../prune-progress.js';
import { formatTable, humanCount } from '../table.js';
import { loadCalibrationSet, sampleAt } from '../training-data.js';
import { loadModel } from '../weights-source.js';
import { compileArtifacts, parseTargets, targetsAreExplicit } from './compile.js';
import { resolveFrames } from './eval.js';
import { parseRecoveryFlags, type RecoveryChoice, type RecoveryFlags } from './prune-recovery.js';

export interface PruneOptions extends QueueOptions, LatencyOptions, RecoveryFlags {
  readonly arch?: string;
  /** Targets the final network is compiled to (`--target`, default all that can take it). */
  readonly target?: string;
  readonly weights?: string;
  readonly seed: string;
  readonly inputSize?: string;
  readonly budget: string;
  readonly metric: string;
  readonly data?: string;
  readonly images?: string;
  readonly teacher?: string;
  readonly channels: string;
  readonly reduction: string;
  readonly selection: string;
  readonly calibration: string;
  readonly scoring: string;
  readonly holdout?: string;
  readonly rankingPhotos?: string;
  readonly shortSteps: string;
  readonly longSteps: string;
  readonly resolution: string;
  readonly batchSize: string;
  readonly workers?: string;
  readonly keepIterations?: string;
  readonly out: string;
  readonly resume?: boolean;
  readonly overwrite?: boolean;
  readonly json?: boolean;
}

const METRICS: readonly Metric[] = ['macs', 'latency', 'params'];
const SELECTIONS: readonly ChannelSelection[] = ['reconstruction', 'l2'];

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value))
    throw new UserError(`${flag} must be one of ${allowed.join(', ')}, found "${value}"`);
  return value as T;
}

function parseFraction(flag: string, value: string): number {
  const v = Number(value);
  if (!(v > 0 && v < 1))
    throw new UserError(`${flag} must be a fraction between 0 and 1 (e.g. 0.5), found "${value}"`);
  return v;
}

/** A whole number of at least `min`. */
const parseCount = (flag: string, value: string, min: number): number => parseInteger(flag, value, min);

/** Files a NetAdapt run writes into --out (removed by --overwrite). */
const RUN_FILE =
  /^(iter-\d+\.(graph\.json|safetensors)|report\.jsonl|state\.json|final\.(graph\.json|safetensors)|netadapt\.(png|svg))$/;

/** --out must be a folder we may start in: refuse a file, and a previous run unless told what to do with it. */
function prepareOutDir(out: Output, dir: string, resume: boolean, overwrite: boolean): void {
  if (!existsSync(dir)) {
    if (resume) out.note(`note: no NetAdapt run in "${dir}" to resume (no state.json): starting afresh`);
    return;
  }
  if (!statSync(dir).isDirectory()) throw new UserError(`--out "${dir}" is a file, not a folder`);
  const hasState = existsSync(join(dir, 'state.json'));
  if (resume) {
    if (!hasState) out.note(`note: no NetAdapt run in "${dir}" to resume (no state.json): starting afresh`);
    return;
  }
  if (!hasState) return;
  if (!overwrite)
    throw new UserError(
      `--out "${dir}" holds a NetAdapt run (state.json): pass --resume to continue it, --overwrite to replace it, or choose another folder`,
    );
  for (const name of readdirSync(dir)) if (RUN_FILE.test(name)) rmSync(join(dir, name), { force: true });
  rmSync(join(dir, 'final'), { recursive: true, force: true });
}

interface Calibration {
  readonly recovery: Recovery;
  /** For the report: where the images came from. */
  readonly source: string;
  readonly heldOut: readonly TensorF32[];
  readonly heldOutNames: readonly string[];
  /** Images (and labels with --data) for the optional gradient fine-tuning. */
  readonly fineTune: { readonly images: readonly TensorF32[]; readonly labelled?: readonly PreparedSample[] };
}

/** The calibration options, parsed before any work. */
interface CalibrationChoice {
  readonly selection: ChannelSelection;
  readonly count: number;
  readonly scoring: number;
  /** Photos held out; undefined: one in five. */
  readonly holdout?: number;
  /** Photos only the ranking crops come from. */
  readonly rankingPhotos?: number;
  /** Block-wise corrections after each accepted iteration (`--block-recovery`). */
  readonly blocks?: boolean;
}

async function calibrationFor(
  out: Output,
  options: PruneOptions,
  choice: CalibrationChoice,
  model: Model,
  size: { height: number; width: number },
  seed: number,
): Promise<Calibration> {
  const { selection, count } = choice;
  if (options.images === undefined && options.data === undefined) {
    out.note(
      'warning: no --images or --data: a data-free run. Channels are chosen by filter norm and nothing is refitted; ' +
        'the ranking rests on filter energy, not on accuracy. Give photos (--images DIR) to keep what the network computes.',
    );
    return {
      recovery: dataFreeRecovery(),
      source: 'none (data-free)',
      heldOut: [],
      heldOutNames: [],
      fineTune: { images: [] },
    };
  }
  const calibration: TensorF32[] = [];
  const scoring: TensorF32[] = [];
  const heldOut: TensorF32[] = [];
  const heldOutNames: string[] = [];
  const sources: string[] = [];
  let labelled: PreparedSample[] | undefined;
  if (options.images !== undefined) {
    const set = await loadCalibrationSet(options.images, {
      count,
      scoring: choice.scoring,
      ...(choice.holdout !== undefined ? { holdout: choice.holdout } : {}),
      ...(choice.rankingPhotos !== undefined ? { rankingPhotos: choice.rankingPhotos } : {}),
      seed,
      ...size,
    });
    calibration.push(...set.calibration);
    scoring.push(...set.scoring);
    heldOut.push(...set.heldOut);
    heldOutNames.push(...set.heldOutNames);
    sources.push(
      `${set.calibration.length} calibration crops of ${set.photos.length} photo(s) + ${set.scoring.length} ranking crops of ` +
        (set.rankingNames.length > 0
          ? `${set.rankingNames.length} other photo(s) (${set.rankingNames.join(', ')})`
          : 'the same photos') +
        ` in ${options.images}` +
        (set.heldOutNames.length > 0 ? ` (${set.heldOutNames.length} held out)` : ''),
    );
  }
  if (options.data !== undefined) {
    if (size.height !== size.width)
      throw new UserError(`--data frames are square; the network's input is ${size.height}x${size.width}`);
    const { frames } = await resolveFrames(options.data);
    labelled = [];
    for (const frame of frames) labelled.push(await frame());
    const rgb = labelled.map((f) => sampleAt(f, size.height).rgb);
    calibration.push(...rgb);
    if (options.images === undefined) scoring.push(...rgb);
    sources.push(`${rgb.length} NYU frame(s) from ${options.data}`);
  }
  const source = sources.join(' + ');
  out.note(`calibration: ${source}, at ${size.height}x${size.width}`);
  return {
    recovery: reconstructionRecovery({
      reference: model,
      calibration,
      scoring,
      selection,
      seed,
      ...(choice.blocks ? { blocks: true } : {}),
    }),
    source,
    heldOut,
    heldOutNames,
    fineTune: { images: calibration, ...(labelled ? { labelled } : {}) },
  };
}

/** The optional gradient fine-tuning: supervised L1 with --data labels, else distillation. */
async function fineTuner(
  options: PruneOptions,
  calibration: Calibration,
  teacher: Model,
  resolution: number,
  batchSize: number,
): Promise<{ trainer: Trainer; kind: string }> {
  const labelled = calibration.fineTune.labelled;
  if (labelled)
    return {
      kind: `supervised L1 on ${options.data ?? ''} at ${resolution}x${resolution}`,
      trainer: supervisedTask(
        labelled.map((f) => sampleAt(f, resolution)),
        { batchSize },
      ).trainer,
    };
  const images = calibration.fineTune.images.map((img) => downsample(img, resolution));
  return {
    kind: `distillation from ${options.teacher ?? 'the starting model'} on ${images.length} calibration crops at ${resolution}x${resolution}`,
    trainer: (await distillationTask(teacher, images, { batchSize })).trainer,
  };
}

/** Nearest-neighbour resize of a CHW image to size x size (fine-tuning resolution). */
function downsample(img: TensorF32, size: number): TensorF32 {
  const [, h, w] = img.shape as [number, number, number];
  const data = new Float32Array(3 * size * size);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < size; y++) {
      const sy = Math.min(h - 1, Math.floor(((y + 0.5) * h) / size));
      for (let x = 0; x < size; x++) {
        const sx = Math.min(w - 1, Math.floor(((x + 0.5) * w) / size));
        data[(c * size + y) * size + x] = img.data[(c * h + sy) * w + sx]!;
      }
    }
  return { shape: [3, size, size], data };
}

/** The safe fine-tune's options: calibration crops at --resolution, early stopping on the ranking crops. */
function safeTuneFor(
  choice: RecoveryChoice,
  calibration: Calibration,
  teacher: Model,
  resolution: number,
  batchSize: number,
  seed: number,
  out: Output,
): NonNullable<NetAdaptOptions['safeTune']> | undefined {
  const t = choice.tune;
  const portable = calibration.recovery.portable;
  if (!t || portable?.kind !== 'reconstruction') return undefined;
  return {
    teacher,
    train: calibration.fineTune.images.map((img) => downsample(img, resolution)),
    heldOut: portable.scoring,
    learningRate: t.learningRate,
    steps: t.steps,
    schedule: t.schedule,
    patience: t.patience,
    ...(t.evalEvery !== undefined ? { evalEvery: t.evalEvery } : {}),
    loss: t.loss,
    batchSize,
    seed,
    onCheck: (c, best) =>
      out.note(
        `safe fine-tune step ${c.step}: delta1 ${c.delta1.toFixed(4)}, AbsRel ${c.absRel.toFixed(4)} against the start` +
          (best === c && c.step > 0 ? ' (best so far, kept)' : ''),
      ),
  };
}

const fixed = (v: number | undefined, digits = 3): string => (v === undefined ? '-' : v.toFixed(digits));

export async function pruneCommand(out: Output, options: PruneOptions): Promise<void> {
  // Every option is checked before any work starts.
  if (options.resume && options.overwrite)
    throw new UserError(
      '--resume and --overwrite contradict each other: --resume continues the run in --out, --overwrite replaces it; give one',
    );
  parseTargets(options.target);
  const budget = parseFraction('--budget', options.budget);
  const initialReduction = parseFraction('--reduction', options.reduction);
  const selection = oneOf('--selection', options.selection, ['best', 'ratio'] as const);
  const metric = oneOf('--metric', options.metric, METRICS);
  const latencyChoice = parseLatencyChoice(options, metric);
  const shortSteps = parseCount('--short-steps', options.shortSteps, 0);
  const longSteps = parseCount('--long-steps', options.longSteps, 0);
  const resolution = parseCount('--resolution', options.resolution, 32);
  const batchSize = parseCount('--batch-size', options.batchSize, 1);
  if (resolution % 32 !== 0)
    throw new UserError(`--resolution must be a positive multiple of 32, found ${resolution}`);
  const workers = options.workers === undefined ? undefined : parseCount('--workers', options.workers, 0);
  const keepIterations =
    options.keepIterations === undefined
      ? undefined
      : parseCount('--keep-iterations', options.keepIterations, 1);
  const seed = parseInteger('--seed', options.seed, 0, SEED_MAX);
  const recoveryChoice = parseRecoveryFlags(
    options,
    options.images !== undefined || options.data !== undefined,
  );
  const choice: CalibrationChoice = {
    ...(recoveryChoice.blocks ? { blocks: true } : {}),
    selection: oneOf('--channels', options.channels, SELECTIONS),
    count: parseCount('--calibration', options.calibration, 1),
    scoring: parseCount('--scoring', options.scoring, 1),
    ...(options.holdout !== undefined ? { holdout: parseCount('--holdout', options.holdout, 0) } : {}),
    ...(options.rankingPhotos !== undefined
      ? { rankingPhotos: parseCount('--ranking-photos', options.rankingPhotos, 0) }
      : {}),
  };
  if (choice.rankingPhotos !== undefined && options.images === undefined)
    throw new UserError('--ranking-photos sets photos of --images apart for the ranking: give --images');
  if (options.teacher !== undefined && shortSteps === 0 && longSteps === 0)
    throw new UserError(
      '--teacher only labels the gradient fine-tuning: give --short-steps or --long-steps too',
    );
  const queue = await parseQueueChoice(options);
  prepareOutDir(out, options.out, options.resume ?? false, options.overwrite ?? false);
  // Before any work: a folder the run cannot write would fail it after the first iteration.
  const outDir = await checkOutputDir(options.out, '--out');
  const linked = linkedFolderNote('--out', options.out, outDir);
  if (linked !== undefined) out.note(linked);
  // And Redis: unreachable is one line now, not after loading and calibrating.
  if (queue) await checkQueueReachable(queue);

  const { model, stem, weightsSource } = await loadModel({
    arch: options.arch ?? (options.weights === undefined ? 'fastdepth' : undefined),
    ...(options.weights !== undefined ? { weights: options.weights } : {}),
    ...(options.inputSize !== undefined ? { inputSize: parseInputSize(options.inputSize) } : {}),
    seed,
  });
  if (options.weights === undefined)
    out.note(
      `note: no --weights: "${stem}" starts from seeded weights, which compute nothing worth keeping; the cuts show the method, not a useful network`,
    );
  const inputShape = model.graph.nodes.find((n) => n.op === 'input')!.attrs.shape;
  const size = { height: inputShape[2], width: inputShape[3] };
  const calibration = await calibrationFor(out, options, choice, model, size, seed);
  out.note(`recovery: ${calibration.recovery.description}`);

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
  if ((shortSteps > 0 || longSteps > 0) && calibration.fineTune.images.length === 0)
    throw new UserError(
      '--short-steps / --long-steps fine-tune on calibration images: give --images or --data',
    );
  const tuning =
    shortSteps > 0 || longSteps > 0
      ? await fineTuner(options, calibration, teacher, resolution, batchSize)
      : undefined;
  if (tuning) out.note(`fine-tuning: ${tuning.kind}`);

  // Reached before the run starts, so an unreachable Redis is one line, not a failed iteration.
  const dispatcher = queue ? await openDispatcher(queue, out) : undefined;
  const latency = latencyChoice
    ? await openLatency(latencyChoice, out, {
        ...(options.freshLatency ? { freshLatency: true } : {}),
        ...(options.allowNoisy ? { allowNoisy: true } : {}),
      })
    : undefined;
  try {
    await pruneWith(
      out,
      { ...options, out: outDir },
      {
        model,
        stem,
        weightsSource,
        calibration,
        tuning,
        latency,
        dispatcher,
        metric,
        budget,
        shortSteps,
        longSteps,
        initialReduction,
        selection,
        resolution,
        seed,
        workers,
        keepIterations,
        recoveryChoice,
        teacher,
        batchSize,
      },
    );
  } finally {
    await latency?.close();
  }
}

async function pruneWith(
  out: Output,
  options: PruneOptions,
  run: {
    model: Model;
    stem: string;
    weightsSource: string;
    calibration: Calibration;
    tuning: { trainer: Trainer; kind: string } | undefined;
    latency: OpenedLatency | undefined;
    dispatcher: Awaited<ReturnType<typeof openDispatcher>> | undefined;
    metric: Metric;
    budget: number;
    shortSteps: number;
    longSteps: number;
    initialReduction: number;
    selection: 'best' | 'ratio';
    resolution: number;
    seed: number;
    workers: number | undefined;
    keepIterations: number | undefined;
    recoveryChoice: RecoveryChoice;
    teacher: Model;
    batchSize: number;
  },
): Promise<void> {
  const { model, stem, weightsSource, calibration, tuning, latency, dispatcher, metric, budget } = run;
  const { shortSteps, longSteps, initialReduction, selection, resolution, seed, workers, keepIterations } =
    run;
  const latencyTable = latency?.table;
  const safeTune = safeTuneFor(
    run.recoveryChoice,
    calibration,
    run.teacher,
    resolution,
    run.batchSize,
    seed,
    out,
  );
  if (safeTune)
    out.note(
      `safe fine-tune of the result: ${safeTune.steps} steps at lr ${safeTune.learningRate} (${safeTune.schedule}), ` +
        `${safeTune.loss ?? 'depth'} loss on ${safeTune.train.length} crops at ${resolution}x${resolution}, early stopping on ` +
        `agreement with the start on the ${safeTune.heldOut.length} ranking crops (never trained on); the held-out photos stay unseen`,
    );
  if (dispatcher)
    out.note(`proposals: ${dispatcher.description}; start workers with: fastdepth worker --queue URL`);
  const controller = new AbortController();
  const progress = pruneProgress(out, metric, budget, options.json ?? false);
  let interrupts = 0;
  const onInterrupt = (): void => {
    interrupts++;
    progress.stop();
    if (interrupts > 1) process.exit(130);
    out.note(
      dispatcher
        ? 'interrupted: stopping now (the proposals finished so far stay in the queue); continue later with the same command and --resume'
        : `interrupted: stopping after the current iteration (Ctrl-C again to quit now); continue later with the same command and --resume`,
    );
    controller.abort();
  };
  process.on('SIGINT', onInterrupt);
  let result: NetAdaptResult;
  try {
    result = await runNetAdapt(
      {
        model,
        metric,
        budget,
        ...(latencyTable ? { latencyTable, latencyWhole: latency.canMeasure } : {}),
        recovery: calibration.recovery,
        ...(tuning ? { trainer: tuning.trainer } : {}),
        shortSteps,
        longSteps,
        initialReduction,
        selection,
        outDir: options.out,
        resume: options.resume ?? false,
        resolution,
        seed,
        signal: controller.signal,
        ...(workers !== undefined ? { workers } : {}),
        ...(keepIterations !== undefined ? { keepIterations } : {}),
        ...(dispatcher ? { dispatcher } : {}),
        ...(safeTune ? { safeTune } : {}),
      },
      progress,
    );
  } finally {
    progress.stop();
    await dispatcher?.close();
    process.off('SIGINT', onInterrupt);
  }
  if (controller.signal.aborted && !result.done) {
    out.note(
      `stopped after iteration ${result.rows.length - 1}: resume with the same command and --resume (files in ${options.out})`,
    );
  }

  // Measured, not estimated: the first and the final network timed whole on the same runtime.
  // Both in the same rounds beside the reference probe, so their ratio holds under load.
  const timed =
    latency?.canMeasure && latencyTable
      ? await checkLatencyTables([model, result.model], latencyTable).then(([start, final]) => ({
          start: start!,
          final: final!,
        }))
      : undefined;
  const predicted = result.rows.map((r) => r.predictedOverWhole).filter((v): v is number => v !== undefined);
  const heldOut =
    calibration.heldOut.length > 0 ? await agreementOn(model, result.model, calibration.heldOut) : undefined;
  const heldOutPerPhoto = heldOut?.perImage.map((a, i) => ({
    photo: calibration.heldOutNames[i]!,
    delta1: a.delta1,
    absRel: a.absRel,
  }));

  const final = analyze(result.model.graph);
  const resourceLabel =
    metric === 'latency'
      ? `latency (ms, ${latency?.runtime ?? ''} ${result.latencyWhole ? 'whole network' : 'table estimate'})`
      : metric === 'macs'
        ? 'MACs'
        : 'parameters';
  const recoveryKind = calibration.recovery.kind;
  // People read AbsRel against the start (0 = identical, lower is better) more easily than the
  // ranking's -AbsRel; a data-free run plots what it ranked by.
  const agreeing = recoveryKind === 'reconstruction';
  const yOf = (row: { accuracy: number; absRel?: number }): number =>
    agreeing ? (row.absRel ?? -row.accuracy) : row.accuracy;
  const every = Math.max(1, Math.ceil(result.rows.length / 12));
  const chart = lineChartSvg({
    title: `NetAdapt: ${stem}, ${metric} budget ${budget}`,
    xLabel: resourceLabel,
    yLabel: agreeing
      ? 'AbsRel against the start (lower is better)'
      : "share of the cut unit's filter energy kept (data-free)",
    series: [
      {
        label: `${recoveryKind}, channels by ${calibration.recovery.selection}`,
        points: [
          { x: result.initial, y: agreeing ? 0 : result.initialAccuracy, note: 'start' },
          ...result.rows.map((r, i) => ({
            x: r.resource,
            y: yOf(r),
            // Labels on every k-th point (and the last) stay readable on long runs.
            ...(i % every === 0 || i === result.rows.length - 1 ? { note: String(r.iteration) } : {}),
          })),
          ...(longSteps > 0 && result.done
            ? [{ x: result.final, y: yOf(result.finalScore), note: 'fine-tuned' }]
            : []),
          ...(result.safeTune?.improved
            ? [{ x: result.final, y: yOf(result.finalScore), note: 'safe fine-tune' }]
            : []),
        ],
      },
      // Before recovery: the same cuts with nothing repaired, so the plot shows what recovery bought.
      ...(agreeing && result.rows.some((r) => r.cutAbsRel !== undefined)
        ? [
            {
              label: 'the cut alone, before recovery',
              points: [
                { x: result.initial, y: 0 },
                ...result.rows.flatMap((r) =>
                  r.cutAbsRel !== undefined ? [{ x: r.resource, y: r.cutAbsRel }] : [],
                ),
              ],
            },
          ]
        : []),
    ],
  });
  const plotFiles = [
    { name: 'netadapt.png', data: await renderPng(chart) },
    { name: 'netadapt.svg', data: chart },
  ];
  const written = await writeFilesAtomic(options.out, plotFiles);
  const finalStem = `${stem}-netadapt`;
  let compiled: string[] = [];
  let compiledTargets: string[] = [];
  let notCompiled: string | undefined;
  if (result.done) {
    try {
      const artifacts = await compileArtifacts(out, {
        model: result.model,
        stem: finalStem,
        weightsSource: `NetAdapt from ${weightsSource}`,
        targets: parseTargets(options.target),
        opset: 13,
        foldBatchNorm: false,
        skipUnsupported: !targetsAreExplicit(options.target),
      });
      compiled = await writeFilesAtomic(join(options.out, 'final'), artifacts.files);
      compiledTargets = Object.keys(artifacts.summaries);
      for (const [target, why] of Object.entries(artifacts.skipped))
        out.note(`note: the final network was not compiled for ${target}: ${why}`);
    } catch (e) {
      // A network whose output is constant (a seeded start whose last ReLU died) cannot be
      // checked, so it is not compiled; the pruned graph and weights are still in --out.
      if (!(e instanceof UserError) || !/is constant/.test(e.message)) throw e;
      notCompiled = e.message.replace(/ — nothing was written$/, '');
      out.note(`note: the final network was not compiled: ${notCompiled}`);
    }
  }

  const report = {
    arch: stem,
    weights: weightsSource,
    metric,
    budget,
    recovery: result.recovery,
    channelSelection: calibration.recovery.selection,
    calibration: calibration.source,
    task: tuning?.kind ?? 'none (no gradient fine-tuning)',
    resolution,
    initial: result.initial,
    final: result.final,
    fraction: result.final / result.initial,
    initialAccuracy: result.initialAccuracy,
    finalAccuracy: result.finalAccuracy,
    finalScore: result.finalScore,
    ...(result.safeTune ? { safeTune: result.safeTune } : {}),
    ...(heldOut
      ? {
          heldOut: {
            photos: calibration.heldOutNames,
            delta1: heldOut.delta1,
            absRel: heldOut.absRel,
            perPhoto: heldOutPerPhoto,
          },
        }
      : {}),
    ...(timed
      ? {
          latency: {
            runtime: latency!.runtime,
            // The resource NetAdapt cut: the whole network's time (the table's estimate scaled
            // by whole / estimate of each accepted network), or the table's sum alone.
            resource: result.latencyWhole ? 'whole network (calibrated table estimate)' : 'table estimate',
            start: {
              estimatedMs: timed.start.estimated,
              measuredMs: timed.start.measured,
              estimateOverWhole: timed.start.ratio,
              spread: timed.start.spread,
            },
            final: {
              estimatedMs: timed.final.estimated,
              measuredMs: timed.final.measured,
              estimateOverWhole: timed.final.ratio,
              spread: timed.final.spread,
            },
            // Paired: the median of same-round ratios (what survives a busy machine), not the
            // ratio of the two times above.
            measuredSpeedup: 1 / timed.final.relative.ratio,
            speedupSpread: timed.final.relative.spread,
            ...(predicted.length > 0
              ? {
                  predictedOverWhole: {
                    min: Math.min(...predicted),
                    max: Math.max(...predicted),
                    last: predicted.at(-1),
                  },
                }
              : {}),
            ...(latencyTable?.provenance ? { measuredWith: provenanceSummary(latencyTable.provenance) } : {}),
          },
        }
      : {}),
    macs: final.macs,
    params: final.params,
    done: result.done,
    ...(notCompiled !== undefined ? { notCompiled } : {}),
    iterations: result.rows,
    files: [...written, ...compiled],
  };
  if (options.json) {
    out.json(report);
    return;
  }
  const resourceHeader =
    metric === 'latency' ? (result.latencyWhole ? 'latency (whole)' : 'latency (est.)') : metric;
  // Agreement before recovery (the cut alone) beside the accepted one; measured time where timed.
  const withCut = result.rows.some((r) => r.cutAbsRel !== undefined);
  const withMeasured = result.rows.some((r) => r.measuredMs !== undefined);
  out.line(
    formatTable(
      [
        'iter',
        'unit',
        'width',
        resourceHeader,
        'of start',
        'proxy',
        'delta1',
        'AbsRel',
        ...(withCut ? ['cut AbsRel'] : []),
        'refit err',
        ...(withMeasured ? ['measured ms'] : []),
      ],
      result.rows.map((r) => [
        r.iteration,
        r.unit,
        `${r.from} -> ${r.to}`,
        formatResource(metric, r.resource),
        `${(100 * r.fraction).toFixed(1)}%`,
        r.accuracy.toFixed(4),
        fixed(r.delta1),
        fixed(r.absRel),
        ...(withCut ? [fixed(r.cutAbsRel)] : []),
        fixed(r.refitError),
        ...(withMeasured ? [fixed(r.measuredMs, 2)] : []),
      ]),
    ),
  );
  if (withCut)
    out.line(
      'cut AbsRel: the same channels cut with nothing repaired (before recovery); AbsRel: after recovery',
    );
  if (result.safeTune) {
    const t = result.safeTune;
    out.line(
      `safe fine-tune: ranking-crop agreement delta1 ${t.start.delta1.toFixed(3)} / AbsRel ${t.start.absRel.toFixed(3)} at the start, ` +
        (t.improved
          ? `best delta1 ${t.best.delta1.toFixed(3)} / AbsRel ${t.best.absRel.toFixed(3)} at step ${t.best.step} (kept)`
          : 'never beaten: the start is kept') +
        ` after ${t.stepsRun} steps${t.stoppedEarly ? ' (stopped early)' : ''}`,
    );
  }
  out.line(`recovery: ${result.recovery}`);
  out.line(
    `${metric}${metric === 'latency' ? (result.latencyWhole ? ' (whole network, measured)' : ' (table estimate)') : ''}: ${formatResource(metric, result.initial)} -> ${formatResource(metric, result.final)} (${((100 * result.final) / result.initial).toFixed(1)}%), proxy ${result.initialAccuracy.toFixed(4)} -> ${result.finalAccuracy.toFixed(4)}`,
  );
  if (timed) {
    out.line(
      `measured on ${latency!.runtime}: ${timed.start.measured.toFixed(2)} ms -> ${timed.final.measured.toFixed(2)} ms ` +
        `(${(1 / timed.final.relative.ratio).toFixed(2)}x faster, median of ${timed.final.relative.rounds} paired rounds, spread ${(100 * timed.final.relative.spread).toFixed(0)} %; ` +
        `the table estimated ${timed.start.estimated.toFixed(2)} -> ${timed.final.estimated.toFixed(2)} ms)`,
    );
    out.line(
      `table estimate / whole network: start ${timed.start.ratio.toFixed(3)}, final ${timed.final.ratio.toFixed(3)}` +
        (predicted.length > 0
          ? `; cuts chosen on whole-network time (each accepted network timed whole, the estimate rescaled): prediction / whole ${Math.min(...predicted).toFixed(3)}-${Math.max(...predicted).toFixed(3)}`
          : ''),
    );
  }
  if (latency && !latency.canMeasure)
    out.line(
      `latency from ${latency.runtime}; its device is not attached here, so the start and final networks were not timed whole (fastdepth latency-check does it on the device)`,
    );
  if (heldOut && heldOutPerPhoto)
    out.line(
      `held-out photos: delta1 ${heldOut.delta1.toFixed(3)}, AbsRel ${heldOut.absRel.toFixed(3)} against the starting network; ` +
        `per photo delta1 ${heldOutPerPhoto.map((p) => `${p.photo} ${p.delta1.toFixed(3)}`).join(', ')}`,
    );
  out.line(
    `final: ${humanCount(final.macs)} MACs, ${humanCount(final.params)} params${
      !result.done
        ? ' (budget not met yet: run again with --resume)'
        : notCompiled !== undefined
          ? `; not compiled (constant output), graph and weights in ${join(options.out, 'final.graph.json')} / final.safetensors`
          : `; compiled to ${compiledTargets.join(', ')} in ${join(options.out, 'final')}`
    }`,
  );
  out.line(
    `plot: ${written[0] ?? ''}; accepted iterations are in ${options.out} (graph .json + .safetensors + report.jsonl)`,
  );
}

/** How the latency table was measured, for the report (per-entry spreads counted, not listed). */
function provenanceSummary(p: TableProvenance): Omit<TableProvenance, 'spreads'> & { entries: number } {
  const { spreads, ...rest } = p;
  return { ...rest, entries: Object.keys(spreads).length };
}
