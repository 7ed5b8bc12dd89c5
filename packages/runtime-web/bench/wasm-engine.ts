/**
 * `npm run bench:wasm -w @fastdepth/runtime-web`: the wasm engine (the network compiled by
 * codegen-wasm) beside generated tfjs on tfjs-wasm and onnxruntime-web, in one run, for
 * fastdepth and fastdepth-pruned at 224x224. `estimate()` end to end (224x224 RGBA in,
 * preprocessing and read-back included), medians of `--runs=N` (default 20) after 3 warm-up
 * runs: headless Chromium at 1 and 2 threads (2 needs the demo server's cross-origin isolation),
 * Node at 1 thread (and the wasm engine at 2). Then each stage of the wasm engine alone
 * (`run_stage` over all its rows, one thread, median) with its GFLOP/s, in Chromium and Node.
 * Prints markdown tables; ratio = this / tfjs-wasm at the same place and thread count.
 * `--no-browser` skips Chromium.
 */
import { readFileSync } from 'node:fs';
import type { EngineName, WasmManifest } from '../src/index.js';
import { profileStages } from '../src/wasm-engine.js';
import {
  benchArgs,
  benchModels,
  browserTimes,
  inBenchPage,
  markdownTable,
  nodeSource,
  nodeTimes,
  startBenchBrowser,
  WARMUP,
  type BenchBrowser,
} from './common.js';

const { runs: RUNS, has } = benchArgs();
const ARCHS = ['fastdepth-pruned', 'fastdepth'] as const;
type Arch = (typeof ARCHS)[number];

const RUNTIMES: readonly { engine: EngineName; label: string }[] = [
  { engine: 'wasm', label: 'wasm engine (codegen-wasm)' },
  { engine: 'tfjs', label: 'tfjs-wasm (generated tfjs)' },
  { engine: 'onnx', label: 'onnxruntime-web wasm' },
];

interface Row {
  readonly where: 'chromium' | 'node';
  readonly engine: EngineName;
  readonly threads: number;
  /** Threads the runtime reported in use (tfjs-wasm and onnxruntime-web may run fewer). */
  readonly actual: number;
  readonly ms: Partial<Record<Arch, number>>;
}

interface StageTime {
  readonly name: string;
  readonly kind: string;
  readonly macs: number;
  readonly ms: number;
}

const models = benchModels(ARCHS, { wasm: true });
const macs = Object.fromEntries(
  ARCHS.map((arch) => {
    const manifest = JSON.parse(readFileSync(models[arch].wasmManifest, 'utf8')) as WasmManifest;
    return [arch, manifest.stages.reduce((a, s) => a + s.macs, 0)];
  }),
) as Record<Arch, number>;
const rows: Row[] = [];
const stageTimes: { where: string; arch: Arch; stages: StageTime[] }[] = [];

async function browserPart(b: BenchBrowser): Promise<void> {
  for (const threads of b.isolated ? [1, 2] : [1]) {
    for (const { engine } of RUNTIMES) {
      const { ms, threads: actual } = await browserTimes(b, models, engine, threads, RUNS);
      rows.push({ where: 'chromium', engine, threads, actual, ms });
      console.error(`chromium ${engine} x${threads} (in use: ${actual}): ${JSON.stringify(ms)}`);
    }
  }
  for (const arch of ARCHS) {
    const stages = await inBenchPage<StageTime[]>(b, 'fastdepthStages', {
      name: models[arch].name,
      runs: RUNS,
    });
    stageTimes.push({ where: 'chromium', arch, stages });
  }
}

if (!has('--no-browser')) {
  const b = await startBenchBrowser();
  try {
    if (!b.isolated) console.error('the bench page is not cross-origin isolated: Chromium at 1 thread only');
    await browserPart(b);
  } finally {
    await b.close();
  }
}

for (const [engine, threads] of [
  ['wasm', 1],
  ['wasm', 2],
  ['tfjs', 1],
  ['onnx', 1],
] as const) {
  const { ms, threads: actual } = await nodeTimes(models, engine, 'wasm', threads, RUNS);
  rows.push({ where: 'node', engine, threads, actual, ms });
  console.error(`node ${engine} x${threads} (in use: ${actual}): ${JSON.stringify(ms)}`);
}
for (const arch of ARCHS) {
  const source = await nodeSource('wasm', models[arch]);
  if (source.engine !== 'wasm') throw new Error('unreachable');
  stageTimes.push({ where: 'node', arch, stages: await profileStages(source, RUNS) });
}

const fmt = (v: number | undefined, digits = 1): string => (v === undefined ? '-' : v.toFixed(digits));
const gflops = (macCount: number, ms: number | undefined): string =>
  ms === undefined ? '-' : ((2 * macCount) / (ms * 1e6)).toFixed(1);

console.log(
  `\n### estimate() median of ${RUNS} after ${WARMUP} warm-up, 224x224 (ratio = this / tfjs-wasm, same place and threads; GFLOP/s = 2 x MACs / time)\n`,
);
const header = ['where', 'runtime', 'threads', ...ARCHS.flatMap((a) => [`${a} ms`, 'ratio', 'GFLOP/s'])];
const table = rows.map((row) => {
  const ref = rows.find((r) => r.where === row.where && r.engine === 'tfjs' && r.threads === row.threads);
  return [
    row.where,
    RUNTIMES.find((r) => r.engine === row.engine)!.label,
    row.actual === row.threads ? String(row.threads) : `${row.threads} (ran ${row.actual})`,
    ...ARCHS.flatMap((arch) => {
      const ms = row.ms[arch];
      const base = ref?.ms[arch];
      return [
        fmt(ms),
        ms === undefined || base === undefined ? '-' : `${(ms / base).toFixed(2)}x`,
        gflops(macs[arch], ms),
      ];
    }),
  ];
});
console.log(markdownTable(header, table));

for (const { where, arch, stages } of stageTimes) {
  const total = stages.reduce((a, s) => a + s.ms, 0);
  console.log(
    `\n### wasm engine stages, ${arch}, ${where}, 1 thread (run_stage alone, median of ${RUNS}; sum ${total.toFixed(2)} ms)\n`,
  );
  console.log(
    markdownTable(
      ['stage', 'kind', 'MMACs', 'ms', '%', 'GFLOP/s'],
      [...stages]
        .sort((a, b) => b.ms - a.ms)
        .map((s) => [
          s.name,
          s.kind,
          (s.macs / 1e6).toFixed(1),
          s.ms.toFixed(3),
          ((100 * s.ms) / total).toFixed(1),
          gflops(s.macs, s.ms),
        ]),
    ),
  );
}
