/**
 * Empirical latency: a lookup table of per-layer latencies measured on a real runtime, the
 * way NetAdapt estimates a network's latency (the sum of its layers). A "layer" is a conv with
 * the BN and activation that follow it (one block, as every runtime fuses them), or any other
 * op on its own. Each is measured as a one-layer network compiled by codegen-tfjs and run on
 * tfjs-wasm in Node; entries are keyed by layer signature + (in, out) channels + backend +
 * machine, measured lazily on a grid (multiples of `step`), cached on disk as JSON, and
 * bilinearly interpolated between grid points.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { encodeOnnx } from '@fastdepth/codegen-onnx';
import { emitTfjs } from '@fastdepth/codegen-tfjs';
import { importGeneratedModule, type LoadedTfjsModule } from '@fastdepth/codegen-tfjs/node';
import {
  consumers,
  FastDepthError,
  GraphBuilder,
  inferShapes,
  initWeights,
  randomizeBatchNorm,
  type Graph,
  type Model,
  type Node,
  type Shape,
} from '@fastdepth/graph-dsl';
import {
  DEFAULT_PROTOCOL,
  measureInRounds,
  pairedRatios,
  probeGraph,
  type EntryStat,
  type NoiseFigure,
  type RatioStat,
  type RoundSample,
  type ProtocolOptions,
  type ProtocolRunner,
  type TimedModel,
} from './protocol.js';
import { writeFileAtomicSync } from './temp-files.js';

/**
 * Rounds a comparison of whole networks takes at least (`compareWhole`). A whole network costs
 * tens of milliseconds, so 15 rounds of two are a second or two, against the minutes of an
 * iteration's table entries; with the library's 5 a pruned network's fraction of its start
 * scattered by several per cent between repeats on a busy 2-core machine.
 */
export const WHOLE_ROUNDS = 15;
import { tf, useTimingBackend } from './tf-backend.js';

/** One latency-relevant layer of a graph. */
export interface LatencyLayer {
  /** The layer's (first) node name, e.g. `conv1_pw` (its BN and activation ride along). */
  readonly name: string;
  /** Everything but the channel counts: op, kernel, stride, pads, spatial size, fused BN/act. */
  readonly signature: string;
  readonly inChannels: number;
  readonly outChannels: number;
  /** Depthwise convs and channel-wise ops have in = out: a 1-D table. */
  readonly channelwise: boolean;
  /** Builds the one-layer graph measured for (cin, cout). */
  readonly build: (cin: number, cout: number) => Graph;
}

/** Splits a graph into latency layers (conv + BN + activation blocks, other ops alone). */
export function latencyLayers(graph: Graph): LatencyLayer[] {
  const shapes = inferShapes(graph);
  const users = consumers(graph);
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const absorbed = new Set<string>();
  const soleUser = (name: string): Node | undefined => {
    const u = users.get(name)!;
    return u.length === 1 ? byName.get(u[0]!) : undefined;
  };
  const layers: LatencyLayer[] = [];
  for (const node of graph.nodes) {
    if (absorbed.has(node.name) || node.op === 'input' || node.op === 'output') continue;
    const inShape: Shape = shapes.get(node.inputs[0]!)!;
    const out = shapes.get(node.name)!;
    if (node.op === 'conv2d' || node.op === 'convTranspose2d') {
      const bn = soleUser(node.name);
      const hasBn = bn?.op === 'batchNorm';
      const act = hasBn ? soleUser(bn.name) : undefined;
      const actOp = act && (act.op === 'relu' || act.op === 'relu6') ? act.op : 'none';
      if (hasBn) absorbed.add(bn.name);
      if (actOp !== 'none') absorbed.add(act!.name);
      const depthwise = node.attrs.groups > 1 && node.attrs.groups === inShape[1];
      const a = node.attrs;
      const signature = [
        node.op,
        depthwise ? 'dw' : `g${a.groups}`,
        `k${a.kernel.join('x')}`,
        `s${a.stride.join('x')}`,
        `p${a.pads.join(',')}`,
        'dilation' in a ? `d${a.dilation.join('x')}` : `op${a.outputPadding.join('x')}`,
        `in${inShape[0]}x${inShape[2]}x${inShape[3]}`,
        hasBn ? 'bn' : 'nobn',
        actOp,
        a.bias ? 'bias' : 'nobias',
      ].join(':');
      layers.push({
        name: node.name,
        signature,
        inChannels: inShape[1],
        outChannels: out[1],
        channelwise: depthwise,
        build: (cin, cout) => {
          const g = new GraphBuilder(`lut_${node.op}`);
          const x = g.input('input', [inShape[0], cin, inShape[2], inShape[3]]);
          const attrs = { ...a, outChannels: depthwise ? cin : cout, groups: depthwise ? cin : a.groups };
          let y = g.node(node.op, 'layer', [x], attrs);
          if (hasBn) y = g.batchNorm('layer_bn', y);
          if (actOp === 'relu') y = g.relu('layer_act', y);
          if (actOp === 'relu6') y = g.relu6('layer_act', y);
          g.output('out', y);
          return g.build();
        },
      });
      continue;
    }
    // Channel-wise ops: signature by op and input shapes but the channels.
    const ins = node.inputs.map((i) => shapes.get(i)!);
    const signature = [
      node.op,
      JSON.stringify(node.attrs),
      ...ins.map((s) => `${s[0]}x${s[2]}x${s[3]}`),
    ].join(':');
    const concat = node.op === 'concat';
    layers.push({
      name: node.name,
      signature: concat ? `${signature}:c${ins.map((s) => s[1]).join(',')}` : signature,
      inChannels: inShape[1],
      outChannels: out[1],
      channelwise: true,
      build: (c) => {
        // Generated modules take one input: multi-input ops read it several times.
        const g = new GraphBuilder(`lut_${node.op}`);
        const [n, , h, w] = inShape;
        const x = g.input('input', [n, concat ? Math.ceil(out[1] / ins.length) : c, h, w]);
        const y = g.node(
          node.op,
          'layer',
          ins.map(() => x),
          node.attrs,
        );
        g.output('out', y);
        return g.build();
      },
    });
  }
  return layers;
}

/**
 * The network `perLayerOverhead` calibrates on: stem conv then 6 separable blocks (depthwise
 * 3x3 + pointwise, BN + ReLU6) at 56x56 and 28x28 and a nearest x2 + add, 16 latency layers,
 * deliberately not FastDepth so the check on FastDepth is out of sample.
 */
export function calibrationGraph(): Graph {
  const g = new GraphBuilder('latency_calibration');
  type T = ReturnType<GraphBuilder['input']>;
  const block = (name: string, x: T, out: number, stride: number, cin: number): T => {
    const dw = g.conv2d(`${name}_dw`, x, { outChannels: cin, kernel: 3, stride, pads: 1, groups: cin });
    const a = g.relu6(`${name}_dw_relu`, g.batchNorm(`${name}_dw_bn`, dw));
    const pw = g.conv2d(`${name}_pw`, a, { outChannels: out, kernel: 1 });
    return g.relu6(`${name}_pw_relu`, g.batchNorm(`${name}_pw_bn`, pw));
  };
  const x = g.input('input', [1, 3, 112, 112]);
  let y = g.relu6(
    'stem_relu',
    g.batchNorm('stem_bn', g.conv2d('stem', x, { outChannels: 48, kernel: 3, stride: 2, pads: 1 })),
  );
  y = block('b1', y, 96, 1, 48);
  const skip = block('b2', y, 160, 1, 96);
  y = block('b3', skip, 224, 2, 160);
  y = block('b4', y, 320, 1, 224);
  y = block('b5', y, 160, 1, 320);
  y = g.add('sum', g.upsample('up', y, 'nearest'), skip);
  y = block('b6', y, 64, 1, 160);
  g.output('out', y);
  return g.build();
}

/** Runs models and times them; the table calls it (through `measureInRounds`) for each grid point. */
export interface LatencyRunner extends ProtocolRunner {
  /** A key naming the runtime in the cache, e.g. `tfjs-wasm`. */
  readonly backend: string;
  /**
   * The machine part of the cache key when it is not this Node process's (`machineKey()`):
   * a browser device names its browser + version, OS and core count.
   */
  readonly machine?: string;
  /** Median milliseconds of one forward pass of `model` (weights random). */
  measure(model: Model): Promise<number>;
  /** The runtime's version, recorded with the tables it measures. */
  readonly version?: string;
}

/** Where the latency cache lives: `node_modules/.cache/fastdepth/latency` beside the tfjs install. */
export function generatedDir(): string {
  const require = createRequire(import.meta.url);
  const core = require.resolve('@tensorflow/tfjs-core');
  const nm = core.slice(0, core.lastIndexOf('node_modules') + 'node_modules'.length);
  return join(nm, '.cache', 'fastdepth', 'latency');
}

/** Compiles a model with codegen-tfjs and imports it (transpiled, from a temporary file). */
export async function importGeneratedTfjs(model: Model): Promise<LoadedTfjsModule> {
  return importGeneratedModule(emitTfjs(model, { moduleName: 'netadapt_probe' }));
}

const requireHere = createRequire(import.meta.url);
const versionOf = (pkg: string): string => {
  try {
    return (requireHere(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
};

function inputShapeOf(model: Model, who: string): number[] {
  const input = model.graph.nodes.find((n) => n.op === 'input');
  if (input?.op !== 'input') throw new FastDepthError(`${who}: the graph has no input`);
  return [...input.attrs.shape];
}

/** Times `run` (synchronous or not): `warmup` untimed calls once, then each `time()` is the median of `runs`. */
function timedCalls(run: () => unknown, runs: number): TimedModel['time'] {
  return async () => {
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await run();
      times.push(performance.now() - t0);
    }
    return median(times);
  };
}

/** `measure` from `prepare`: one timing, then the model is released. */
async function measureOnce(prepare: (model: Model) => Promise<TimedModel>, model: Model): Promise<number> {
  const t = await prepare(model);
  try {
    return await t.time();
  } finally {
    await t.dispose?.();
  }
}

/**
 * Times generated tfjs code on a tfjs backend (default wasm): warm-up runs, then the median of
 * `runs` (default 3) per timing; the protocol times each model in several rounds.
 * wasm and cpu run kernels synchronously, so the output is ready when `predict` returns: the
 * output is not downloaded (a download per one-layer network would be a per-layer cost the
 * whole network does not pay; subtracting it, measured on an identity network, over-corrected
 * and made the table sum 15% short of the whole network).
 */
export function tfjsRunner(
  options: { backend?: 'wasm' | 'cpu'; runs?: number; warmup?: number } = {},
): LatencyRunner {
  const backend = options.backend ?? 'wasm';
  const prepare = async (model: Model): Promise<TimedModel> => {
    await useTimingBackend(backend);
    const { module, manifest, weights } = await importGeneratedTfjs(model);
    const w = module.loadWeights(manifest, weights);
    const [b, c, h, wd] = inputShapeOf(model, 'tfjsRunner');
    const x = tf.randomUniform<tf.Rank.R4>([b!, h!, wd!, c!], 0, 1, 'float32', 1);
    const run = (): void => {
      const y = module.predict(x, w);
      // An identity network hands back its input.
      if (y !== x) y.dispose();
    };
    for (let i = 0; i < (options.warmup ?? 2); i++) run();
    return {
      time: timedCalls(run, options.runs ?? 3),
      dispose: () => {
        x.dispose();
        module.dispose(w);
      },
    };
  };
  return {
    backend: `tfjs-${backend}`,
    version: `tfjs ${versionOf('@tensorflow/tfjs-core')}`,
    prepare,
    measure: (model) => measureOnce(prepare, model),
  };
}

/**
 * Times the model as ONNX (`encodeOnnx`) in onnxruntime-node on one CPU thread (intra- and
 * inter-op), the deployment runtime of the CLI's ONNX export: warm-up runs, then the median of
 * `runs` (default 3) per timing. onnxruntime-node is imported on first use (its native binding
 * is large).
 */
export function onnxRunner(
  options: {
    runs?: number;
    warmup?: number;
    threads?: number;
    /** onnxruntime graph optimisation level; default `all` (the runtime's own default). */
    optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  } = {},
): LatencyRunner {
  const threads = options.threads ?? 1;
  const level = options.optimization ?? 'all';
  const prepare = async (model: Model): Promise<TimedModel> => {
    const ort = await import('onnxruntime-node');
    const session = await ort.InferenceSession.create(encodeOnnx(model), {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: level,
    });
    try {
      const shape = inputShapeOf(model, 'onnxRunner');
      const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => (i % 97) / 97);
      const feeds = { [session.inputNames[0]!]: new ort.Tensor('float32', data, shape) };
      for (let i = 0; i < (options.warmup ?? 2); i++) await session.run(feeds);
      return {
        time: timedCalls(() => session.run(feeds), options.runs ?? 3),
        dispose: () => session.release(),
      };
    } catch (error) {
      await session.release();
      throw error;
    }
  };
  return {
    backend: level === 'all' ? `onnxruntime-node-${threads}t` : `onnxruntime-node-${threads}t-${level}`,
    version: `onnxruntime-node ${versionOf('onnxruntime-node')}`,
    prepare,
    measure: (model) => measureOnce(prepare, model),
  };
}

/** The median of a non-empty list. */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The machine part of a cache key: CPU model, core count, Node version. */
export function machineKey(): string {
  const cpu = cpus();
  return `${cpu[0]?.model.trim() ?? 'unknown'}|${cpu.length} cores|node ${process.version}`;
}

export interface LatencyTableOptions {
  /** Grid spacing of measured channel counts; default 8. */
  readonly step?: number;
  /** JSON cache file; default `node_modules/.cache/fastdepth/latency/latency.json`; `false` = memory only. */
  readonly cacheFile?: string | false;
  /**
   * Add a per-layer overhead measured once on a calibration network (`perLayerOverhead`);
   * default true. Layers timed alone miss costs a whole network pays between layers.
   */
  readonly calibrate?: boolean;
  /** How entries are timed (rounds, quantile, noise thresholds): see `measureInRounds`. */
  readonly protocol?: ProtocolOptions;
  /** Notes for the user: a busy machine, a table measured under contention. */
  readonly onNote?: (text: string) => void;
  /** Called after each new measurement (progress). */
  readonly onMeasure?: (key: string, ms: number) => void;
  /**
   * Save every raw timing as it is made (under `#samples`, until its batch is done): the
   * device server answers a page's result only once it is on disk.
   */
  readonly saveSamples?: boolean;
  /**
   * Called before a missing entry is measured, with what is missing (a layer's grid point, a
   * layer's overhead probe, or the calibration network); throw to refuse measuring (a table
   * read from a file with no device attached).
   */
  readonly onMissing?: (missing: MissingLatencyEntry) => void;
}

/** An entry a table lacks: `layer` is the graph's layer name (undefined for calibration). */
export interface MissingLatencyEntry {
  readonly key: string;
  readonly kind: 'layer' | 'overhead' | 'calibration';
  readonly layer?: string;
  readonly signature: string;
  readonly cin: number;
  readonly cout: number;
}

/** The key of a table file's provenance (every other key is a numeric entry). */
export const PROVENANCE_KEY = '#measured';
/** The key of the raw timings of a batch in progress (`saveSamples`). */
export const SAMPLES_KEY = '#samples';
/** The entry format: v3 = measured by the rounds + probe protocol (v2 tables are measured again). */
export const ENTRY_VERSION = 'v3';
export const PROTOCOL_NAME = 'rounds+probe/1';

/** One process's measurements into a table (the last few are kept). */
export interface MeasuringSession {
  readonly date: string;
  readonly entries: number;
  readonly batches: number;
  /** Worst probe spread and residual entry spread over the session's batches. */
  readonly probeSpread: number;
  readonly entrySpread: number;
  readonly loadAverage: number;
  readonly noisy: boolean;
}

/** How one runtime's entries of a table were measured (`#measured` in the file, by machine|runtime). */
export interface TableProvenance {
  readonly protocol: string;
  readonly rounds: number;
  readonly quantile: number;
  /** The reference probe (`probeGraph`) and the time every entry is scaled to. */
  readonly probe: { readonly graph: string; readonly referenceMs: number };
  readonly runtime: string;
  readonly node: string;
  readonly sessions: readonly MeasuringSession[];
  /** IQR / median of each entry's normalised rounds, by entry key. */
  readonly spreads: Readonly<Record<string, number>>;
}

interface Corner {
  readonly cin: number;
  readonly cout: number;
  readonly weight: number;
}

/** A grid point to measure: its key, the raw one-layer model and the identity its overhead comes from. */
interface PointJob {
  readonly key: string;
  readonly rawKey: string;
  readonly overheadKey: string;
  readonly missing: Omit<MissingLatencyEntry, 'key' | 'kind'>;
  readonly model: Model;
  readonly identity: Model;
}

/**
 * A latency lookup table. `layerLatency` interpolates bilinearly between the four surrounding
 * grid points; `prefetch` measures every point a list of graphs needs in one batch of rounds
 * (`measureInRounds`), which a lazy lookup of a missing point also does for its own points;
 * `estimate` sums a graph's layers.
 */
export class LatencyTable {
  private readonly entries = new Map<string, number>();
  private readonly step: number;
  private readonly cacheFile: string | false;
  private readonly machine: string;
  private dirty = false;
  private readonly calibrate: boolean;
  /** Provenance of the other machines and runtimes in the same file (kept as read). */
  private readonly otherProvenance: Record<string, unknown> = {};
  private provenanceValue: TableProvenance | undefined;
  private session: MeasuringSession | undefined;
  /** Raw timings of the batch in progress (`saveSamples`). */
  private samples: Record<string, number[]> | undefined;
  private readonly noted = new Map<string, number>();
  /** Keys this table measured itself (this session). */
  private readonly measuredHere = new Set<string>();

  constructor(
    readonly runner: LatencyRunner,
    private readonly options: LatencyTableOptions = {},
  ) {
    this.machine = runner.machine ?? machineKey();
    this.step = options.step ?? 8;
    this.calibrate = options.calibrate ?? true;
    this.cacheFile = options.cacheFile ?? join(generatedDir(), 'latency.json');
    if (this.cacheFile) {
      let raw: Record<string, unknown> = {};
      try {
        raw = JSON.parse(readFileSync(this.cacheFile, 'utf8')) as Record<string, unknown>;
      } catch {
        // no cache yet (or unreadable): start empty
      }
      let older = 0;
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v === 'number' && k.startsWith(`${ENTRY_VERSION}|`)) this.entries.set(k, v);
        else if (typeof v === 'number' && k.startsWith(`v2|${this.machine}|${runner.backend}|`)) older++;
      }
      const provenance = raw[PROVENANCE_KEY];
      if (typeof provenance === 'object' && provenance !== null && !Array.isArray(provenance))
        for (const [prefix, p] of Object.entries(provenance as Record<string, unknown>))
          if (prefix === this.prefix) this.provenanceValue = p as TableProvenance;
          else this.otherProvenance[prefix] = p;
      if (older > 0)
        options.onNote?.(
          `note: ${older} entries of ${this.cacheFile} were measured before the contention protocol (one timing each): they are not used, and measured again`,
        );
      this.warnIfNoisy();
    }
  }

  private get prefix(): string {
    return `${this.machine}|${this.runner.backend}`;
  }

  /** A table measured under contention is not reused silently. */
  private warnIfNoisy(): void {
    const noisy = this.provenanceValue?.sessions.filter((s) => s.noisy) ?? [];
    if (noisy.length === 0 || this.cacheFile === false) return;
    const worst = noisy.reduce((a, b) => (b.entrySpread > a.entrySpread ? b : a));
    this.options.onNote?.(
      `warning: the ${this.runner.backend} latency table in ${this.cacheFile} was partly measured on a busy machine ` +
        `(${noisy.length} session(s), worst on ${worst.date}: probe spread ${(100 * worst.probeSpread).toFixed(0)} %, ` +
        `entries spread ${(100 * worst.entrySpread).toFixed(0)} %, load average ${worst.loadAverage.toFixed(2)}); ` +
        'entries spread past the limit are measured again; --fresh-latency (or `fastdepth latency clear`) starts the table afresh',
    );
  }

  /** How this table's entries were measured (undefined before anything is). */
  get provenance(): TableProvenance | undefined {
    return this.provenanceValue;
  }

  private key(signature: string, cin: number, cout: number): string {
    return `${ENTRY_VERSION}|${this.machine}|${this.runner.backend}|${signature}|${cin}x${cout}`;
  }

  /** Number of cached entries. */
  get size(): number {
    return this.entries.size;
  }

  /** The grid spacing of measured channel counts. */
  get gridStep(): number {
    return this.step;
  }

  /** A number stored with the table under `meta:<name>` (its grid step, a whole network's time). */
  meta(name: string): number | undefined {
    return this.entries.get(this.key(`meta:${name}`, 0, 0));
  }

  setMeta(name: string, value: number): void {
    this.entries.set(this.key(`meta:${name}`, 0, 0), value);
    this.dirty = true;
  }

  /** Whether (cin, cout) of `layer` is measured (no interpolation, nothing measured). */
  has(layer: LatencyLayer, cin: number, cout: number): boolean {
    return this.usable(this.key(layer.signature, cin, cout));
  }

  /**
   * An entry is used unless it was measured with a spread past the refusal limit (kept with
   * --allow-noisy): then it is measured again, where the table can measure.
   */
  private usable(key: string): boolean {
    if (!this.entries.has(key)) return false;
    // Measured by this table already: kept, noisy or not (measuring it again and again would
    // never end on a busy machine); an earlier session's noisy entry is measured once more.
    if (this.options.onMissing || this.measuredHere.has(key)) return true;
    const spread = this.provenanceValue?.spreads[key];
    return !(
      spread !== undefined && spread > (this.options.protocol?.maxSpread ?? DEFAULT_PROTOCOL.maxSpread)
    );
  }

  private job(layer: LatencyLayer, cin: number, cout: number): PointJob {
    const graph = layer.build(cin, cout);
    const outShape = inferShapes(graph).get('out')!;
    // Per-call cost (input upload, output download) is paid once per network, not per layer:
    // measured on an identity network of the layer's output shape.
    const g = new GraphBuilder('lut_identity');
    g.output('out', g.input('input', [outShape[0], outShape[1], outShape[2], outShape[3]]));
    return {
      key: this.key(layer.signature, cin, cout),
      rawKey: this.key(`raw:${layer.signature}`, cin, cout),
      overheadKey: this.key(
        `overhead:${outShape[0]}x${outShape[2]}x${outShape[3]}`,
        outShape[1],
        outShape[1],
      ),
      missing: { layer: layer.name, signature: layer.signature, cin, cout },
      model: { graph, weights: randomizeBatchNorm(graph, initWeights(graph, 1), 2) },
      identity: { graph: g.build(), weights: new Map() },
    };
  }

  /** Measures `models` (by key) in rounds with the probe, scaled to the table's reference probe. */
  private async rounds(
    models: ReadonlyMap<string, Model>,
    atLeast = 0,
  ): Promise<{ entries: Map<string, EntryStat>; samples: Map<string, RoundSample[]> }> {
    const keep = this.options.saveSamples && this.cacheFile !== false;
    if (keep) this.samples = {};
    const protocol = { ...DEFAULT_PROTOCOL, ...this.options.protocol };
    const { entries, noise, samples } = await measureInRounds(this.runner, models, {
      ...protocol,
      rounds: Math.max(protocol.rounds, atLeast),
      ...(keep
        ? {
            onSample: (key: string, ms: number) => {
              (this.samples![key] ??= []).push(ms);
              this.dirty = true;
              this.save();
            },
          }
        : {}),
      ...(this.options.onNote ? { onNote: (t: string) => this.throttledNote(t) } : {}),
      ...(this.provenanceValue ? { referenceMs: this.provenanceValue.probe.referenceMs } : {}),
    });
    this.samples = undefined;
    this.record(entries, noise);
    return { entries, samples };
  }

  /** A busy-machine note at most once a minute per kind (a run measures hundreds of batches). */
  private throttledNote(text: string): void {
    const kind = text.split(':')[0]!;
    const now = Date.now();
    if (now - (this.noted.get(kind) ?? -Infinity) < 60_000) return;
    this.noted.set(kind, now);
    this.options.onNote?.(text);
  }

  private record(entries: ReadonlyMap<string, EntryStat>, noise: NoiseFigure): void {
    const previous = this.session;
    this.session = {
      date: new Date().toISOString(),
      entries: (previous?.entries ?? 0) + entries.size,
      batches: (previous?.batches ?? 0) + 1,
      probeSpread: Math.max(previous?.probeSpread ?? 0, noise.probeSpread),
      entrySpread: Math.max(previous?.entrySpread ?? 0, noise.entrySpread),
      loadAverage: Math.max(previous?.loadAverage ?? 0, noise.loadAverage),
      noisy: (previous?.noisy ?? false) || noise.noisy,
    };
    const p = this.provenanceValue;
    const o = { ...DEFAULT_PROTOCOL, ...this.options.protocol };
    const sessions = [...(p?.sessions ?? [])];
    if (previous) sessions.pop();
    sessions.push(this.session);
    const spreads: Record<string, number> = { ...(p?.spreads ?? {}) };
    for (const [k, e] of entries) spreads[k] = e.spread;
    this.provenanceValue = {
      protocol: PROTOCOL_NAME,
      rounds: o.rounds,
      quantile: o.quantile,
      probe: { graph: probeGraph().name, referenceMs: noise.referenceMs },
      runtime: this.runner.version ?? this.runner.backend,
      node: process.version,
      // The last 20 sessions: enough to see whether a table was ever measured under load.
      sessions: sessions.slice(-20),
      spreads,
    };
    this.dirty = true;
  }

  /** Measures the grid points not in the table, in one batch of rounds. */
  async measurePoints(points: readonly { layer: LatencyLayer; cin: number; cout: number }[]): Promise<void> {
    const jobs = new Map<string, PointJob>();
    for (const { layer, cin, cout } of points) {
      const key = this.key(layer.signature, cin, cout);
      if (this.usable(key) || jobs.has(key)) continue;
      const job = this.job(layer, cin, cout);
      this.options.onMissing?.({ key: job.key, kind: 'layer', ...job.missing });
      jobs.set(job.key, job);
    }
    if (jobs.size === 0) return;
    const models = new Map<string, Model>();
    for (const job of jobs.values()) {
      models.set(job.rawKey, job.model);
      if (!this.usable(job.overheadKey)) {
        this.options.onMissing?.({ key: job.overheadKey, kind: 'overhead', ...job.missing });
        models.set(job.overheadKey, job.identity);
      }
    }
    const { entries: measured } = await this.rounds(models);
    for (const [k, e] of measured) {
      this.entries.set(k, e.ms);
      this.measuredHere.add(k);
      this.options.onMeasure?.(k, e.ms);
    }
    for (const job of jobs.values()) {
      const net = Math.max(0, this.entries.get(job.rawKey)! - this.entries.get(job.overheadKey)!);
      this.entries.set(job.key, net);
      this.measuredHere.add(job.key);
      const spread = this.provenanceValue!.spreads[job.rawKey];
      if (spread !== undefined)
        this.provenanceValue = {
          ...this.provenanceValue!,
          spreads: { ...this.provenanceValue!.spreads, [job.key]: spread },
        };
      this.options.onMeasure?.(job.key, net);
    }
    this.dirty = true;
    this.save();
  }

  private around(v: number): [number, number, number] {
    const lo = Math.max(this.step, Math.floor(v / this.step) * this.step);
    const hi = Math.max(lo, Math.ceil(v / this.step) * this.step);
    return [lo, hi, hi === lo ? 0 : (v - lo) / (hi - lo)];
  }

  /** The grid points (cin, cout) a layer's latency at (cin, cout) interpolates between, with weights. */
  private corners(layer: LatencyLayer, cin: number, cout: number): Corner[] {
    if (layer.channelwise) {
      if (cin < this.step) return [{ cin, cout: cin, weight: 1 }];
      const [a, b, t] = this.around(cin);
      return t === 0
        ? [{ cin: a, cout: a, weight: 1 }]
        : [
            { cin: a, cout: a, weight: 1 - t },
            { cin: b, cout: b, weight: t },
          ];
    }
    const [i0, i1, ti] = cin < this.step ? [cin, cin, 0] : this.around(cin);
    const [o0, o1, to] = cout < this.step ? [cout, cout, 0] : this.around(cout);
    const out: Corner[] = [];
    for (const [ci, wi] of ti === 0
      ? [[i0, 1]]
      : [
          [i0, 1 - ti],
          [i1, ti],
        ])
      for (const [co, wo] of to === 0
        ? [[o0, 1]]
        : [
            [o0, 1 - to],
            [o1, to],
          ])
        out.push({ cin: ci!, cout: co!, weight: wi! * wo! });
    return out;
  }

  /** Measures, in one batch of rounds, every grid point the layers of `graphs` need. */
  async prefetch(graphs: readonly Graph[]): Promise<void> {
    const points: { layer: LatencyLayer; cin: number; cout: number }[] = [];
    for (const graph of graphs)
      for (const layer of latencyLayers(graph))
        for (const c of this.corners(layer, layer.inChannels, layer.outChannels))
          points.push({ layer, cin: c.cin, cout: c.cout });
    await this.measurePoints(points);
  }

  /** Estimated ms of one layer at (cin, cout), bilinear between grid points. */
  async layerLatency(layer: LatencyLayer, cin = layer.inChannels, cout = layer.outChannels): Promise<number> {
    const corners = this.corners(layer, cin, cout);
    await this.measurePoints(corners.map((c) => ({ layer, cin: c.cin, cout: c.cout })));
    let ms = 0;
    for (const c of corners) ms += c.weight * this.entries.get(this.key(layer.signature, c.cin, c.cout))!;
    return ms;
  }

  /**
   * Whole networks timed by the same protocol as the entries (rounds with the probe, scaled to
   * the table's reference probe), so they compare with `estimate`: ms by the given keys.
   */
  async measureWhole(models: ReadonlyMap<string, Model>): Promise<Map<string, EntryStat>> {
    const { entries } = await this.rounds(models);
    this.save();
    return entries;
  }

  /**
   * Whole networks against one of them (`reference`, a key of `models`), in at least
   * `WHOLE_ROUNDS` rounds: each one's time (as `measureWhole`) and its paired ratio to the
   * reference (`pairedRatios`: the median of same-round ratios), which is what a speed-up or a
   * fraction of the start should be read from on a busy machine.
   */
  async compareWhole(
    models: ReadonlyMap<string, Model>,
    reference: string,
  ): Promise<{ ms: Map<string, EntryStat>; relative: Map<string, RatioStat> }> {
    if (!models.has(reference)) throw new Error(`compareWhole: "${reference}" is not one of the models`);
    const { entries, samples } = await this.rounds(models, WHOLE_ROUNDS);
    this.save();
    return { ms: entries, relative: pairedRatios(samples, reference) };
  }

  /**
   * How a whole network's time relates to the sum of its layers measured alone, measured once
   * per runtime and machine on a calibration network that is not FastDepth (a chain of
   * separable blocks, see `calibrationGraph`): `overhead` = (whole - sum) / layers in ms, and
   * `scale` = whole / sum.
   */
  async calibration(): Promise<{ readonly overhead: number; readonly scale: number }> {
    if (!this.calibrate) return { overhead: 0, scale: 1 };
    const overheadKey = this.key('calibration:separable-chain', 0, 0);
    const scaleKey = this.key('calibration:separable-chain:scale', 0, 0);
    const overhead = this.entries.get(overheadKey);
    const scale = this.entries.get(scaleKey);
    if (overhead !== undefined && scale !== undefined && this.usable(overheadKey)) return { overhead, scale };
    this.options.onMissing?.({
      key: overheadKey,
      kind: 'calibration',
      signature: 'calibration:separable-chain',
      cin: 0,
      cout: 0,
    });
    const graph = calibrationGraph();
    await this.prefetch([graph]);
    const layers = latencyLayers(graph);
    let sum = 0;
    for (const layer of layers) sum += await this.layerLatency(layer);
    const wholeKey = this.key('calibration:separable-chain:whole', 0, 0);
    const model = { graph, weights: randomizeBatchNorm(graph, initWeights(graph, 1), 2) };
    const whole = (await this.measureWhole(new Map([[wholeKey, model]]))).get(wholeKey)!;
    const measured = { overhead: (whole.ms - sum) / layers.length, scale: whole.ms / sum };
    this.entries.set(wholeKey, whole.ms);
    this.entries.set(overheadKey, measured.overhead);
    this.entries.set(scaleKey, measured.scale);
    this.measuredHere.add(overheadKey);
    this.provenanceValue = {
      ...this.provenanceValue!,
      spreads: { ...this.provenanceValue!.spreads, [overheadKey]: whole.spread },
    };
    this.dirty = true;
    this.options.onMeasure?.(overheadKey, measured.overhead);
    this.save();
    return measured;
  }

  /** The per-layer cost a network pays beyond its layers measured alone (ms, may be negative). */
  async perLayerOverhead(): Promise<number> {
    return (await this.calibration()).overhead;
  }

  /** The plain sum of the graph's layers (no calibration): what a per-network scale multiplies. */
  async sum(graph: Graph): Promise<number> {
    await this.prefetch([graph]);
    let sum = 0;
    for (const layer of latencyLayers(graph)) sum += await this.layerLatency(layer);
    this.save();
    return sum;
  }

  /**
   * Estimated ms of the whole graph. Where whole networks cost more than their layers (tfjs-wasm:
   * dispatch between layers), each layer adds the calibrated overhead; where they cost less
   * (onnxruntime: one-layer models pay boundary costs), the sum is scaled down instead, since
   * subtracting a constant per layer would make small networks' estimates negative.
   */
  async estimate(graph: Graph): Promise<number> {
    await this.prefetch([graph]);
    const layers = latencyLayers(graph);
    let sum = 0;
    for (const layer of layers) sum += await this.layerLatency(layer);
    const { overhead, scale } = await this.calibration();
    this.save();
    return overhead >= 0 ? sum + layers.length * overhead : sum * scale;
  }

  /** Writes new entries to the cache file (temp + rename, so a killed run never truncates it). */
  save(): void {
    if (!this.cacheFile || !this.dirty) return;
    mkdirSync(dirname(this.cacheFile), { recursive: true });
    // Entries other processes added since this table was read are kept (last writer merges).
    let onDisk: Record<string, unknown> = {};
    try {
      onDisk = JSON.parse(readFileSync(this.cacheFile, 'utf8')) as Record<string, unknown>;
    } catch {
      // none yet
    }
    const provenance: Record<string, unknown> = {
      ...(typeof onDisk[PROVENANCE_KEY] === 'object' ? (onDisk[PROVENANCE_KEY] as object) : {}),
      ...this.otherProvenance,
      ...(this.provenanceValue ? { [this.prefix]: this.provenanceValue } : {}),
    };
    const merged: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(onDisk))
      if (typeof v === 'number' && k.startsWith(`${ENTRY_VERSION}|`)) merged[k] = v;
    for (const [k, v] of this.entries) merged[k] = v;
    merged[PROVENANCE_KEY] = provenance;
    if (this.samples) merged[SAMPLES_KEY] = this.samples;
    writeFileAtomicSync(this.cacheFile, `${JSON.stringify(merged, null, 1)}\n`);
    this.dirty = false;
  }
}

/** The key under which a table keeps a network's whole measured time: its architecture's hash. */
export function wholeNetworkKey(graph: Graph): string {
  return `whole:${createHash('sha256').update(JSON.stringify(graph)).digest('hex').slice(0, 16)}`;
}

/**
 * How close the table's sum comes to the measured whole network: `{ estimated, measured,
 * ratio, spread }` (ratio = estimated / measured; NetAdapt needs it near 1 to trust the table).
 * Several models are timed in the same rounds; `relative` is each one's paired ratio to the
 * first (`pairedRatios`): read a speed-up between them from it, not from `measured`.
 */
export async function checkLatencyTable(
  model: Model,
  table: LatencyTable,
): Promise<{ estimated: number; measured: number; ratio: number; spread: number; relative: RatioStat }> {
  const [c] = await checkLatencyTables([model], table);
  return c!;
}

export async function checkLatencyTables(
  models: readonly Model[],
  table: LatencyTable,
): Promise<{ estimated: number; measured: number; ratio: number; spread: number; relative: RatioStat }[]> {
  await table.prefetch(models.map((m) => m.graph));
  const estimates: number[] = [];
  for (const m of models) estimates.push(await table.estimate(m.graph));
  const keyed = new Map(models.map((m, i) => [`whole:${i}`, m]));
  const { ms: whole, relative } = await table.compareWhole(keyed, 'whole:0');
  return models.map((_, i) => {
    const w = whole.get(`whole:${i}`)!;
    return {
      estimated: estimates[i]!,
      measured: w.ms,
      ratio: estimates[i]! / w.ms,
      spread: w.spread,
      relative: relative.get(`whole:${i}`)!,
    };
  });
}
