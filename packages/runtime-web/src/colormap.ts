/**
 * Depth -> colours. Both maps are 256-entry tables computed once from published polynomial
 * fits: turbo from Google's "Turbo" polynomial approximation (A. Mikhailov / R. Du, 2019),
 * viridis from M. Zucker's degree-6 least-squares fit of matplotlib's viridis. Values are
 * normalised as the authors' `colored_depthmap` does, `(d - min) / (max - min)` (min and max by
 * default the 2nd and 98th percentiles, see `depthRange`), so near is
 * the low end of the map (dark blue / purple) and far the high end (red / yellow).
 */
import { DepthEstimatorError } from './errors.js';

/** The colour maps `toColorMap` knows. */
export type ColormapName = 'turbo' | 'viridis';

/**
 * How the colour scale is chosen when `min`/`max` are not given: `percentile` (default) spans the
 * `percentiles` of the finite values (2 % to 98 %), so the network's isolated outliers (single
 * 0 m or ~33 m pixels) saturate instead of squeezing the rest of the map into a few colours;
 * `full` spans the smallest to the largest finite value (the authors' `colored_depthmap`).
 */
export type DepthRangeMode = 'percentile' | 'full';

/** Options of `depthRange` and of the automatic scale of `toColorMap`. */
export interface DepthRangeOptions {
  /** Default `percentile`. */
  readonly range?: DepthRangeMode;
  /** Low and high percentile in [0, 100] for `range: 'percentile'`; default `[2, 98]`. */
  readonly percentiles?: readonly [number, number];
}

/** Options of `toColorMap`. */
export interface ColorMapOptions extends DepthRangeOptions {
  readonly colormap?: ColormapName;
  /** Depth at the low end of the map; default from `range` (the 2nd percentile). */
  readonly min?: number;
  /** Depth at the high end of the map; default from `range` (the 98th percentile). */
  readonly max?: number;
}

/** The default percentiles of the colour scale. */
export const DEFAULT_PERCENTILES: readonly [number, number] = [2, 98];

type Rgb = readonly [number, number, number];

function turbo(x: number): Rgb {
  const x2 = x * x;
  const x3 = x2 * x;
  const x4 = x2 * x2;
  const x5 = x4 * x;
  return [
    0.13572138 + 4.6153926 * x - 42.66032258 * x2 + 132.13108234 * x3 - 152.94239396 * x4 + 59.28637943 * x5,
    0.09140261 + 2.19418839 * x + 4.84296658 * x2 - 14.18503333 * x3 + 4.27729857 * x4 + 2.82956604 * x5,
    0.1066733 + 12.64194608 * x - 60.58204836 * x2 + 110.36276771 * x3 - 89.90310912 * x4 + 27.34824973 * x5,
  ];
}

const VIRIDIS: readonly Rgb[] = [
  [0.2777273272234177, 0.005407344544966578, 0.3340998053353061],
  [0.1050930431085774, 1.404613529898575, 1.384590162594685],
  [-0.3308618287255563, 0.214847559468213, 0.09509516302823659],
  [-4.634230498983486, -5.799100973351585, -19.33244095627987],
  [6.228269936347081, 14.17993336680509, 56.69055260068105],
  [4.776384997670288, -13.74514537774601, -65.35303263337234],
  [-5.435455855934631, 4.645852612178535, 26.3124352495832],
];

function viridis(t: number): Rgb {
  const channel = (c: 0 | 1 | 2): number => VIRIDIS.reduceRight((acc, coeffs) => acc * t + coeffs[c], 0);
  return [channel(0), channel(1), channel(2)];
}

const FUNCTIONS: Record<ColormapName, (x: number) => Rgb> = { turbo, viridis };
const tables = new Map<ColormapName, Uint8ClampedArray>();

/** The 256-entry RGB table of `name` (768 bytes, entry i for x = i / 255). */
export function colormapTable(name: ColormapName): Uint8ClampedArray {
  let table = tables.get(name);
  if (table === undefined) {
    const fn = FUNCTIONS[name] as ((x: number) => Rgb) | undefined;
    if (fn === undefined)
      throw new DepthEstimatorError(
        `toColorMap: unknown colormap "${name}" (turbo or viridis)`,
        'BAD_OPTION',
      );
    table = new Uint8ClampedArray(768);
    for (let i = 0; i < 256; i++) {
      const rgb = fn(i / 255);
      for (let c = 0; c < 3; c++) table[i * 3 + c] = Math.round(Math.min(Math.max(rgb[c]!, 0), 1) * 255);
    }
    tables.set(name, table);
  }
  return table;
}

function fullRange(values: ArrayLike<number>): [number, number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  let count = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) continue;
    count++;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi, count] : [Number.NaN, Number.NaN, 0];
}

/** Histogram bins of the percentile search: the result is exact to (max - min) / BINS. */
const BINS = 4096;

/**
 * The colour scale of `values`: by default their 2nd and 98th percentiles (finite values only;
 * NaN and infinities are ignored), with `{ range: 'full' }` their minimum and maximum.
 * `[NaN, NaN]` when there is no finite value. The percentiles come from one 4096-bin histogram
 * between the minimum and maximum (linear time, ~0.3 ms for 224x224 values, so it runs on every
 * video frame), each edge interpolated within its bin.
 */
export function depthRange(values: ArrayLike<number>, options: DepthRangeOptions = {}): [number, number] {
  const mode = options.range ?? 'percentile';
  if (mode !== 'percentile' && mode !== 'full')
    throw new DepthEstimatorError(
      `depth range: unknown range "${String(mode)}" (percentile or full)`,
      'BAD_OPTION',
    );
  const [lo, hi, count] = fullRange(values);
  if (mode === 'full' || count === 0 || lo === hi) return [lo, hi];
  const [pLo, pHi] = options.percentiles ?? DEFAULT_PERCENTILES;
  if (!(pLo >= 0 && pLo < pHi && pHi <= 100))
    throw new DepthEstimatorError(
      `depth range: percentiles [${String(pLo)}, ${String(pHi)}], expected 0 <= low < high <= 100`,
      'BAD_OPTION',
    );
  const histogram = new Uint32Array(BINS);
  const scale = BINS / (hi - lo);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isFinite(v)) histogram[Math.min(BINS - 1, Math.floor((v - lo) * scale))]!++;
  }
  const at = (p: number): number => {
    const target = (p / 100) * count;
    let seen = 0;
    for (let b = 0; b < BINS; b++) {
      const n = histogram[b]!;
      if (n > 0 && seen + n >= target) return lo + (b + (target - seen) / n) / scale;
      seen += n;
    }
    return hi;
  };
  return [pLo === 0 ? lo : at(pLo), pHi === 100 ? hi : at(pHi)];
}

/**
 * `depth` -> RGBA pixels (4 bytes per value, alpha 255; NaN -> transparent black), ready for
 * `new ImageData(rgba, width, height)`. A constant map (max = min) takes the low end.
 */
export function toColorMap(
  depth: ArrayLike<number>,
  options: ColorMapOptions = {},
): Uint8ClampedArray<ArrayBuffer> {
  const table = colormapTable(options.colormap ?? 'turbo');
  let { min, max } = options;
  if (min === undefined || max === undefined) {
    const [lo, hi] = depthRange(depth, options);
    min ??= lo;
    max ??= hi;
  }
  const scale = max > min ? 255 / (max - min) : 0;
  const out = new Uint8ClampedArray(depth.length * 4);
  for (let i = 0; i < depth.length; i++) {
    const v = depth[i]!;
    if (Number.isNaN(v)) continue;
    const index = Math.min(Math.max(Math.round((v - min) * scale), 0), 255) * 3;
    out[i * 4] = table[index]!;
    out[i * 4 + 1] = table[index + 1]!;
    out[i * 4 + 2] = table[index + 2]!;
    out[i * 4 + 3] = 255;
  }
  return out;
}
