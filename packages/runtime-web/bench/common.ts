/**
 * What the benchmark scripts share: the models they time (emitted once into
 * `tmp/generated/bench/`, served to the page under `/bench-models/`), `estimate()` medians in
 * Node and in headless Chromium on the demo server's bench page, and the markdown table.
 */
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS } from '../demo/chromium.js';
import { startDemoServer, type DemoServer } from '../demo/server.js';
import {
  createDepthEstimator,
  type BackendName,
  type DepthEstimator,
  type EngineName,
  type ModelSource,
} from '../src/index.js';
import {
  emitArch,
  importModule,
  readWeights,
  GENERATED_DIR,
  type EmittedModel,
} from '../src/testing/models.js';

export const WARMUP = 3;

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** `--runs=N` (default 20) and the other `--flag` arguments. */
export function benchArgs(): { runs: number; has: (flag: string) => boolean } {
  const args = process.argv.slice(2);
  const runs = Number(args.find((a) => a.startsWith('--runs='))?.slice(7) ?? 20);
  return { runs, has: (flag) => args.includes(flag) };
}

/** Median `estimate` latency (224x224 RGBA in, preprocessing and read-back included) after warm-up. */
export async function timeEstimator(estimator: DepthEstimator, runs: number): Promise<number> {
  const image = {
    data: new Uint8ClampedArray(estimator.width * estimator.height * 4).map((_, i) => (i * 37) % 251),
    width: estimator.width,
    height: estimator.height,
  };
  for (let i = 0; i < WARMUP; i++) await estimator.estimate(image);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push((await estimator.estimate(image)).latencyMs);
  return median(times);
}

/** Each architecture at 224, seeded weights (timings do not depend on their values); `wasm` compiles it too. */
export function benchModels<A extends string>(
  archs: readonly A[],
  options: { readonly wasm?: boolean } = {},
): Record<A, EmittedModel> {
  const dir = join(GENERATED_DIR, 'bench');
  return Object.fromEntries(archs.map((arch) => [arch, emitArch(arch, 224, dir, 1, options)])) as Record<
    A,
    EmittedModel
  >;
}

/** The model source of each engine for an emitted model, read in Node. */
export async function nodeSource(engine: EngineName, m: EmittedModel): Promise<ModelSource> {
  switch (engine) {
    case 'tfjs':
      return { engine, module: await importModule(m), weights: readWeights(m) };
    case 'onnx':
      return { engine, model: m.onnx };
    case 'wasm':
      return { engine, model: { manifestUrl: m.wasmManifest } };
  }
}

/** Median latency of each model on one engine / backend / thread count in Node. */
export async function nodeTimes<A extends string>(
  models: Record<A, EmittedModel>,
  engine: EngineName,
  backend: BackendName,
  threads: number,
  runs: number,
): Promise<{ ms: Partial<Record<A, number>>; threads: number }> {
  const ms: Partial<Record<A, number>> = {};
  let used = threads;
  for (const arch of Object.keys(models) as A[]) {
    const estimator = await createDepthEstimator({
      model: await nodeSource(engine, models[arch]),
      backend,
      numThreads: threads,
    });
    used = estimator.threads;
    ms[arch] = await timeEstimator(estimator, runs);
    await estimator.dispose();
  }
  return { ms, threads: used };
}

/** The demo server and a headless Chromium, and whether its page is cross-origin isolated. */
export interface BenchBrowser {
  readonly server: DemoServer;
  readonly browser: Browser;
  readonly isolated: boolean;
  close(): Promise<void>;
}

/** `extraArgs`: more Chromium flags (e.g. no background throttling for pages open side by side). */
export async function startBenchBrowser(extraArgs: readonly string[] = []): Promise<BenchBrowser> {
  const server = await startDemoServer({ quiet: true });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [...CHROMIUM_ARGS, '--disable-gpu', ...extraArgs],
  });
  const probe = await browser.newPage();
  await probe.goto(`${server.url}bench.html`);
  const isolated = await probe.evaluate(() => globalThis.crossOriginIsolated);
  await probe.close();
  return {
    server,
    browser,
    isolated,
    close: async () => {
      await browser.close();
      await server.close();
    },
  };
}

/** Calls a function the bench page puts on `globalThis`, on a fresh page. */
export async function inBenchPage<T>(b: BenchBrowser, fn: string, request: unknown): Promise<T> {
  const page = await b.browser.newPage();
  try {
    await page.goto(`${b.server.url}bench.html`);
    await page.waitForFunction(() => document.getElementById('state')?.textContent === 'ready');
    return await page.evaluate(
      ([name, r]) => (globalThis as unknown as Record<string, (x: unknown) => Promise<T>>)[name]!(r),
      [fn, request] as const,
    );
  } finally {
    await page.close();
  }
}

/** Median latency of each model on one engine (backend wasm) and thread count in Chromium. */
export async function browserTimes<A extends string>(
  b: BenchBrowser,
  models: Record<A, EmittedModel>,
  engine: EngineName,
  threads: number,
  runs: number,
): Promise<{ ms: Partial<Record<A, number>>; threads: number }> {
  const archs = Object.keys(models) as A[];
  const result = await inBenchPage<Record<string, number>>(b, 'fastdepthBench', {
    engine,
    threads,
    warmup: WARMUP,
    runs,
    models: archs.map((arch) => ({ name: models[arch].name, modulePath: models[arch].tfjsModule })),
  });
  const ms = Object.fromEntries(archs.map((arch) => [arch, result[models[arch].name]])) as Partial<
    Record<A, number>
  >;
  return { ms, threads: Math.min(...archs.map((arch) => result[`${models[arch].name}:threads`]!)) };
}

/** A markdown table, numbers right-aligned. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const numeric = header.map((_, i) => rows.every((r) => /^[-\d.x%]+$/.test(r[i]!) || r[i] === '-'));
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (numeric[i] ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}
