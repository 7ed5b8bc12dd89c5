/**
 * The measurement protocol every runner's timings go through, so that a table measured on a
 * busy machine (other jobs, a browser, a build) still ranks and sums like one measured on a
 * quiet one:
 *
 * - **rounds**: the models of a batch are timed once each per round, in an order rotated every
 *   round, so a burst of load hits every model about equally instead of one model entirely;
 * - **a reference probe**: a small fixed network (`probeGraph`) is timed (twice, the faster
 *   kept) before each round and after the last; each timing is divided by the probe's time around it (interpolated by its
 *   place in the round) and multiplied by the table's reference probe time, which divides out
 *   the slowdown the machine is under at that moment (per-round drift);
 * - **a low quantile per entry** (default the 25th percentile of the normalised rounds): a spike
 *   only ever makes a timing slower, so the low end is the model's own cost;
 * - **spread per entry** (IQR / median of its normalised rounds), recorded with the table;
 *   entries spread past `remeasureSpread` get more rounds (up to `extraRounds`);
 * - **a noise figure** for the batch: the probe's own spread (how busy the machine is) and the
 *   entry spread left after dividing out the drift (weighted by the entries' times) (how well that worked). Past
 *   `noteSpread` the caller is told; past `maxSpread` (residual) the measurement is refused
 *   with `NoisyMachineError` unless `allowNoisy`.
 */
import { loadavg } from 'node:os';
import {
  FastDepthError,
  GraphBuilder,
  initWeights,
  randomizeBatchNorm,
  type Graph,
  type Model,
} from '@fastdepth/graph-dsl';

/** Times one model once (one "round sample"); runners give this from `measure` or `prepare`. */
export interface TimedModel {
  /** Milliseconds of one forward pass (a runner may take the median of a few runs). */
  time(): Promise<number>;
  dispose?(): void | Promise<void>;
}

/** What the protocol needs of a runner: time a model once, optionally prepared ahead. */
export interface ProtocolRunner {
  measure(model: Model): Promise<number>;
  /** Compiles `model` once so each round only times it (tfjs, onnxruntime, the wasm engine). */
  prepare?(model: Model): Promise<TimedModel>;
}

export interface ProtocolOptions {
  /** Rounds per batch (default 5; at least 3). */
  readonly rounds?: number;
  /** Quantile of the normalised rounds kept per entry (default 0.25; 0 = min-of-k). */
  readonly quantile?: number;
  /** Entries whose spread exceeds this get extra rounds (default 0.15). */
  readonly remeasureSpread?: number;
  /** At most this many extra rounds for spread entries (default 4). */
  readonly extraRounds?: number;
  /** Probe spread above this: a note saying how busy the machine is (default 0.1). */
  readonly noteSpread?: number;
  /** Residual entry spread above this: refused (default 0.25), unless `allowNoisy`. */
  readonly maxSpread?: number;
  /** Measure even past `maxSpread` (the result is marked noisy). */
  readonly allowNoisy?: boolean;
  /** Notes for the user (a busy machine). */
  readonly onNote?: (text: string) => void;
}

export const DEFAULT_PROTOCOL = {
  rounds: 5,
  quantile: 0.25,
  remeasureSpread: 0.15,
  extraRounds: 4,
  noteSpread: 0.1,
  maxSpread: 0.25,
} as const;

/** One measured entry. */
export interface EntryStat {
  /** The kept time (low quantile of the normalised rounds), ms. */
  readonly ms: number;
  /** IQR / median of the normalised rounds. */
  readonly spread: number;
  readonly rounds: number;
}

/** One raw timing of a batch: the round it was made in and its milliseconds (not normalised). */
export interface RoundSample {
  readonly round: number;
  readonly ms: number;
}

/** A model's time relative to a reference model's, from timings made moments apart. */
export interface RatioStat {
  /** Median over the rounds of (this model's raw time / the reference's raw time, same round). */
  readonly ratio: number;
  /** IQR / median of those per-round ratios. */
  readonly spread: number;
  /** Rounds in which both were timed. */
  readonly rounds: number;
}

/** How noisy a batch was. */
export interface NoiseFigure {
  /** IQR / median of the probe's raw times: how much the machine's speed moved. */
  readonly probeSpread: number;
  /** The entries' spreads after dividing out the probe, weighted by their times: what is left. */
  readonly entrySpread: number;
  /** Slowest / fastest probe time. */
  readonly drift: number;
  /** The probe's low-quantile raw time in this batch, ms. */
  readonly probeMs: number;
  /** The reference the entries were scaled to, ms. */
  readonly referenceMs: number;
  readonly rounds: number;
  /** 1-minute load average when the batch ended. */
  readonly loadAverage: number;
  /** Past `maxSpread` (only returned with `allowNoisy`). */
  readonly noisy: boolean;
}

/** The machine was too noisy to measure (see `ProtocolOptions.maxSpread`). */
export class NoisyMachineError extends FastDepthError {
  override readonly name = 'NoisyMachineError';
  constructor(
    message: string,
    readonly noise: NoiseFigure,
  ) {
    super(message);
  }
}

/** The reference probe: a 3x3 conv + BN + ReLU6 then a 1x1 conv at 28x28, fixed forever. */
export function probeGraph(): Graph {
  const g = new GraphBuilder('latency_probe');
  const x = g.input('input', [1, 16, 28, 28]);
  const a = g.relu6(
    'probe_relu',
    g.batchNorm('probe_bn', g.conv2d('probe_conv', x, { outChannels: 32, kernel: 3, pads: 1 })),
  );
  g.output('out', g.conv2d('probe_pw', a, { outChannels: 32, kernel: 1 }));
  return g.build();
}

export function probeModel(): Model {
  const graph = probeGraph();
  return { graph, weights: randomizeBatchNorm(graph, initWeights(graph, 7), 8) };
}

/** The q-quantile (linear between order statistics) of a non-empty list. */
export function quantile(values: readonly number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  const pos = Math.min(1, Math.max(0, q)) * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(s.length - 1, lo + 1);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

/** IQR / median (0 for fewer than 2 values or a zero median). */
export function spreadOf(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const m = quantile(values, 0.5);
  return m > 0 ? (quantile(values, 0.75) - quantile(values, 0.25)) / m : 0;
}

const pct = (v: number): string => `${(100 * v).toFixed(0)} %`;

/** One line on how noisy a batch was, for notes and refusals. */
export function describeNoise(n: NoiseFigure): string {
  return (
    `probe spread ${pct(n.probeSpread)}, entries spread ${pct(n.entrySpread)} after dividing out the probe ` +
    `(probe slowest/fastest ${n.drift.toFixed(2)}x, load average ${n.loadAverage.toFixed(2)})`
  );
}

/**
 * Times `models` (by key) in interleaved rounds with the probe; see the module comment.
 * `referenceMs`: the probe time the entries are scaled to (a table's, so sessions measured
 * under different loads agree); default this batch's own low-quantile probe time.
 * `onSample` sees every raw timing as it is made (the device server saves them as they come).
 */
export async function measureInRounds(
  runner: ProtocolRunner,
  models: ReadonlyMap<string, Model>,
  options: ProtocolOptions & {
    readonly referenceMs?: number;
    readonly onSample?: (key: string, ms: number) => void;
  } = {},
): Promise<{ entries: Map<string, EntryStat>; noise: NoiseFigure; samples: Map<string, RoundSample[]> }> {
  const o = { ...DEFAULT_PROTOCOL, ...options };
  if (!(Number.isInteger(o.rounds) && o.rounds >= 3))
    throw new Error(`rounds must be a whole number >= 3, found ${o.rounds}`);
  const keys = [...models.keys()];
  const prepared = new Map<string, TimedModel>();
  const timed = async (key: string, model: Model): Promise<TimedModel> => {
    let t = prepared.get(key);
    if (!t) {
      t = runner.prepare ? await runner.prepare(model) : { time: () => runner.measure(model) };
      prepared.set(key, t);
    }
    return t;
  };
  const probe = probeModel();
  const PROBE = '\0probe';
  const probeTimes: number[] = [];
  /** Raw time and its place in the round, per key per round. */
  const raw = new Map<string, { ms: number; round: number; at: number }[]>(keys.map((k) => [k, []]));
  const timeProbe = async (): Promise<void> => {
    // Twice, the faster kept: a spike on the probe would make every timing beside it look fast.
    const t = await timed(PROBE, probe);
    const a = await t.time();
    o.onSample?.('probe', a);
    const b = await t.time();
    o.onSample?.('probe', b);
    probeTimes.push(Math.min(a, b));
  };
  const round = async (todo: readonly string[], r: number): Promise<void> => {
    // Rotated so no key is always first (right after the probe) or last.
    const shift = todo.length === 0 ? 0 : r % todo.length;
    const order = [...todo.slice(shift), ...todo.slice(0, shift)];
    for (const [i, key] of order.entries()) {
      const ms = await (await timed(key, models.get(key)!)).time();
      raw.get(key)!.push({ ms, round: probeTimes.length - 1, at: (i + 0.5) / order.length });
      o.onSample?.(key, ms);
    }
    await timeProbe();
  };
  try {
    await timeProbe();
    for (let r = 0; r < o.rounds; r++) await round(keys, r);
    const reference = (): number => options.referenceMs ?? quantile(probeTimes, o.quantile);
    const normalised = (key: string): number[] =>
      raw.get(key)!.map(({ ms, round: r, at }) => {
        // The probe before and after this timing's round, interpolated by its place in it.
        const p = probeTimes[r]! * (1 - at) + probeTimes[r + 1]! * at;
        return p > 0 ? (ms * reference()) / p : ms;
      });
    // Entries still spread get more rounds (the probe keeps bracketing them).
    for (let extra = 0; extra < o.extraRounds; extra++) {
      const spread = keys.filter((k) => spreadOf(normalised(k)) > o.remeasureSpread);
      if (spread.length === 0) break;
      await round(spread, o.rounds + extra);
    }
    const entries = new Map<string, EntryStat>();
    const samples = new Map(keys.map((k) => [k, raw.get(k)!.map(({ round: r, ms }) => ({ round: r, ms }))]));
    for (const key of keys) {
      const v = normalised(key);
      entries.set(key, { ms: quantile(v, o.quantile), spread: spreadOf(v), rounds: v.length });
    }
    // The residual noise of a sum of entries: their spreads weighted by their times (a 0.02 ms
    // entry spread by timer jitter hardly moves a network's estimate).
    const all = [...entries.values()];
    const weight = all.reduce((a, e) => a + e.ms, 0);
    const noise: NoiseFigure = {
      probeSpread: spreadOf(probeTimes),
      entrySpread:
        weight > 0
          ? all.reduce((a, e) => a + e.ms * e.spread, 0) / weight
          : all.reduce((a, e) => a + e.spread, 0) / Math.max(1, all.length),
      drift: Math.max(...probeTimes) / Math.max(1e-9, Math.min(...probeTimes)),
      probeMs: quantile(probeTimes, o.quantile),
      referenceMs: reference(),
      rounds: o.rounds,
      loadAverage: loadavg()[0] ?? 0,
      noisy: false,
    };
    if (noise.entrySpread > o.maxSpread) {
      const noisy = { ...noise, noisy: true };
      const text =
        `${describeNoise(noisy)}: the machine is too busy to measure latency ` +
        `(more than ${pct(o.maxSpread)} left after dividing out the probe)`;
      if (!o.allowNoisy)
        throw new NoisyMachineError(
          `${text}; stop other work and run again, or pass --allow-noisy to keep these timings (the table records they are noisy)`,
          noisy,
        );
      o.onNote?.(`warning: ${text}; kept (--allow-noisy), and the table records it`);
      return { entries, noise: noisy, samples };
    }
    if (noise.probeSpread > o.noteSpread)
      o.onNote?.(
        `note: ${describeNoise(noise)}: the machine is busy; timings are divided by the probe's drift and the low quantile of ${o.rounds}+ rounds is kept`,
      );
    return { entries, noise, samples };
  } finally {
    for (const t of prepared.values()) await t.dispose?.();
  }
}

/**
 * Each model's time relative to `reference`'s: per round, the raw time over the reference's raw
 * time in the same round, and the median of those ratios. Why not the ratio of two entries: a
 * whole network runs tens of milliseconds, so what slows one timing down is its own preemption,
 * not the drift the probe (a fraction of a millisecond) sees; two networks timed moments apart
 * share the drift, and the median of their paired ratios ignores the rounds a spike hit one of
 * them. On this project's 2-core VM this halved the round-to-round scatter of a pruned network's
 * fraction of its start against the probe-normalised low quantiles (bench/whole-ratio.ts).
 */
export function pairedRatios(
  samples: ReadonlyMap<string, readonly RoundSample[]>,
  reference: string,
): Map<string, RatioStat> {
  const ref = samples.get(reference);
  if (!ref) throw new Error(`pairedRatios: no samples of the reference "${reference}"`);
  const refByRound = new Map(ref.map((s) => [s.round, s.ms]));
  const out = new Map<string, RatioStat>();
  for (const [key, list] of samples) {
    const ratios: number[] = [];
    for (const { round, ms } of list) {
      const r = refByRound.get(round);
      if (r !== undefined && r > 0) ratios.push(ms / r);
    }
    if (ratios.length === 0) throw new Error(`pairedRatios: "${key}" shares no round with "${reference}"`);
    out.set(key, { ratio: quantile(ratios, 0.5), spread: spreadOf(ratios), rounds: ratios.length });
  }
  return out;
}
