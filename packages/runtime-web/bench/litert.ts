/**
 * `npm run bench:litert -w @fastdepth/runtime-web`: Google's LiteRT.js (`@litertjs/core`, its
 * wasm CPU path: int8 XNNPACK kernels) running the paper's int8 TFLite file, beside this
 * package's engines running the same network (the demo model: the file's weights dequantised),
 * in one headless Chromium, cross-origin isolated so that threads work, at 1 and 2 threads:
 *
 * - LiteRT.js wasm (int8), on the file with its stale SignatureDef marked absent (in memory:
 *   `withoutSignatureDefs` of `@fastdepth/importers`; the shared file is never changed);
 * - the wasm engine's `estimate()` (float32 build);
 * - the wasm engine's int8 builds of the file's own int8 model (`importTfliteQuantized` ->
 *   `emitWasmInt8`), one per integer arithmetic: `tflite` (TFLite's reference requantisation)
 *   and `xnnpack` (XNNPACK's, what LiteRT.js computes); `--int8-manifest=PATH` measures a given
 *   build instead of the `tflite` one. A build that cannot be made is listed, never measured;
 * - generated tfjs on tfjs-wasm, and onnxruntime-web wasm.
 *
 * Every runtime gets the same input, the NYU frame (`shared/data/nyu-sample/rgb.npy`, 224x224,
 * as 8-bit RGBA) and is timed from pixels to float depth (preprocessing and read-back included).
 * One page per runtime and thread count, set up first; then `--warmup=N` (default 5) untimed
 * rounds and `--rounds=N` (default 40) timed ones, each round running every runtime once in an
 * order shuffled per round (seeded, `--seed=N`), `--gap-ms=N` (default 20) idle between runs so
 * one runtime's spinning threads do not land on the next. Prints min / median / p90 per runtime
 * and thread count, the ratio to LiteRT.js at the same thread count (of medians, and the median
 * of the per-round ratios), each runtime's 2-thread / 1-thread speed-up (of medians, per round
 * and of mins), the agreement of each runtime's depth with LiteRT.js's (and of
 * graph-dsl's int8 reference executor in both arithmetics, computed here in Node on the same
 * pixels: what each int8 build must equal), and `uptime`
 * before and after (the machine is shared: read the ratios), then each stage of the wasm
 * builds alone (`--stage-runs=N`, default 20; 0 skips it), so the remaining time is visible.
 * `--runtimes=litert,wasm,...` and `--threads=2` (or `1`, default `1,2`) measure fewer pages, to
 * see whether one runtime's times depend on the pages beside it.
 * The machine's ceiling (`--ceiling=1`, the default when both thread counts are measured; 0
 * turns it off): for each wasm engine build, a page running two independent 1-thread estimates
 * at once, each in a worker of its own, timed until both are done, in the same rounds. Two cores
 * that kept their 1-thread speed would finish such a pair in the 1-thread time, so
 * `2 x 1-thread / pair` (per round) is the 2-thread speed-up that no schedule of that build can
 * beat on this machine at that moment; the speed-up lines print it and the build's efficiency
 * against it (on this 2-vCPU VM the host's other load takes 0-45 % of the second core).
 * Writes everything, samples included, to `--json=PATH` (default `tmp/bench/litert.json` in
 * this package).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { emitWasmInt8, int8ManifestFile, wasmInt8ArtifactFiles } from '@fastdepth/codegen-wasm';
import {
  dequantizeValues,
  executeQuantized,
  readNpy,
  type IntegerArithmetic,
  type QuantizedModel,
} from '@fastdepth/graph-dsl';
import { importTfliteQuantized, readTflite, withoutSignatureDefs } from '@fastdepth/importers';
import type { LitertPageInfo, LitertPageSetup, LitertStageTime } from '../demo/litert-protocol.js';
import { SHARED_DATA_DIR, TFLITE_WEIGHTS, TMP_DIR } from '../src/testing/models.js';
import { markdownTable, median, startBenchBrowser, type BenchBrowser } from './common.js';

const SIZE = 224;

const FLAGS = [
  'rounds',
  'warmup',
  'gap-ms',
  'seed',
  'json',
  'int8-manifest',
  'stage-runs',
  'threads',
  'runtimes',
  'ceiling',
];
// A mistyped flag would otherwise be ignored and a 40-round run measure the wrong thing.
for (const arg of process.argv.slice(2)) {
  if (arg === '--help' || arg === '-h') {
    console.log(`usage: npm run bench:litert -w @fastdepth/runtime-web -- [${FLAGS.map((f) => `--${f}=...`).join(' ')}]
(see the comment at the top of packages/runtime-web/bench/litert.ts for what each one does)`);
    process.exit(0);
  }
  const name = /^--([a-z0-9-]+)=/.exec(arg)?.[1];
  if (name === undefined || !FLAGS.includes(name)) {
    console.error(
      `bench:litert: unknown argument ${JSON.stringify(arg)} (flags: ${FLAGS.map((f) => `--${f}=`).join(', ')}; --help)`,
    );
    process.exit(2);
  }
}

function flag(name: string, fallback: string): string {
  return process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
}
function intFlag(name: string, fallback: number, min: number): number {
  const value = Number(flag(name, String(fallback)));
  if (!Number.isInteger(value) || value < min) throw new Error(`--${name}: expected an integer >= ${min}`);
  return value;
}
const ROUNDS = intFlag('rounds', 40, 1);
const WARMUP = intFlag('warmup', 5, 0);
const GAP_MS = intFlag('gap-ms', 20, 0);
const SEED = intFlag('seed', 1, 0);
const JSON_PATH = resolve(flag('json', join(TMP_DIR, 'bench', 'litert.json')));
const INT8_MANIFEST = flag('int8-manifest', '');
const STAGE_RUNS = intFlag('stage-runs', 20, 0);
/** Thread counts measured (`--threads=2`: only 2, e.g. to see one without the other's pages). */
const THREADS = flag('threads', '1,2')
  .split(',')
  .map((t) => {
    if (t !== '1' && t !== '2') throw new Error(`--threads: ${t}, expected 1, 2 or 1,2`);
    return Number(t);
  });

/** Where the page fetches an int8 build's manifest (its files are served from memory beside it). */
const int8ManifestUrl = (arithmetic: IntegerArithmetic, manifest: string): string =>
  `/litert-bench/int8-${arithmetic}/${manifest.split('/').pop()!}`;

/** Whether the ceiling pages run (see the top comment); only where both thread counts are measured. */
const CEILING = intFlag('ceiling', 1, 0) > 0 && THREADS.includes(1) && THREADS.includes(2);

/** Runtimes in table order; `reference` is LiteRT.js. */
type RuntimeKey = 'litert' | 'wasm' | 'wasm-int8' | 'wasm-int8-xnnpack' | 'tfjs' | 'onnx';
const ALL_KEYS: readonly RuntimeKey[] = ['litert', 'wasm', 'wasm-int8', 'wasm-int8-xnnpack', 'tfjs', 'onnx'];
/** The integer arithmetic of each int8 runtime. */
const INT8_KEYS: Readonly<Partial<Record<RuntimeKey, IntegerArithmetic>>> = {
  'wasm-int8': 'tflite',
  'wasm-int8-xnnpack': 'xnnpack',
};
/** `--runtimes=litert,wasm,...`: a subset, in table order (default all). */
const ONLY = flag('runtimes', ALL_KEYS.join(',')).split(',');
for (const k of ONLY)
  if (!(ALL_KEYS as readonly string[]).includes(k))
    throw new Error(`--runtimes: unknown runtime ${JSON.stringify(k)} (${ALL_KEYS.join(', ')})`);
const LABELS: Readonly<Record<RuntimeKey, string>> = {
  litert: 'LiteRT.js wasm (int8, XNNPACK)',
  wasm: 'wasm engine estimate() (float32)',
  'wasm-int8': 'wasm engine estimate() (int8, tflite arithmetic)',
  'wasm-int8-xnnpack': 'wasm engine estimate() (int8, xnnpack arithmetic)',
  tfjs: 'tfjs-wasm (generated tfjs, float32)',
  onnx: 'onnxruntime-web wasm (float32)',
};

/** One runtime at one thread count: its page once set up, or why it is not measured. */
interface Config {
  readonly key: RuntimeKey;
  readonly threads: number;
  /** The ceiling page: two independent 1-thread runs at once (`threads` is 2). */
  readonly pair?: boolean;
  page?: Page;
  info?: LitertPageInfo;
  missing?: string;
  readonly samples: number[];
  depth?: Float32Array;
}

/** `xN`, or `pair` for a ceiling page. */
const threadsLabel = (c: Config): string => (c.pair === true ? 'pair' : `x${c.threads}`);

/** uptime's line (load averages), for the record: the machine is shared. */
function uptime(): string {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return 'uptime unavailable';
  }
}

/** A small seeded PRNG (mulberry32), so a run's orders can be reproduced. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Nearest-rank percentile. */
function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** The NYU frame as 224x224 RGBA bytes (rgb.npy holds k / 255 exactly: the bytes are exact). */
function nyuFrame(): Uint8Array {
  const path = join(SHARED_DATA_DIR, 'nyu-sample', 'rgb.npy');
  const rgb = readNpy(new Uint8Array(readFileSync(path)), path);
  if (rgb.shape.join('x') !== `${SIZE}x${SIZE}x3`)
    throw new Error(`${path}: shape ${rgb.shape.join('x')}, expected ${SIZE}x${SIZE}x3`);
  const rgba = new Uint8Array(SIZE * SIZE * 4);
  for (let p = 0; p < SIZE * SIZE; p++) {
    for (let c = 0; c < 3; c++)
      rgba[p * 4 + c] = Math.min(255, Math.max(0, Math.round(rgb.data[p * 3 + c]! * 255)));
    rgba[p * 4 + 3] = 255;
  }
  return rgba;
}

/** The file's own int8 model in one integer arithmetic (the integers stored are the same). */
function withArithmetic(model: QuantizedModel, arithmetic: IntegerArithmetic): QuantizedModel {
  const { graph } = model;
  return { ...model, graph: { ...graph, quantization: { ...graph.quantization, arithmetic } } };
}

type Int8Build = { manifest: string } | { missing: string };

/**
 * The int8 wasm build in `arithmetic`: `--int8-manifest=PATH` for `tflite` when given, else
 * emitted into `tmp/generated/litert-int8-<arithmetic>/` from the file's own int8 model.
 */
function int8Build(quantized: QuantizedModel, arithmetic: IntegerArithmetic): Int8Build {
  if (INT8_MANIFEST !== '' && arithmetic === 'tflite') {
    const manifest = resolve(INT8_MANIFEST);
    return existsSync(manifest) ? { manifest } : { missing: `--int8-manifest: ${manifest} does not exist` };
  }
  try {
    const artifact = emitWasmInt8(withArithmetic(quantized, arithmetic), { arch: 'fastdepth-pruned' });
    const dir = join(TMP_DIR, 'generated', `litert-int8-${arithmetic}`);
    mkdirSync(dir, { recursive: true });
    for (const file of wasmInt8ArtifactFiles(artifact)) writeFileSync(join(dir, file.path), file.data);
    return { manifest: join(dir, int8ManifestFile('fastdepth-pruned')) };
  } catch (error) {
    return { missing: `not built: ${(error as Error).message.split('\n')[0]}` };
  }
}

/**
 * graph-dsl's int8 reference executor on the RGBA frame, dequantised: the pixels fed as p / 255
 * (what the page's engines feed; the model's input parameters make it p - 128 exactly, as
 * LiteRT.js's QUANTIZE of the uint8 pixels does).
 */
function referenceDepth(
  quantized: QuantizedModel,
  arithmetic: IntegerArithmetic,
  rgba: Uint8Array,
): Float32Array {
  const model = withArithmetic(quantized, arithmetic);
  const inNode = model.graph.nodes.find((n) => n.op === 'input')!;
  const outNode = model.graph.nodes.find((n) => n.op === 'output')!;
  const data = new Float32Array(3 * SIZE * SIZE);
  for (let p = 0; p < SIZE * SIZE; p++)
    for (let c = 0; c < 3; c++) data[c * SIZE * SIZE + p] = rgba[p * 4 + c]! / 255;
  const out = executeQuantized(model, { [inNode.name]: { shape: [1, 3, SIZE, SIZE], data } })[outNode.name]!;
  return dequantizeValues(out.data, out.params);
}

/** Opens a page for one configuration, its files served from memory, and sets its runtime up. */
async function openConfig(
  b: BenchBrowser,
  config: Config,
  files: { model: Uint8Array; frame: Uint8Array; int8Dirs: ReadonlyMap<IntegerArithmetic, string> },
  setup: LitertPageSetup,
): Promise<void> {
  const page = await b.browser.newPage();
  page.on('pageerror', (error) =>
    console.error(`${config.key} ${threadsLabel(config)}: page error: ${error.message}`),
  );
  const headers = {
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Content-Type': 'application/octet-stream',
  };
  await page.route('**/litert-bench/model.tflite', (route) =>
    route.fulfill({ status: 200, headers, body: Buffer.from(files.model) }),
  );
  await page.route('**/litert-bench/frame.rgba', (route) =>
    route.fulfill({ status: 200, headers, body: Buffer.from(files.frame) }),
  );
  for (const [arithmetic, dir] of files.int8Dirs) {
    await page.route(`**/litert-bench/int8-${arithmetic}/*`, (route) => {
      const name = new URL(route.request().url()).pathname.split('/').pop()!;
      if (!readdirSync(dir).includes(name)) return route.fulfill({ status: 404 });
      const type = name.endsWith('.json') ? 'application/json' : 'application/wasm';
      return route.fulfill({
        status: 200,
        headers: { ...headers, 'Content-Type': name.endsWith('.bin') ? headers['Content-Type'] : type },
        body: readFileSync(join(dir, name)),
      });
    });
  }
  await page.goto(`${b.server.url}litert.html`);
  await page.waitForFunction(() => document.getElementById('state')?.textContent === 'ready');
  config.page = page;
  config.info = await page.evaluate(
    (r) => (globalThis as unknown as { litertSetup(x: unknown): Promise<LitertPageInfo> }).litertSetup(r),
    setup,
  );
}

async function runOnce(config: Config): Promise<number> {
  return config.page!.evaluate(() => (globalThis as unknown as { litertRun(): Promise<number> }).litertRun());
}

async function depthOf(config: Config): Promise<Float32Array> {
  const values = await config.page!.evaluate(() =>
    (globalThis as unknown as { litertDepth(): number[] }).litertDepth(),
  );
  return Float32Array.from(values);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** How one runtime's depth compares with LiteRT.js's, on LiteRT.js's output grid. */
interface Agreement {
  readonly against: string;
  /** Mean of |d - d_litert| / d_litert. */
  readonly meanRelative: number;
  /** Pixels whose depth, put on the output grid (round(d / scale) + zero point), is LiteRT's integer. */
  readonly equal: number;
  /** Pixels at most one output step (scale) from LiteRT's depth. */
  readonly withinOneStep: number;
  /** Largest distance in output steps. */
  readonly maxSteps: number;
}

function agreement(
  depth: Float32Array,
  litert: Float32Array,
  q: { scale: number; zeroPoint: number },
  against: string,
): Agreement {
  let rel = 0;
  let equal = 0;
  let within = 0;
  let maxSteps = 0;
  const toQ = (d: number): number => Math.round(d / q.scale) + q.zeroPoint;
  for (let i = 0; i < litert.length; i++) {
    const d = depth[i]!;
    const l = litert[i]!;
    rel += Math.abs(d - l) / Math.max(Math.abs(l), 1e-6);
    if (toQ(d) === toQ(l)) equal++;
    const steps = Math.abs(d - l) / q.scale;
    // Dequantised values are float32: a step apart is 1 up to rounding.
    if (steps <= 1 + 1e-4) within++;
    maxSteps = Math.max(maxSteps, steps);
  }
  const n = litert.length;
  return { against, meanRelative: rel / n, equal: equal / n, withinOneStep: within / n, maxSteps };
}

// ---------------------------------------------------------------------------------------------

const loadBefore = uptime();
console.error(`uptime before: ${loadBefore}`);
if (!existsSync(TFLITE_WEIGHTS))
  throw new Error(`${TFLITE_WEIGHTS} not found: set FASTDEPTH_DATA to the shared data folder`);
const original = new Uint8Array(readFileSync(TFLITE_WEIGHTS));
const file = readTflite(original, TFLITE_WEIGHTS);
const outTensor = file.tensors[file.outputs[0]!]!;
if (outTensor.quantization === null) throw new Error(`${TFLITE_WEIGHTS}: the output tensor is not quantised`);
const outQ = { scale: outTensor.quantization.scale[0]!, zeroPoint: outTensor.quantization.zeroPoint[0]! };
const model = withoutSignatureDefs(original, TFLITE_WEIGHTS);
const frame = nyuFrame();
const { quantized } = importTfliteQuantized(original, TFLITE_WEIGHTS);
const ARITHMETICS: readonly IntegerArithmetic[] = ['tflite', 'xnnpack'];
const int8Builds = new Map(ARITHMETICS.map((a) => [a, int8Build(quantized, a)]));
const references = new Map(ARITHMETICS.map((a) => [a, referenceDepth(quantized, a, frame)]));
const int8Dirs = new Map<IntegerArithmetic, string>();
for (const [a, build] of int8Builds) if ('manifest' in build) int8Dirs.set(a, dirname(build.manifest));

// Every configuration keeps its page open while the others run: none may be throttled as a
// background page.
const b = await startBenchBrowser([
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
]);
const configs: Config[] = [];
try {
  if (!b.isolated) throw new Error('the bench page is not cross-origin isolated: threads cannot be compared');
  if (b.server.info.origin !== 'trained')
    throw new Error(
      `the demo model has ${b.server.info.origin} weights: the paper's TFLite file was not found at ${TFLITE_WEIGHTS} (set FASTDEPTH_DATA to the shared data folder)`,
    );
  const version = b.browser.version();
  const keys = ALL_KEYS.filter((k) => ONLY.includes(k));
  const pages = THREADS.flatMap((threads) => keys.map((key) => ({ key, threads, pair: false })));
  if (CEILING)
    for (const key of keys) if (key.startsWith('wasm')) pages.push({ key, threads: 2, pair: true });
  for (const { key, threads, pair } of pages) {
    const config: Config = { key, threads, samples: [], ...(pair ? { pair } : {}) };
    configs.push(config);
    const arithmetic = INT8_KEYS[key];
    const build = arithmetic === undefined ? undefined : int8Builds.get(arithmetic)!;
    const setup: LitertPageSetup | undefined =
      key === 'litert'
        ? { runtime: 'litert', threads, output: outQ }
        : arithmetic !== undefined
          ? build !== undefined && 'manifest' in build
            ? { runtime: 'wasm', threads, manifestUrl: int8ManifestUrl(arithmetic, build.manifest), pair }
            : undefined
          : { runtime: key as 'wasm' | 'tfjs' | 'onnx', threads, ...(pair ? { pair } : {}) };
    if (setup === undefined) {
      config.missing = build !== undefined && 'missing' in build ? build.missing : 'not built';
      continue;
    }
    try {
      await openConfig(b, config, { model, frame, int8Dirs }, setup);
      console.error(
        `${LABELS[key]} ${threadsLabel(config)}: ${config.info!.detail} (threads in use: ${config.info!.threads})`,
      );
    } catch (error) {
      config.missing = `failed to set up: ${(error as Error).message.split('\n')[0]}`;
      console.error(`${LABELS[key]} ${threadsLabel(config)}: ${config.missing}`);
    }
  }
  const live = configs.filter((c) => c.page !== undefined);
  const random = prng(SEED);
  /** Per round: each configuration's time, for the paired ratios. */
  const rounds: Map<Config, number>[] = [];
  for (let r = -WARMUP; r < ROUNDS; r++) {
    const times = new Map<Config, number>();
    for (const config of shuffled(live, random)) {
      const ms = await runOnce(config);
      if (r >= 0) {
        config.samples.push(ms);
        times.set(config, ms);
      }
      if (GAP_MS > 0) await sleep(GAP_MS);
    }
    if (r >= 0) rounds.push(times);
    if (r >= 0 && (r + 1) % 10 === 0) console.error(`round ${r + 1}/${ROUNDS}`);
  }
  for (const config of live) config.depth = await depthOf(config);
  const loadAfter = uptime();

  // ---- the table ----
  const litertOf = (threads: number): Config | undefined =>
    configs.find((c) => c.key === 'litert' && c.threads === threads && c.samples.length > 0);
  const stats = configs.map((c) => {
    // A pair is not an estimate: no ratio to LiteRT.js.
    const ref = c.pair === true ? undefined : litertOf(c.threads);
    if (c.samples.length === 0) return { config: c };
    const min = Math.min(...c.samples);
    const med = median(c.samples);
    const p90 = percentile(c.samples, 90);
    const paired =
      ref === undefined ? undefined : median(rounds.map((times) => times.get(c)! / times.get(ref)!));
    const refMedian = ref === undefined ? undefined : median(ref.samples);
    return {
      config: c,
      min,
      median: med,
      p90,
      ratioOfMedians: refMedian === undefined ? undefined : med / refMedian,
      pairedRatio: paired,
    };
  });
  const fmt = (v: number | undefined, digits = 1, suffix = ''): string =>
    v === undefined ? '-' : `${v.toFixed(digits)}${suffix}`;
  const rows = stats.map((s) => [
    LABELS[s.config.key],
    s.config.pair === true
      ? 'pair: 2 x 1 at once'
      : s.config.info === undefined || s.config.info.threads === s.config.threads
        ? String(s.config.threads)
        : `${s.config.threads} (ran ${s.config.info.threads})`,
    fmt(s.min),
    fmt(s.median),
    fmt(s.p90),
    fmt(s.ratioOfMedians, 2, 'x'),
    fmt(s.pairedRatio, 2, 'x'),
    s.config.missing ?? '',
  ]);
  console.log(
    `\n### pixels -> depth, trained fastdepth-pruned 224x224, NYU frame, headless Chromium ${version}, ${ROUNDS} interleaved rounds (order shuffled each round, seed ${SEED}) after ${WARMUP} warm-up\n`,
  );
  console.log(`uptime before: ${loadBefore}\nuptime after:  ${loadAfter}\n`);
  console.log(
    markdownTable(
      [
        'runtime',
        'threads',
        'min ms',
        'median ms',
        'p90 ms',
        'median / LiteRT',
        'per-round / LiteRT',
        'note',
      ],
      rows,
    ),
  );
  console.log(
    '\nmedian / LiteRT: ratio of medians at the same thread count; per-round / LiteRT: median over rounds of (this / LiteRT.js in the same round).',
  );
  // Three readings of one speed-up: the per-round one pairs runs made moments apart, so it is
  // the least moved by the machine drifting between rounds (on a shared VM the 1-thread median
  // alone can move by a quarter from one run to the next); the min one is the work's own split.
  // The ceiling, where its page ran, is read per round too: 2 x the 1-thread time / the pair's.
  const speedUps: {
    runtime: string;
    ofMedians: number;
    perRound: number;
    ofMins: number;
    ceiling?: { perRound: number; efficiencyPerRound: number };
  }[] = [];
  /** Median over the rounds that have both configurations of f(time of a, time of b). */
  const perRound = (a: Config, b: Config, f: (ta: number, tb: number) => number): number =>
    median(rounds.filter((t) => t.has(a) && t.has(b)).map((t) => f(t.get(a)!, t.get(b)!)));
  for (const key of keys) {
    const find = (threads: number, pair: boolean): (typeof stats)[number] | undefined =>
      stats.find(
        (s) => s.config.key === key && s.config.threads === threads && (s.config.pair === true) === pair,
      );
    const [one, two] = THREADS.map((t) => find(t, false));
    if (one?.median === undefined || two?.median === undefined) continue;
    const pair = find(2, true);
    const speedUp = {
      runtime: key,
      ofMedians: one.median / two.median,
      perRound: perRound(one.config, two.config, (t1, t2) => t1 / t2),
      ofMins: one.min / two.min,
      ...(pair?.median === undefined
        ? {}
        : {
            ceiling: {
              perRound: perRound(one.config, pair.config, (t1, tp) => (2 * t1) / tp),
              // (t1 / t2) / (2 t1 / tp) of one round: the 2-thread run's share of what the pair reached.
              efficiencyPerRound: perRound(pair.config, two.config, (tp, t2) => tp / (2 * t2)),
            },
          }),
    };
    speedUps.push(speedUp);
    console.log(
      `${LABELS[key]}: 2 threads / 1 thread speed-up ${speedUp.ofMedians.toFixed(2)}x (medians), ` +
        `${speedUp.perRound.toFixed(2)}x (per round), ${speedUp.ofMins.toFixed(2)}x (mins)` +
        (speedUp.ceiling === undefined
          ? ''
          : `; the machine's ceiling for it ${speedUp.ceiling.perRound.toFixed(2)}x (per round: 2 x 1-thread / pair), ` +
            `efficiency ${(100 * speedUp.ceiling.efficiencyPerRound).toFixed(0)} % of it`),
    );
  }

  // ---- agreement with LiteRT.js ----
  const litert = litertOf(1) ?? litertOf(2);
  const agreements: (Agreement & { runtime: string; threads: number })[] = [];
  if (litert?.depth !== undefined) {
    const ref = litert.depth;
    for (const c of configs)
      if (c !== litert && c.depth !== undefined && c.pair !== true)
        agreements.push({
          runtime: c.key,
          threads: c.threads,
          ...agreement(c.depth, ref, outQ, `${LABELS[litert.key]} x${litert.threads}`),
        });
    for (const [arithmetic, depth] of references)
      agreements.push({
        runtime: `reference-${arithmetic}`,
        threads: 0,
        ...agreement(depth, ref, outQ, `${LABELS[litert.key]} x${litert.threads}`),
      });
    console.log(
      `\n### agreement with LiteRT.js's dequantised depth (x${litert.threads}), NYU frame, output step ${outQ.scale.toPrecision(4)} m (zero point ${outQ.zeroPoint})\n`,
    );
    const labelOf = (runtime: string): string =>
      runtime.startsWith('reference-')
        ? `graph-dsl executeQuantized (int8, ${runtime.slice('reference-'.length)} arithmetic, Node)`
        : LABELS[runtime as RuntimeKey];
    console.log(
      markdownTable(
        ['runtime', 'threads', 'mean rel. diff', 'equal', 'within 1 step', 'max steps'],
        agreements.map((a) => [
          labelOf(a.runtime),
          a.threads === 0 ? '-' : String(a.threads),
          `${(100 * a.meanRelative).toFixed(2)}%`,
          `${(100 * a.equal).toFixed(2)}%`,
          `${(100 * a.withinOneStep).toFixed(2)}%`,
          a.maxSteps.toFixed(2),
        ]),
      ),
    );
    for (const [key, arithmetic] of Object.entries(INT8_KEYS) as [RuntimeKey, IntegerArithmetic][]) {
      const build = int8Builds.get(arithmetic)!;
      const int8Rows = agreements.filter((a) => a.runtime === key);
      console.log(
        int8Rows.length === 0
          ? `\nint8 engine (${arithmetic}) vs LiteRT.js (target >= 99 % equal, none more than one step apart): ${'missing' in build ? build.missing : 'not measured'}`
          : int8Rows
              .map(
                (a) =>
                  `\nint8 engine (${arithmetic}) x${a.threads} vs LiteRT.js: ${(100 * a.equal).toFixed(2)}% equal, max ${a.maxSteps.toFixed(2)} steps: ${a.equal >= 0.99 && a.maxSteps <= 1 + 1e-4 ? 'meets' : 'misses'} the target (>= 99 % equal, none more than one step apart)`,
              )
              .join(''),
      );
    }
    // Each int8 build against its own reference (computed in Node): they must be equal.
    for (const c of configs) {
      const arithmetic = INT8_KEYS[c.key];
      if (arithmetic === undefined || c.depth === undefined || c.pair === true) continue;
      const r = agreement(c.depth, references.get(arithmetic)!, outQ, `reference-${arithmetic}`);
      console.log(
        `int8 engine (${arithmetic}) x${c.threads} vs executeQuantized (${arithmetic}): ${(100 * r.equal).toFixed(2)}% equal, max ${r.maxSteps.toFixed(2)} steps`,
      );
    }
  } else {
    console.log('\nno LiteRT.js output: no agreement figures');
  }

  // ---- where the wasm engine's time goes: each stage alone, one thread ----
  const stageTables: { runtime: RuntimeKey; stages: LitertStageTime[] }[] = [];
  for (const key of STAGE_RUNS > 0 ? (['wasm', 'wasm-int8', 'wasm-int8-xnnpack'] as const) : []) {
    const host = configs.find((c) => c.key === key && c.threads === 1 && c.page !== undefined);
    if (host === undefined) continue;
    const arithmetic = INT8_KEYS[key];
    const build = arithmetic === undefined ? undefined : int8Builds.get(arithmetic);
    const manifestUrl =
      arithmetic !== undefined && build !== undefined && 'manifest' in build
        ? int8ManifestUrl(arithmetic, build.manifest)
        : undefined;
    const stages = await host.page!.evaluate(
      (r) =>
        (globalThis as unknown as { litertStages(x: unknown): Promise<LitertStageTime[]> }).litertStages(r),
      { manifestUrl, runs: STAGE_RUNS },
    );
    stageTables.push({ runtime: key, stages });
    const total = stages.reduce((a, st) => a + st.ms, 0);
    console.log(
      `\n### ${LABELS[key]}: each stage alone (run_stage over all rows, 1 thread, median of ${STAGE_RUNS}; sum ${total.toFixed(2)} ms)\n`,
    );
    console.log(
      markdownTable(
        ['stage', 'kind', 'MMACs', 'ms', '%', 'GMAC/s'],
        [...stages]
          .sort((x, y) => y.ms - x.ms)
          .map((st) => [
            st.name,
            st.kind,
            (st.macs / 1e6).toFixed(1),
            st.ms.toFixed(3),
            ((100 * st.ms) / total).toFixed(1),
            (st.macs / (st.ms * 1e6)).toFixed(1),
          ]),
      ),
    );
  }

  mkdirSync(dirname(JSON_PATH), { recursive: true });
  writeFileSync(
    JSON_PATH,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        chromium: version,
        model: { tflite: TFLITE_WEIGHTS, output: outQ, demoModel: b.server.info },
        rounds: ROUNDS,
        warmup: WARMUP,
        gapMs: GAP_MS,
        seed: SEED,
        uptime: { before: loadBefore, after: loadAfter },
        runtimes: stats.map((s) => ({
          runtime: s.config.key,
          label: LABELS[s.config.key],
          threads: s.config.threads,
          pair: s.config.pair === true,
          threadsInUse: s.config.info?.threads,
          detail: s.config.info?.detail,
          missing: s.config.missing,
          minMs: s.min,
          medianMs: s.median,
          p90Ms: s.p90,
          ratioOfMediansToLitert: s.ratioOfMedians,
          perRoundRatioToLitert: s.pairedRatio,
          samplesMs: s.config.samples,
        })),
        speedUps,
        agreement: agreements,
        stages: stageTables,
      },
      null,
      1,
    ),
  );
  console.log(`\nwritten: ${JSON_PATH}`);
} finally {
  for (const c of configs) await c.page?.close();
  await b.close();
}
