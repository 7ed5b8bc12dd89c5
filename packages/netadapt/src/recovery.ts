/**
 * How NetAdapt makes and judges a proposal: which channels a unit keeps, how the network is
 * repaired after the cut, and the accuracy proxy that ranks proposals. Three recoveries:
 *
 * - `reconstructionRecovery`: channels chosen by reconstruction error (or L2 norm), consumers
 *   refitted by least squares against the reference network, and after each accepted
 *   iteration a chained refit of every 1x1 conv in graph order; proposals ranked by agreement
 *   with the reference's depth (delta1, AbsRel) on calibration images. All forward passes run
 *   in onnxruntime-node.
 * - `dataFreeRecovery`: no images at all: L2-norm channels, no refit, ranked by the share of
 *   the unit's filter energy the cut removes. Nothing but shapes and surgery.
 * - `evaluatorRecovery`: L2-norm channels, ranked by a custom `Evaluator` (e.g. L1 on labels).
 */
import { FastDepthError, type Graph, type Model, type TensorF32 } from '@fastdepth/graph-dsl';
import { agreement, agreementScore, type Agreement } from './agreement.js';
import {
  channelOrigin,
  correctionLayers,
  mergeCorrection,
  TeacherFeatures,
  type BlockReport,
} from './block-recovery.js';
import type { NormalEquations } from './linalg.js';
import { predictOnnx } from './onnx-forward.js';
import {
  DEFAULT_RIDGE,
  originOf,
  outputScale,
  ReferenceTargets,
  refitLayer,
  refitLayers,
  selectByReconstruction,
  type CalibrationOptions,
  type ChannelOrigins,
  type ConsumerSystem,
  type RefitLayer,
} from './reconstruction.js';
import { chooseChannels, filterEnergy, pruneUnit } from './surgery.js';
import type { Evaluator } from './train.js';
import type { PrunableUnit } from './units.js';

/** How the kept channels of a unit are chosen. */
export type ChannelSelection = 'reconstruction' | 'l2';

/** A proposal before it is scored. */
export interface Candidate {
  readonly unit: PrunableUnit;
  readonly model: Model;
  /** Kept channels of the unit (indices into its current channels). */
  readonly keep: readonly number[];
  /** Mean relative reconstruction error of the refitted consumers (reconstruction only). */
  readonly refitError?: number;
}

/** A proposal's score: `accuracy` ranks (higher is better); the rest is reported. */
export interface Score {
  readonly accuracy: number;
  readonly delta1?: number;
  readonly absRel?: number;
}

/** One iteration's view: built on the current model, it proposes, scores and accepts. */
export interface RecoveryStep {
  propose(unit: PrunableUnit, width: number): Promise<Candidate>;
  score(candidate: Candidate): Promise<Score>;
  /** The model to continue from once `candidate` won (`origins` already include its cut). */
  accept(candidate: Candidate, origins: ChannelOrigins): Promise<Model>;
  /** What the last `accept` corrected block-wise (reconstruction with `blocks` only). */
  acceptReport?(): AcceptReport | undefined;
}

/** The block-wise corrections of one accepted iteration, for reports. */
export interface AcceptReport {
  readonly blocks: readonly BlockReport[];
}

/**
 * The plain-data description of a built-in recovery: what a proposal queue sends (as content
 * hashes of safetensors and graph JSON) so that a worker rebuilds the same recovery. Custom
 * evaluators carry code, so `evaluatorRecovery` has none and runs only in this process.
 */
export type PortableRecovery =
  | { readonly kind: 'data-free' }
  | {
      readonly kind: 'reconstruction';
      readonly reference: Model;
      readonly calibration: readonly TensorF32[];
      readonly scoring: readonly TensorF32[];
      readonly selection: ChannelSelection;
      readonly ridge: number;
      readonly chain: boolean;
      readonly blocks?: boolean;
      readonly positions?: number;
      readonly seed?: number;
      readonly batch?: number;
    };

export interface Recovery {
  /** `reconstruction`, `data-free` or `evaluator`. */
  readonly kind: string;
  /** Present on the built-in recoveries a worker can rebuild (see `recoveryFromPortable`). */
  readonly portable?: PortableRecovery;
  /** What the ranking rests on, in one line (reports, plots, progress output). */
  readonly description: string;
  readonly selection: ChannelSelection;
  begin(current: Model, origins: ChannelOrigins): Promise<RecoveryStep>;
  /** The score of any model (used for the start and the result). */
  score(model: Model): Promise<Score>;
}

/** The next lineage after `unit` kept `keep`: its producers' channels map back through the cut. */
export function composeOrigins(
  origins: ChannelOrigins,
  unit: PrunableUnit,
  keep: readonly number[],
): Map<string, readonly number[]> {
  const next = new Map(origins);
  for (const p of unit.producers) {
    const before = originOf(origins, p, unit.channels);
    next.set(
      p,
      keep.map((k) => before[k]!),
    );
  }
  return next;
}

/** The consumers of a unit that reconstruction refits (1x1 convs), with their input offsets. */
function refitConsumers(unit: PrunableUnit, layers: ReadonlyMap<string, RefitLayer>) {
  return unit.sites.flatMap((s) => {
    const layer = s.kind === 'consumer' ? layers.get(s.layer) : undefined;
    return layer && s.kind === 'consumer' ? [{ layer, offset: s.offset }] : [];
  });
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** Every layer that reads, directly or through others, one of `layers` (not the layers themselves). */
function downstreamOf(graph: Graph, layers: readonly string[]): Set<string> {
  const reached = new Set<string>();
  const from = new Set(layers);
  for (const node of graph.nodes)
    if (node.inputs.some((i) => from.has(i) || reached.has(i))) reached.add(node.name);
  return reached;
}

/** Input indices a consumer keeps when the unit at `offset` (of `channels`) keeps `keep`. */
function keptInputs(inputs: number, offset: number, channels: number, keep: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < offset; i++) out.push(i);
  for (const k of keep) out.push(offset + k);
  for (let i = offset + channels; i < inputs; i++) out.push(i);
  return out;
}

export interface ReconstructionOptions extends CalibrationOptions {
  /** The unpruned network the refit matches and proposals are compared with. */
  readonly reference: Model;
  /** Images ([3, H, W] in [0, 1], at the deploy resolution) the refit is fitted on. */
  readonly calibration: readonly TensorF32[];
  /** Images proposals are scored on (agreement with the reference); default: the calibration images. */
  readonly scoring?: readonly TensorF32[];
  /** Channel choice (default `reconstruction`). */
  readonly selection?: ChannelSelection;
  /** Ridge strength relative to the mean diagonal of XᵀX (default 1e-4). */
  readonly ridge?: number;
  /** After each accepted iteration, refit every 1x1 conv in graph order (default true). */
  readonly chain?: boolean;
  /**
   * With the chained refit, also correct every k x k and depthwise conv downstream of the cut
   * (FSKD-style 1x1 corrections fitted against the reference's features and merged into the
   * conv; see `block-recovery.ts`). Default false.
   */
  readonly blocks?: boolean;
}

/** Least-squares recovery against the reference, ranked by agreement with its depth. */
export function reconstructionRecovery(options: ReconstructionOptions): Recovery {
  const selection = options.selection ?? 'reconstruction';
  const ridge = options.ridge ?? DEFAULT_RIDGE;
  const chain = options.chain ?? true;
  const blocks = options.blocks ?? false;
  if (blocks && !chain)
    throw new FastDepthError(
      'block recovery runs inside the chained refit: it needs chain (not chain: false)',
    );
  const scoring = options.scoring ?? options.calibration;
  if (options.calibration.length === 0)
    throw new FastDepthError('reconstruction needs at least one calibration image');
  const [, h, w] = options.calibration[0]!.shape as [number, number, number];
  let targets: Promise<ReferenceTargets> | undefined;
  const referenceTargets = (): Promise<ReferenceTargets> =>
    (targets ??= ReferenceTargets.collect(options.reference, options.calibration, options));
  let features: Promise<TeacherFeatures> | undefined;
  const teacherFeatures = (): Promise<TeacherFeatures> =>
    (features ??= TeacherFeatures.collect(options.reference, options.calibration, {
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
      ...(options.batch !== undefined ? { batch: options.batch } : {}),
    }));
  let lastBlocks: BlockReport[] | undefined;
  let referenceDepth: Promise<TensorF32[]> | undefined;
  const scoreModel = async (model: Model): Promise<Score> => {
    referenceDepth ??= predictOnnx(options.reference, scoring);
    const a = agreement(await predictOnnx(model, scoring), await referenceDepth);
    return { accuracy: agreementScore(a), delta1: a.delta1, absRel: a.absRel };
  };
  // Equations of the last accepted model, left by its chained refit.
  let cached: { model: Model; equations: Map<string, NormalEquations> } | undefined;

  /**
   * Refits, in graph order, every 1x1 conv whose inputs changed, each on inputs from the
   * already-refitted layers before it. `known` holds equations still valid for `start` (layers
   * upstream of every change); the rest are collected one forward pass per layer. With
   * `blocks`, the k x k and depthwise convs in `changed` are corrected in the same pass, in
   * graph order, so each refit sees the corrected layers before it.
   */
  const chainedRefit = async (
    start: Model,
    origins: ChannelOrigins,
    known: ReadonlyMap<string, NormalEquations>,
    changed: ReadonlySet<string>,
  ): Promise<Model> => {
    const t = await referenceTargets();
    let model = start;
    const equations = new Map<string, NormalEquations>();
    const refits = new Map(refitLayers(model.graph).map((l) => [l.layer, l]));
    const corrections = new Map(blocks ? correctionLayers(model.graph).map((l) => [l.layer, l]) : []);
    const f = blocks ? await teacherFeatures() : undefined;
    const report: BlockReport[] = [];
    for (const node of model.graph.nodes) {
      const correction = corrections.get(node.name);
      if (f && correction && changed.has(node.name) && f.has(node.name)) {
        if (!channelOrigin(model.graph, origins, node.name)) continue;
        const c = await f.fit(model, correction, origins);
        // Nothing to correct, or a fit that does not help on the calibration rows: leave it.
        if (!(c.before > 1e-10 && c.after < c.before)) continue;
        model = mergeCorrection(model, c);
        report.push({ layer: node.name, kind: correction.kind, before: c.before, after: c.after });
        continue;
      }
      const layer = refits.get(node.name);
      if (!layer || !t.has(layer.layer)) continue;
      const valid = known.get(layer.layer);
      if (valid) {
        equations.set(layer.layer, valid);
        continue;
      }
      const eq = (await t.equations(model, [layer], origins)).get(layer.layer)!;
      const all = Array.from({ length: layer.inChannels }, (_, i) => i);
      model = refitLayer(
        model,
        options.reference,
        layer,
        eq,
        all,
        originOf(origins, layer.layer, layer.outChannels),
        ridge,
      ).model;
      equations.set(layer.layer, eq);
    }
    lastBlocks = blocks ? report : undefined;
    cached = { model, equations };
    return model;
  };

  return {
    kind: 'reconstruction',
    portable: {
      kind: 'reconstruction',
      reference: options.reference,
      calibration: options.calibration,
      scoring,
      selection,
      ridge,
      chain,
      ...(blocks ? { blocks } : {}),
      ...(options.positions !== undefined ? { positions: options.positions } : {}),
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
      ...(options.batch !== undefined ? { batch: options.batch } : {}),
    },
    selection,
    description:
      `least-squares refit of each cut unit's 1x1 consumers against the reference on ${options.calibration.length} ` +
      `calibration images${chain ? ' + chained refit after each iteration' : ''}` +
      `${blocks ? ' + block-wise corrections of k x k and depthwise convs (merged)' : ''}; channels by ` +
      `${selection === 'reconstruction' ? 'reconstruction error (greedy)' : 'filter L2 norm'}; ranked by ` +
      `agreement with the reference's depth (-AbsRel, delta1) on ${scoring.length} images at ${h}x${w}`,
    score: scoreModel,
    async begin(current, origins) {
      const t = await referenceTargets();
      const layers = new Map(refitLayers(current.graph).map((l) => [l.layer, l]));
      const equations =
        cached?.model === current
          ? cached.equations
          : await t.equations(current, [...layers.values()], origins);
      return {
        propose(unit, width) {
          const consumers = refitConsumers(unit, layers).filter((c) => equations.has(c.layer.layer));
          const systems: ConsumerSystem[] = consumers.map((c) => ({
            equations: equations.get(c.layer.layer)!,
            offset: c.offset,
            intercept: c.layer.bias || c.layer.batchNorm !== undefined,
            scale: outputScale(current, c.layer),
          }));
          const keep =
            selection === 'reconstruction' && systems.length > 0
              ? selectByReconstruction(systems, unit.channels, width, ridge)
              : chooseChannels(current, unit, width);
          let model = pruneUnit(current, unit.id, keep);
          let error = 0;
          for (const c of consumers) {
            const r = refitLayer(
              model,
              options.reference,
              c.layer,
              equations.get(c.layer.layer)!,
              keptInputs(c.layer.inChannels, c.offset, unit.channels, keep),
              originOf(origins, c.layer.layer, c.layer.outChannels),
              ridge,
            );
            model = r.model;
            error += r.relativeError;
          }
          return Promise.resolve({
            unit,
            model,
            keep,
            ...(consumers.length > 0 ? { refitError: error / consumers.length } : {}),
          });
        },
        score: (candidate) => scoreModel(candidate.model),
        acceptReport: () => (lastBlocks ? { blocks: lastBlocks } : undefined),
        accept: (candidate, nextOrigins) => {
          lastBlocks = undefined;
          if (!chain) return Promise.resolve(candidate.model);
          // Layers outside the cut's reach keep their equations; the unit's producers and its
          // consumers only lose columns (their kept values are unchanged); everything the
          // refitted consumers feed is refitted again, in order.
          const unit = candidate.unit;
          const consumers = refitConsumers(unit, layers);
          const changed = downstreamOf(
            current.graph,
            consumers.map((c) => c.layer.layer),
          );
          const known = new Map<string, NormalEquations>();
          for (const [name, eq] of equations) {
            if (changed.has(name)) continue;
            const producer = unit.producers.includes(name);
            known.set(name, producer ? eq.select(range(eq.inputs), candidate.keep) : eq);
          }
          for (const c of consumers) {
            const eq = equations.get(c.layer.layer);
            // A consumer fed by another refitted consumer has new inputs: it is recomputed.
            if (!eq || changed.has(c.layer.layer)) continue;
            const inputs = keptInputs(eq.inputs, c.offset, unit.channels, candidate.keep);
            known.set(c.layer.layer, eq.select(inputs, range(eq.outputs)));
          }
          // Block corrections: every conv the cut reaches, its k x k consumers included.
          const reads = unit.sites.flatMap((s) => (s.kind === 'consumer' ? [s.layer] : []));
          const reached = new Set([...reads, ...downstreamOf(current.graph, reads)]);
          return chainedRefit(candidate.model, nextOrigins, known, reached);
        },
      };
    },
  };
}

/** No data: L2-norm channels, no refit, ranked by the share of filter energy a cut keeps. */
export function dataFreeRecovery(): Recovery {
  return {
    kind: 'data-free',
    portable: { kind: 'data-free' },
    selection: 'l2',
    description:
      "no calibration images: channels by filter L2 norm, no refit; ranked by the share of the unit's filter energy the cut keeps (shapes and weights only, not accuracy)",
    score: () => Promise.resolve({ accuracy: 1 }),
    begin(current) {
      return Promise.resolve({
        propose(unit, width) {
          const keep = chooseChannels(current, unit, width);
          return Promise.resolve({ unit, model: pruneUnit(current, unit.id, keep), keep });
        },
        score(candidate) {
          const energy = filterEnergy(current, candidate.unit);
          const total = energy.reduce((a, b) => a + b, 0);
          const kept = candidate.keep.reduce((a, k) => a + energy[k]!, 0);
          return Promise.resolve({
            accuracy: total > 0 ? kept / total : candidate.keep.length / energy.length,
          });
        },
        accept: (candidate) => Promise.resolve(candidate.model),
      });
    },
  };
}

/** L2-norm channels, no refit, ranked by `evaluator` (higher is better). */
export function evaluatorRecovery(evaluator: Evaluator): Recovery {
  const score = async (model: Model): Promise<Score> => ({ accuracy: await evaluator.evaluate(model) });
  return {
    kind: 'evaluator',
    selection: 'l2',
    description: 'channels by filter L2 norm, no refit; ranked by the given evaluator',
    score,
    begin(current) {
      return Promise.resolve({
        propose(unit, width) {
          const keep = chooseChannels(current, unit, width);
          return Promise.resolve({ unit, model: pruneUnit(current, unit.id, keep), keep });
        },
        score: (candidate) => score(candidate.model),
        accept: (candidate) => Promise.resolve(candidate.model),
      });
    },
  };
}

/**
 * Agreement of `model` with `reference` on `images` (e.g. held-out photos), in onnxruntime:
 * over all of them and per image (`perImage`, in order; over a few photos the mean hides the
 * one scene a cut broke).
 */
export async function agreementOn(
  reference: Model,
  model: Model,
  images: readonly TensorF32[],
): Promise<Agreement & { readonly perImage: readonly Agreement[] }> {
  const predicted = await predictOnnx(model, images);
  const teacher = await predictOnnx(reference, images);
  return {
    ...agreement(predicted, teacher),
    perImage: predicted.map((p, i) => agreement([p], [teacher[i]!])),
  };
}

/** Rebuilds a built-in recovery from its portable description (a queue worker's side). */
export function recoveryFromPortable(p: PortableRecovery): Recovery {
  if (p.kind === 'data-free') return dataFreeRecovery();
  return reconstructionRecovery({
    reference: p.reference,
    calibration: p.calibration,
    scoring: p.scoring,
    selection: p.selection,
    ridge: p.ridge,
    chain: p.chain,
    ...(p.blocks ? { blocks: true } : {}),
    ...(p.positions !== undefined ? { positions: p.positions } : {}),
    ...(p.seed !== undefined ? { seed: p.seed } : {}),
    ...(p.batch !== undefined ? { batch: p.batch } : {}),
  });
}
