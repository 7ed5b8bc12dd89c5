/**
 * Depth metrics exactly as the FastDepth authors compute them (dwofk/fast-depth `metrics.py`,
 * `Result.evaluate` and `AverageMeter`), so our numbers compare with the paper's.
 *
 * Per image: keep pixels where `target > 0 || output > 0`, scale both to millimetres, then
 * RMSE, MAE, MSE, AbsRel, log10, delta1..3 and iRMSE/iMAE on 1/depth. Over a data set: the
 * plain mean of the per-image values (the reported RMSE is a mean of per-image RMSEs).
 *
 * Units we report: RMSE and MAE in metres, MSE in m^2, iRMSE and iMAE in 1/km (the authors'
 * code leaves them in 1/mm; 1/km = 1e6 x 1/mm, the unit depth papers print). AbsRel, log10 and
 * the deltas are unitless.
 *
 * Pixels where one side is 0 and the other is not are kept, as in the authors' code, and then
 * some means become infinite, faithfully:
 * - output = 0, target > 0: log10(0) = -inf so `log10` = inf; 1/0 = inf so `irmse` = `imae` =
 *   inf; max(o/t, t/o) = inf so the pixel fails every delta; RMSE, MAE and AbsRel (= 1 there)
 *   stay finite.
 * - target = 0, output > 0 (a hole in the ground truth): AbsRel, log10, iRMSE and iMAE = inf.
 * - no valid pixel at all: every metric is NaN (torch's mean of an empty tensor).
 * A trained FastDepth ends in ReLU, so exact zeros in its output are possible: check `log10`.
 *
 * Arithmetic: the authors work on float32 tensors. Each per-pixel value (the inputs, their
 * millimetre versions and the ratios) is rounded to float32 as torch rounds it, so the delta
 * counts match bit for bit; the sums are accumulated in float64 (torch sums float32 pairwise),
 * a difference far below the reported 3 decimals.
 */
import { FastDepthError } from '@fastdepth/graph-dsl';

/**
 * Metric names, headline first: RMSE and delta1 as the paper's tables report them, then the
 * rest in the order of the authors' results CSV (`mae, absrel, lg10, mse, delta2, delta3`),
 * then the inverse-depth metrics.
 */
export const METRIC_NAMES = [
  'rmse',
  'delta1',
  'mae',
  'absRel',
  'log10',
  'mse',
  'delta2',
  'delta3',
  'irmse',
  'imae',
] as const;

/** One of `METRIC_NAMES`. */
export type MetricName = (typeof METRIC_NAMES)[number];

/** The metrics of one image, or their average over images. Units: see `METRIC_INFO`. */
export type DepthMetrics = Readonly<Record<MetricName, number>>;

/** How each metric is labelled and printed. */
export interface MetricInfo {
  readonly label: string;
  /** Empty for unitless metrics. */
  readonly unit: string;
  readonly higherIsBetter: boolean;
  /** Decimals `formatMetrics` prints. */
  readonly digits: number;
}

/** Label, unit and direction of every metric. */
export const METRIC_INFO: Readonly<Record<MetricName, MetricInfo>> = {
  rmse: { label: 'RMSE', unit: 'm', higherIsBetter: false, digits: 3 },
  delta1: { label: 'delta1', unit: '', higherIsBetter: true, digits: 3 },
  mae: { label: 'MAE', unit: 'm', higherIsBetter: false, digits: 3 },
  absRel: { label: 'AbsRel', unit: '', higherIsBetter: false, digits: 3 },
  log10: { label: 'log10', unit: '', higherIsBetter: false, digits: 3 },
  mse: { label: 'MSE', unit: 'm^2', higherIsBetter: false, digits: 3 },
  delta2: { label: 'delta2', unit: '', higherIsBetter: true, digits: 3 },
  delta3: { label: 'delta3', unit: '', higherIsBetter: true, digits: 3 },
  irmse: { label: 'iRMSE', unit: '1/km', higherIsBetter: false, digits: 1 },
  imae: { label: 'iMAE', unit: '1/km', higherIsBetter: false, digits: 1 },
};

const f32 = Math.fround;
const MM_PER_M = 1e3;
/** 1/mm -> 1/km. */
const INV_KM_PER_INV_MM = 1e6;
const DELTA_1 = 1.25;
const DELTA_2 = 1.25 ** 2;
const DELTA_3 = 1.25 ** 3;

/**
 * Metrics of one predicted depth map against its ground truth, both in metres and of the same
 * length (any layout, as long as both share it).
 */
export function computeMetrics(output: ArrayLike<number>, target: ArrayLike<number>): DepthMetrics {
  if (output.length !== target.length) {
    throw new FastDepthError(
      `computeMetrics: output has ${output.length} values but target has ${target.length}`,
    );
  }
  let n = 0;
  let sumSq = 0;
  let sumAbs = 0;
  let sumRel = 0;
  let sumLog = 0;
  let d1 = 0;
  let d2 = 0;
  let d3 = 0;
  let sumInvSq = 0;
  let sumInvAbs = 0;
  for (let i = 0; i < output.length; i++) {
    const oM = f32(output[i]!);
    const tM = f32(target[i]!);
    if (!(tM > 0 || oM > 0)) continue;
    n++;
    const o = f32(MM_PER_M * oM);
    const t = f32(MM_PER_M * tM);
    const absDiff = f32(Math.abs(o - t));
    sumSq += f32(absDiff * absDiff);
    sumAbs += absDiff;
    sumRel += f32(absDiff / t);
    sumLog += Math.abs(Math.log10(o) - Math.log10(t));
    // Math.max propagates NaN like torch.max; NaN then fails every comparison, as in torch.
    const ratio = Math.max(f32(o / t), f32(t / o));
    if (ratio < DELTA_1) d1++;
    if (ratio < DELTA_2) d2++;
    if (ratio < DELTA_3) d3++;
    const invDiff = f32(Math.abs(f32(1 / o) - f32(1 / t)));
    sumInvSq += f32(invDiff * invDiff);
    sumInvAbs += invDiff;
  }
  // n = 0 gives 0/0 = NaN everywhere, like torch's mean of an empty selection.
  const mseMm = sumSq / n;
  return {
    rmse: Math.sqrt(mseMm) / MM_PER_M,
    delta1: d1 / n,
    mae: sumAbs / n / MM_PER_M,
    absRel: sumRel / n,
    log10: sumLog / n,
    mse: mseMm / (MM_PER_M * MM_PER_M),
    delta2: d2 / n,
    delta3: d3 / n,
    irmse: Math.sqrt(sumInvSq / n) * INV_KM_PER_INV_MM,
    imae: (sumInvAbs / n) * INV_KM_PER_INV_MM,
  };
}

function zeroSums(): Record<MetricName, number> {
  const sums = {} as Record<MetricName, number>;
  for (const name of METRIC_NAMES) sums[name] = 0;
  return sums;
}

/**
 * Averages per-image metrics like the authors' `AverageMeter`: each metric is the weighted
 * mean of the per-image values (an inf or NaN image makes that metric inf or NaN).
 */
export class MetricsAverager {
  private sums = zeroSums();
  private n = 0;

  /** Adds one image's metrics (`weight` = the authors' `n`, e.g. a batch size). */
  add(metrics: DepthMetrics, weight = 1): void {
    for (const name of METRIC_NAMES) this.sums[name] += weight * metrics[name];
    this.n += weight;
  }

  /** Total weight added so far (the number of images for weight 1). */
  get count(): number {
    return this.n;
  }

  /** The mean of every metric; throws if nothing was added (the authors divide by zero). */
  average(): DepthMetrics {
    if (this.n === 0) throw new FastDepthError('cannot average metrics over zero images');
    const avg = {} as Record<MetricName, number>;
    for (const name of METRIC_NAMES) avg[name] = this.sums[name] / this.n;
    return avg;
  }

  /** Forgets everything added. */
  reset(): void {
    this.sums = zeroSums();
    this.n = 0;
  }
}

/** Mean of per-image metrics (see `MetricsAverager`). */
export function averageMetrics(list: Iterable<DepthMetrics>): DepthMetrics {
  const averager = new MetricsAverager();
  for (const m of list) averager.add(m);
  return averager.average();
}

function formatValue(value: number, digits: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  return value.toFixed(digits);
}

/** One line, metrics in `METRIC_NAMES` order, e.g. `RMSE 0.618 m, delta1 0.777, MAE ...`. */
export function formatMetrics(metrics: DepthMetrics): string {
  return METRIC_NAMES.map((name) => {
    const info = METRIC_INFO[name];
    const value = formatValue(metrics[name], info.digits);
    return info.unit ? `${info.label} ${value} ${info.unit}` : `${info.label} ${value}`;
  }).join(', ');
}
