/**
 * `fastdepth prune`'s recovery flags: block-wise corrections (`--block-recovery`) and the safe
 * fine-tune of the result (`--tune-steps`, `--lr`, `--schedule`, `--patience`, `--eval-every`,
 * `--tune-loss`). Parsed before any work; every bad value names its flag.
 */
import { SCHEDULES, TUNE_LOSSES, type Schedule, type TuneLoss } from '@fastdepth/netadapt';
import { UserError } from '../errors.js';
import { parseInteger } from '../options.js';

export interface RecoveryFlags {
  readonly blockRecovery?: boolean;
  readonly tuneSteps?: string;
  readonly lr?: string;
  readonly schedule?: string;
  readonly patience?: string;
  readonly evalEvery?: string;
  readonly tuneLoss?: string;
}

export interface RecoveryChoice {
  readonly blocks: boolean;
  readonly tune?: {
    readonly steps: number;
    readonly learningRate: number;
    readonly schedule: Schedule;
    readonly patience: number;
    readonly evalEvery?: number;
    readonly loss: TuneLoss;
  };
}

/** The default rate: the probe kept agreement at 1e-5 and lost it at 1e-4. */
export const DEFAULT_LR = 1e-5;

export function parseRecoveryFlags(o: RecoveryFlags, hasImages: boolean): RecoveryChoice {
  const blocks = o.blockRecovery ?? false;
  if (blocks && !hasImages)
    throw new UserError('--block-recovery fits corrections on calibration images: give --images or --data');
  const steps = o.tuneSteps === undefined ? 0 : parseInteger('--tune-steps', o.tuneSteps, 0);
  const tuneOnly = (
    [
      ['--lr', o.lr],
      ['--schedule', o.schedule],
      ['--patience', o.patience],
      ['--eval-every', o.evalEvery],
      ['--tune-loss', o.tuneLoss],
    ] as const
  ).filter(([, v]) => v !== undefined);
  if (steps === 0) {
    if (tuneOnly.length > 0)
      throw new UserError(
        `${tuneOnly.map(([f]) => f).join(', ')} only set the safe fine-tune: give --tune-steps N too`,
      );
    return { blocks };
  }
  if (!hasImages)
    throw new UserError('--tune-steps fine-tunes against the starting network on photos: give --images');
  let learningRate = DEFAULT_LR;
  if (o.lr !== undefined) {
    learningRate = Number(o.lr);
    if (o.lr.trim() === '' || !Number.isFinite(learningRate) || learningRate <= 0 || learningRate > 1)
      throw new UserError(`--lr must be a number in (0, 1], e.g. 1e-5, found "${o.lr}"`);
  }
  const schedule = o.schedule ?? 'cosine';
  if (!(SCHEDULES as readonly string[]).includes(schedule))
    throw new UserError(`--schedule must be one of ${SCHEDULES.join(', ')}, found "${schedule}"`);
  const loss = o.tuneLoss ?? 'depth';
  if (!(TUNE_LOSSES as readonly string[]).includes(loss))
    throw new UserError(`--tune-loss must be one of ${TUNE_LOSSES.join(', ')}, found "${loss}"`);
  return {
    blocks,
    tune: {
      steps,
      learningRate,
      schedule: schedule as Schedule,
      loss: loss as TuneLoss,
      patience: o.patience === undefined ? 3 : parseInteger('--patience', o.patience, 1),
      ...(o.evalEvery !== undefined ? { evalEvery: parseInteger('--eval-every', o.evalEvery, 1) } : {}),
    },
  };
}
