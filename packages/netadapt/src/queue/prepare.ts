/**
 * Turns one iteration's proposals into jobs: stores what they need once by content hash (base
 * network, reference, images, fine-tuning pairs) and writes each job's plain data. Shared by
 * the Redis queue and the worker-thread dispatcher, so both send exactly the same jobs.
 */
import { FastDepthError } from '@fastdepth/graph-dsl';
import type { DispatchedProposal, DispatchRequest, ProposalResult } from '../proposal.js';
import {
  formatVersion,
  JOB_FORMAT,
  jobId,
  PACKAGE_VERSION,
  type ProposalJobData,
  type ProposalJobResult,
  type RecoveryRef,
} from './jobs.js';
import { encodeImages, encodeSamples, type BlobWriter, type ModelRef } from './store.js';

export interface SubmittedJob {
  readonly id: string;
  readonly data: ProposalJobData;
}

export interface JobOutcome {
  readonly result: ProposalJobResult;
  readonly reused: boolean;
}

/** Every blob a job reads. */
export function jobBlobs(data: ProposalJobData): string[] {
  const r = data.recovery;
  return [
    data.base.graph,
    data.base.weights,
    ...(r.kind === 'reconstruction'
      ? [r.reference.graph, r.reference.weights, r.calibration, r.scoring]
      : []),
    ...(data.fineTune ? [data.fineTune.samples] : []),
  ];
}

export const toProposalResult = (o: JobOutcome): ProposalResult => ({
  unit: o.result.unitId,
  width: o.result.width,
  score: o.result.score,
  keep: o.result.keep,
  ...(o.result.refitError !== undefined ? { refitError: o.result.refitError } : {}),
  worker: o.result.worker,
  ...(o.reused ? { reused: true } : {}),
});

/** Builds each iteration's jobs; remembers what it stored to store it once. */
export class JobBuilder {
  /** Blobs of the previous base network: deleted once the next iteration no longer needs them. */
  private previousBase: ModelRef | undefined;
  private readonly shared = new WeakMap<object, { recovery: RecoveryRef; pinned: string[] }>();
  constructor(private readonly blobs: BlobWriter) {}

  private async recoveryRef(request: DispatchRequest): Promise<{ recovery: RecoveryRef; pinned: string[] }> {
    const blobs = this.blobs;
    const known = this.shared.get(request.recovery);
    if (known) return known;
    const p = request.recovery.portable;
    if (!p)
      throw new FastDepthError(
        `proposals sent to workers need a built-in recovery (reconstruction or data-free); "${request.recovery.kind}" runs only in-process`,
      );
    let made: { recovery: RecoveryRef; pinned: string[] };
    if (p.kind === 'data-free') made = { recovery: { kind: 'data-free' }, pinned: [] };
    else {
      const reference = await blobs.model(p.reference);
      const calibration = await blobs.list(p.calibration, () => encodeImages(p.calibration));
      const scoring = await blobs.list(p.scoring, () => encodeImages(p.scoring));
      made = {
        recovery: {
          kind: 'reconstruction',
          reference,
          calibration,
          scoring,
          selection: p.selection,
          ridge: p.ridge,
          chain: p.chain,
          ...(p.positions !== undefined ? { positions: p.positions } : {}),
          ...(p.seed !== undefined ? { seed: p.seed } : {}),
          ...(p.batch !== undefined ? { batch: p.batch } : {}),
        },
        pinned: [reference.graph, reference.weights, calibration, scoring],
      };
    }
    this.shared.set(request.recovery, made);
    return made;
  }

  async build(request: DispatchRequest): Promise<SubmittedJob[]> {
    const blobs = this.blobs;
    const { recovery, pinned } = await this.recoveryRef(request);
    let fineTune: ProposalJobData['fineTune'];
    if (request.shortSteps > 0 && request.trainer) {
      const t = request.trainer.portable;
      if (!t)
        throw new FastDepthError(
          'proposals sent to workers need the built-in fine-tuning (portable); this trainer runs only in-process',
        );
      const samples = await blobs.list(t.samples, () => encodeSamples(t.samples));
      pinned.push(samples);
      fineTune = {
        steps: request.shortSteps,
        samples,
        batchSize: t.batchSize,
        learningRate: t.learningRate,
        seed: t.seed,
        backend: t.backend,
      };
    }
    const base = await blobs.model(request.current);
    await blobs.touch([...new Set(pinned)]);
    const previous = this.previousBase;
    if (previous && previous.weights !== base.weights) {
      const keep = new Set(pinned);
      await blobs.remove([previous.graph, previous.weights].filter((h) => !keep.has(h) && h !== base.graph));
    }
    this.previousBase = base;
    const origins = [...request.origins.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
    return request.proposals.map((p: DispatchedProposal) => ({
      id: jobId(request.runId, request.iteration, base, p.unit.id),
      data: {
        format: JOB_FORMAT,
        version: formatVersion(),
        fastdepth: PACKAGE_VERSION,
        runId: request.runId,
        iteration: request.iteration,
        unitId: p.unit.id,
        unitIndex: p.index,
        width: p.width,
        resource: p.resource,
        target: request.target,
        seed: p.seed,
        base,
        origins,
        recovery,
        ...(fineTune ? { fineTune } : {}),
      } satisfies ProposalJobData,
    }));
  }
}
