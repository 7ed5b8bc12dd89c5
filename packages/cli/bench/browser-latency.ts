/**
 * Latency measured where the model runs (issue: browsers as NetAdapt's measurement devices).
 *
 * Part `table` (default, ~10 min on 2 cores): for fastdepth and fastdepth-pruned (seeded
 * weights; latency does not depend on their values), the latency table's estimate beside the
 * network timed whole on the same runtime: Node tfjs-wasm (1 thread) and headless Chromium
 * tfjs-wasm at 1 and 2 threads. Tables are the default cache, so a second run measures only
 * the whole networks.
 *
 * Part `platform` (long: two NetAdapt runs on the trained model): prune fast_depth_224.tflite
 * to budget 0.7 once for Node tfjs-wasm and once for Chromium at 2 threads (`fastdepth prune`
 * as a child process, `--resume` continues an interrupted run), print both width vectors, then
 * time both final networks on both platforms in one run, interleaved (medians).
 *
 *   npm run bench:browser-latency -w @fastdepth/cli                  # part table
 *   PART=platform npm run bench:browser-latency -w @fastdepth/cli    # part platform
 *   PART=all ...
 * Env: DATA (default ../../../shared/data from this file), OUT (default tmp/browser-latency
 * in the repository), REPEAT (whole-network timings per cell, default 5).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildArch } from '@fastdepth/fastdepth-arch';
import {
  decodeSafetensors,
  initWeights,
  inferShapes,
  loadGraph,
  randomizeBatchNorm,
  type Graph,
  type Model,
} from '@fastdepth/graph-dsl';
import { LatencyTable, median, tfjsRunner, type LatencyRunner } from '@fastdepth/latency';
import { chromiumRunner, type BrowserRunner } from '@fastdepth/latency/browser';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = join(HERE, '..', '..', '..');
const DATA = process.env.DATA ?? join(ROOT, '..', 'shared', 'data');
const OUT = process.env.OUT ?? join(ROOT, 'tmp', 'browser-latency');
const PART = process.env.PART ?? 'table';
const REPEAT = Number(process.env.REPEAT ?? 5);
const BIN = join(HERE, '..', 'bin', 'fastdepth.js');

const seeded = (graph: Graph): Model => ({
  graph,
  weights: randomizeBatchNorm(graph, initWeights(graph, 1), 2),
});

function fmt(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '))
    .join('\n');
}

async function wholeMs(runner: LatencyRunner, model: Model): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < REPEAT; i++) times.push(await runner.measure(model));
  return median(times);
}

async function partTable(): Promise<void> {
  const models = ['fastdepth', 'fastdepth-pruned'].map((arch) => ({ arch, model: seeded(buildArch(arch)) }));
  const rows = [['runtime', 'network', 'table est. ms', 'whole ms', 'est/whole']];
  const runtimes: { name: string; open: () => Promise<LatencyRunner & { close?: () => Promise<void> }> }[] = [
    { name: 'Node tfjs-wasm 1t', open: () => Promise.resolve(tfjsRunner({ backend: 'wasm' })) },
    { name: 'Chromium tfjs-wasm 1t', open: () => chromiumRunner({ threads: 1 }) },
    { name: 'Chromium tfjs-wasm 2t', open: () => chromiumRunner({ threads: 2 }) },
  ];
  for (const runtime of runtimes) {
    const runner = await runtime.open();
    try {
      const table = new LatencyTable(runner, {
        onMeasure: (key) => process.stderr.write(`\r${runtime.name}: measured ${key.slice(-60).padEnd(60)}`),
      });
      for (const { arch, model } of models) {
        const estimated = await table.estimate(model.graph);
        const whole = await wholeMs(runner, model);
        rows.push([
          runtime.name,
          arch,
          estimated.toFixed(2),
          whole.toFixed(2),
          (estimated / whole).toFixed(3),
        ]);
        process.stderr.write(`\n${rows.at(-1)!.join('  ')}\n`);
      }
    } finally {
      await runner.close?.();
    }
  }
  console.log(
    `\nlatency table estimate vs whole network (median of ${REPEAT} x 5 runs), 224x224, seeded weights`,
  );
  console.log(fmt(rows));
}

/** The width vector: output channels of each non-depthwise convolution, in graph order. */
function widths(graph: Graph): number[] {
  const shapes = inferShapes(graph);
  const out: number[] = [];
  for (const n of graph.nodes)
    if ((n.op === 'conv2d' || n.op === 'convTranspose2d') && n.attrs.groups === 1)
      out.push(shapes.get(n.name)![1]);
  return out;
}

function pruneFor(name: string, extra: string[]): Model {
  const dir = join(OUT, name);
  const final = join(dir, 'final.graph.json');
  if (!existsSync(final)) {
    mkdirSync(dir, { recursive: true });
    const args = [
      BIN,
      'prune',
      '--weights',
      join(DATA, 'weights', 'fast_depth_224.tflite'),
      '--metric',
      'latency',
      '--budget',
      '0.7',
      '--images',
      join(DATA, 'photos'),
      '--out',
      dir,
      ...extra,
      ...(existsSync(join(dir, 'state.json')) ? ['--resume'] : []),
    ];
    console.error(`\n$ node ${args.join(' ')}`);
    const t0 = Date.now();
    const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`prune for ${name} failed (exit ${r.status ?? 'signal'})`);
    console.error(`prune for ${name}: ${((Date.now() - t0) / 60000).toFixed(1)} min`);
  }
  return {
    graph: loadGraph(readFileSync(final, 'utf8'), final),
    weights: decodeSafetensors(readFileSync(join(dir, 'final.safetensors')), join(dir, 'final.safetensors'))
      .weights,
  };
}

async function partPlatform(): Promise<void> {
  const pruned = [
    { name: 'pruned for Node tfjs-wasm', model: pruneFor('node-wasm', []) },
    { name: 'pruned for Chromium 2t', model: pruneFor('chromium-2t', ['--latency-on', 'chromium:2']) },
  ];
  for (const p of pruned) console.log(`${p.name}: widths ${widths(p.model.graph).join(',')}`);
  const node = tfjsRunner({ backend: 'wasm' });
  const browser: BrowserRunner = await chromiumRunner({ threads: 2 });
  const ms = new Map<string, number[]>();
  try {
    // Interleaved, so load on the machine hits both networks alike.
    for (let i = 0; i < REPEAT; i++)
      for (const p of pruned)
        for (const [where, runner] of [
          ['Node tfjs-wasm 1t', node],
          ['Chromium tfjs-wasm 2t', browser],
        ] as const) {
          const key = `${p.name}|${where}`;
          ms.set(key, [...(ms.get(key) ?? []), await runner.measure(p.model)]);
        }
  } finally {
    await browser.close();
  }
  const rows = [['network', 'Node tfjs-wasm 1t ms', 'Chromium tfjs-wasm 2t ms']];
  for (const p of pruned)
    rows.push([
      p.name,
      ...['Node tfjs-wasm 1t', 'Chromium tfjs-wasm 2t'].map((w) =>
        median(ms.get(`${p.name}|${w}`)!).toFixed(2),
      ),
    ]);
  console.log(`\nboth final networks timed whole on both platforms (median of ${REPEAT}, interleaved)`);
  console.log(fmt(rows));
  const at = (p: number, w: string): number => median(ms.get(`${pruned[p]!.name}|${w}`)!);
  const nodeHolds = at(0, 'Node tfjs-wasm 1t') <= at(1, 'Node tfjs-wasm 1t');
  const browserHolds = at(1, 'Chromium tfjs-wasm 2t') <= at(0, 'Chromium tfjs-wasm 2t');
  console.log(
    `each fastest where it was measured: Node ${nodeHolds ? 'yes' : 'no'}, Chromium 2t ${browserHolds ? 'yes' : 'no'}`,
  );
}

if (PART === 'table' || PART === 'all') await partTable();
if (PART === 'platform' || PART === 'all') await partPlatform();
