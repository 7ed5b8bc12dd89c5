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
import { writeFileAtomicSync } from './temp-files.js';
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

/** Runs models and times them; the table calls it for each grid point. */
export interface LatencyRunner {
  /** A key naming the runtime in the cache, e.g. `tfjs-wasm`. */
  readonly backend: string;
  /**
   * The machine part of the cache key when it is not this Node process's (`machineKey()`):
   * a browser device names its browser + version, OS and core count.
   */
  readonly machine?: string;
  /** Median milliseconds of one forward pass of `model` (weights random). */
  measure(model: Model): Promise<number>;
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

/**
 * Times generated tfjs code on a tfjs backend (default wasm): warm-up runs, then the median.
 * wasm and cpu run kernels synchronously, so the output is ready when `predict` returns: the
 * output is not downloaded (a download per one-layer network would be a per-layer cost the
 * whole network does not pay; subtracting it, measured on an identity network, over-corrected
 * and made the table sum 15% short of the whole network).
 */
export function tfjsRunner(
  options: { backend?: 'wasm' | 'cpu'; runs?: number; warmup?: number } = {},
): LatencyRunner {
  const backend = options.backend ?? 'wasm';
  return {
    backend: `tfjs-${backend}`,
    async measure(model) {
      await useTimingBackend(backend);
      const { module, manifest, weights } = await importGeneratedTfjs(model);
      const w = module.loadWeights(manifest, weights);
      const input = model.graph.nodes.find((n) => n.op === 'input');
      if (input?.op !== 'input') throw new Error('tfjsRunner: the graph has no input');
      const [b, c, h, wd] = input.attrs.shape;
      const x = tf.randomUniform<tf.Rank.R4>([b, h, wd, c], 0, 1, 'float32', 1);
      const run = (): void => {
        const y = module.predict(x, w);
        // An identity network hands back its input.
        if (y !== x) y.dispose();
      };
      try {
        for (let i = 0; i < (options.warmup ?? 2); i++) run();
        const times: number[] = [];
        for (let i = 0; i < (options.runs ?? 5); i++) {
          const t0 = performance.now();
          run();
          times.push(performance.now() - t0);
        }
        return median(times);
      } finally {
        x.dispose();
        module.dispose(w);
      }
    },
  };
}

/**
 * Times the model as ONNX (`encodeOnnx`) in onnxruntime-node on one CPU thread (intra- and
 * inter-op), the deployment runtime of the CLI's ONNX export: warm-up runs, then the median.
 * onnxruntime-node is imported on first use (its native binding is large).
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
  return {
    backend: level === 'all' ? `onnxruntime-node-${threads}t` : `onnxruntime-node-${threads}t-${level}`,
    async measure(model) {
      const ort = await import('onnxruntime-node');
      const session = await ort.InferenceSession.create(encodeOnnx(model), {
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: level,
      });
      try {
        const input = model.graph.nodes.find((n) => n.op === 'input');
        if (input?.op !== 'input') throw new FastDepthError('onnxRunner: the graph has no input');
        const shape = [...input.attrs.shape];
        const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => (i % 97) / 97);
        const feeds = { [session.inputNames[0]!]: new ort.Tensor('float32', data, shape) };
        for (let i = 0; i < (options.warmup ?? 2); i++) await session.run(feeds);
        const times: number[] = [];
        for (let i = 0; i < (options.runs ?? 5); i++) {
          const t0 = performance.now();
          await session.run(feeds);
          times.push(performance.now() - t0);
        }
        return median(times);
      } finally {
        await session.release();
      }
    },
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
  /** Called after each new measurement (progress). */
  readonly onMeasure?: (key: string, ms: number) => void;
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

/**
 * A lazily measured latency lookup table. `layerLatency` interpolates bilinearly between the
 * four surrounding grid points (measuring any missing); `estimate` sums a graph's layers.
 */
export class LatencyTable {
  private readonly entries = new Map<string, number>();
  private readonly step: number;
  private readonly cacheFile: string | false;
  private readonly machine: string;
  private dirty = false;

  private readonly calibrate: boolean;

  constructor(
    readonly runner: LatencyRunner,
    private readonly options: LatencyTableOptions = {},
  ) {
    this.machine = runner.machine ?? machineKey();
    this.step = options.step ?? 8;
    this.calibrate = options.calibrate ?? true;
    this.cacheFile = options.cacheFile ?? join(generatedDir(), 'latency.json');
    if (this.cacheFile) {
      try {
        const raw = JSON.parse(readFileSync(this.cacheFile, 'utf8')) as Record<string, number>;
        for (const [k, v] of Object.entries(raw)) if (typeof v === 'number') this.entries.set(k, v);
      } catch {
        // no cache yet (or unreadable): start empty
      }
    }
  }

  private key(signature: string, cin: number, cout: number): string {
    // v2: outputs no longer downloaded on tfjs (older entries measured something else)
    return `v2|${this.machine}|${this.runner.backend}|${signature}|${cin}x${cout}`;
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
    return this.entries.has(this.key(layer.signature, cin, cout));
  }

  private async point(layer: LatencyLayer, cin: number, cout: number): Promise<number> {
    const key = this.key(layer.signature, cin, cout);
    const hit = this.entries.get(key);
    if (hit !== undefined) return hit;
    const missing = { layer: layer.name, signature: layer.signature, cin, cout };
    this.options.onMissing?.({ key, kind: 'layer', ...missing });
    const graph = layer.build(cin, cout);
    const model: Model = { graph, weights: randomizeBatchNorm(graph, initWeights(graph, 1), 2) };
    // The layer's own time is kept (and saved, through onMeasure) as soon as it is measured,
    // before the overhead probe is asked for: a device's result is never held only in memory,
    // and a run cut short between the two does not measure the layer again.
    const rawKey = this.key(`raw:${layer.signature}`, cin, cout);
    let ms = this.entries.get(rawKey);
    if (ms === undefined) {
      ms = await this.runner.measure(model);
      this.entries.set(rawKey, ms);
      this.dirty = true;
      this.options.onMeasure?.(rawKey, ms);
    }
    const baseKey = this.key(`overhead:${layer.signature}`, cin, cin);
    let overhead = this.entries.get(baseKey);
    if (overhead === undefined) {
      this.options.onMissing?.({ key: baseKey, kind: 'overhead', ...missing, cout: cin });
      // Per-call cost (input upload, output download) is paid once per network, not per layer.
      const g = new GraphBuilder('lut_identity');
      const outShape = inferShapes(graph).get('out')!;
      g.output('out', g.input('input', [outShape[0], outShape[1], outShape[2], outShape[3]]));
      overhead = await this.runner.measure({ graph: g.build(), weights: new Map() });
      this.entries.set(baseKey, overhead);
    }
    const net = Math.max(0, ms - overhead);
    this.entries.set(key, net);
    this.dirty = true;
    this.options.onMeasure?.(key, net);
    return net;
  }

  private around(v: number): [number, number, number] {
    const lo = Math.max(this.step, Math.floor(v / this.step) * this.step);
    const hi = Math.max(lo, Math.ceil(v / this.step) * this.step);
    return [lo, hi, hi === lo ? 0 : (v - lo) / (hi - lo)];
  }

  /** Estimated ms of one layer at (cin, cout), bilinear between grid points. */
  async layerLatency(layer: LatencyLayer, cin = layer.inChannels, cout = layer.outChannels): Promise<number> {
    if (layer.channelwise) {
      if (cin < this.step) return this.point(layer, cin, cin);
      const [a, b, t] = this.around(cin);
      const va = await this.point(layer, a, a);
      return t === 0 ? va : va * (1 - t) + (await this.point(layer, b, b)) * t;
    }
    const [i0, i1, ti] = cin < this.step ? [cin, cin, 0] : this.around(cin);
    const [o0, o1, to] = cout < this.step ? [cout, cout, 0] : this.around(cout);
    const v00 = await this.point(layer, i0, o0);
    const v01 = to === 0 ? v00 : await this.point(layer, i0, o1);
    const v10 = ti === 0 ? v00 : await this.point(layer, i1, o0);
    const v11 = ti === 0 ? v01 : to === 0 ? v10 : await this.point(layer, i1, o1);
    return (v00 * (1 - to) + v01 * to) * (1 - ti) + (v10 * (1 - to) + v11 * to) * ti;
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
    if (overhead !== undefined && scale !== undefined) return { overhead, scale };
    this.options.onMissing?.({
      key: overheadKey,
      kind: 'calibration',
      signature: 'calibration:separable-chain',
      cin: 0,
      cout: 0,
    });
    const graph = calibrationGraph();
    const layers = latencyLayers(graph);
    let sum = 0;
    for (const layer of layers) sum += await this.layerLatency(layer);
    // The whole network is timed three times: its noise is multiplied by every layer of every
    // network estimated later, so one slow run must not set the constant.
    const calibrationModel = { graph, weights: randomizeBatchNorm(graph, initWeights(graph, 1), 2) };
    const wholeRuns: number[] = [];
    for (let i = 0; i < 3; i++) {
      // Each run is kept as it is made (a run cut short continues with the runs it has).
      const runKey = this.key(`calibration:separable-chain:run${i}`, 0, 0);
      let ms = this.entries.get(runKey);
      if (ms === undefined) {
        ms = await this.runner.measure(calibrationModel);
        this.entries.set(runKey, ms);
        this.dirty = true;
        this.options.onMeasure?.(runKey, ms);
      }
      wholeRuns.push(ms);
    }
    const whole = median(wholeRuns);
    const measured = { overhead: (whole - sum) / layers.length, scale: whole / sum };
    this.entries.set(overheadKey, measured.overhead);
    this.entries.set(scaleKey, measured.scale);
    this.dirty = true;
    this.options.onMeasure?.(overheadKey, measured.overhead);
    return measured;
  }

  /** The per-layer cost a network pays beyond its layers measured alone (ms, may be negative). */
  async perLayerOverhead(): Promise<number> {
    return (await this.calibration()).overhead;
  }

  /**
   * Estimated ms of the whole graph. Where whole networks cost more than their layers (tfjs-wasm:
   * dispatch between layers), each layer adds the calibrated overhead; where they cost less
   * (onnxruntime: one-layer models pay boundary costs), the sum is scaled down instead, since
   * subtracting a constant per layer would make small networks' estimates negative.
   */
  async estimate(graph: Graph): Promise<number> {
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
    writeFileAtomicSync(this.cacheFile, `${JSON.stringify(Object.fromEntries(this.entries), null, 1)}\n`);
    this.dirty = false;
  }
}

/**
 * How close the table's sum comes to the measured whole network: `{ estimated, measured,
 * ratio }` (ratio = estimated / measured; NetAdapt needs it near 1 to trust the table).
 */
/** The key under which a table keeps a network's whole measured time: its architecture's hash. */
export function wholeNetworkKey(graph: Graph): string {
  return `whole:${createHash('sha256').update(JSON.stringify(graph)).digest('hex').slice(0, 16)}`;
}

export async function checkLatencyTable(
  model: Model,
  table: LatencyTable,
): Promise<{ estimated: number; measured: number; ratio: number }> {
  const estimated = await table.estimate(model.graph);
  const measured = await table.runner.measure(model);
  return { estimated, measured, ratio: estimated / measured };
}
