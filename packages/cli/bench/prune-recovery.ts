/**
 * NetAdapt with reconstruction-based recovery on the paper's trained weights: the figures of
 * the README's NetAdapt table. For each configuration it runs `fastdepth prune` (in-process,
 * timed whole), then `fastdepth eval` of the result on the NYU frame, and times the starting
 * and the final network side by side on tfjs-wasm and onnxruntime-node (medians, interleaved).
 *
 *   npm run bench:prune -w @fastdepth/cli                       # every configuration
 *   RUNS=0.7:reconstruction npm run bench:prune -w @fastdepth/cli
 *   SENSITIVITY=1 ...                                           # per-unit table: one unit cut by 1/3
 *
 * Env: DATA (default ../../../shared/data from this file), OUT (default a temp folder),
 * RUNS (comma list of BUDGET:CHANNELS), METRIC (latency), BACKEND (wasm).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeSafetensors, loadGraph, type Model } from '@fastdepth/graph-dsl';
import { importTflite } from '@fastdepth/importers';
import {
  agreementOn,
  chooseChannels,
  LatencyTable,
  median,
  pruneUnit,
  onnxRunner,
  prunableUnits,
  reconstructionRecovery,
  tfjsRunner,
} from '@fastdepth/netadapt';
import { main } from '../src/main.js';
import type { Output } from '../src/output.js';
import { loadCalibrationSet } from '../src/training-data.js';

const DATA = process.env.DATA ?? fileURLToPath(new URL('../../../../shared/data/', import.meta.url));
const TFLITE = join(DATA, 'weights/fast_depth_224.tflite');
const PHOTOS = join(DATA, 'photos');
const outRoot = process.env.OUT ?? mkdtempSync(join(tmpdir(), 'prune-recovery-'));
const metric = process.env.METRIC ?? 'latency';
const backend = process.env.BACKEND ?? 'wasm';
const runs = (process.env.RUNS ?? '0.7:reconstruction,0.7:l2,0.5:reconstruction').split(',').map((r) => {
  const [budget, channels] = r.split(':') as [string, string];
  return { budget, channels };
});

/** Runs the CLI in-process; stderr notes pass through so progress stays visible. */
async function cli(...args: string[]): Promise<unknown> {
  const stdout: string[] = [];
  const out: Output = {
    line: (t) => stdout.push(t),
    json: (v) => stdout.push(JSON.stringify(v)),
    note: (t) => process.stderr.write(`  ${t}\n`),
    error: (t) => process.stderr.write(`${t}\n`),
  };
  const code = await main(['node', 'fastdepth', ...args], out);
  if (code !== 0) throw new Error(`fastdepth ${args.join(' ')} exited ${code}`);
  return JSON.parse(stdout.join('\n')) as unknown;
}

interface EvalReport {
  readonly metrics: { readonly rmse: number; readonly delta1: number; readonly absRel: number };
}
interface PruneReport {
  readonly arch: string;
  readonly done: boolean;
  readonly macs: number;
  readonly heldOut?: { readonly delta1: number; readonly absRel: number };
  readonly iterations: readonly { readonly unit: string; readonly from: number; readonly to: number }[];
}

const nyu = async (...weights: string[]): Promise<EvalReport['metrics']> =>
  (
    (await cli(
      'eval',
      ...weights,
      '--data',
      join(DATA, 'nyu-sample'),
      '--engine',
      'onnx',
      '--json',
    )) as EvalReport
  ).metrics;

function loadFinal(dir: string, stem: string): Model {
  const graphPath = join(dir, 'final', `${stem}-netadapt.json`);
  const weightsPath = join(dir, 'final', `${stem}-netadapt.safetensors`);
  return {
    graph: loadGraph(readFileSync(graphPath, 'utf8'), graphPath),
    weights: decodeSafetensors(readFileSync(weightsPath), weightsPath).weights,
  };
}

/** Medians of interleaved timings of two models on one runtime. */
async function sideBySide(
  runner: { measure(m: Model): Promise<number> },
  a: Model,
  b: Model,
  rounds = 5,
): Promise<[number, number]> {
  const ta: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < rounds; i++) {
    ta.push(await runner.measure(a));
    tb.push(await runner.measure(b));
  }
  return [median(ta), median(tb)];
}

const trained = importTflite(new Uint8Array(readFileSync(TFLITE)), TFLITE).model;
console.log(
  `# NetAdapt recovery bench: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`,
);
const start = await nyu('--weights', TFLITE);
console.log(`trained (TFLite): NYU frame RMSE ${start.rmse.toFixed(3)}, delta1 ${start.delta1.toFixed(3)}`);

const rows: string[] = [];
for (const run of runs) {
  const dir = join(outRoot, `${run.budget}-${run.channels}`);
  const t0 = performance.now();
  const report = (await cli(
    'prune',
    '--weights',
    TFLITE,
    '--metric',
    metric,
    '--backend',
    backend,
    '--budget',
    run.budget,
    '--channels',
    run.channels,
    '--images',
    PHOTOS,
    '--out',
    dir,
    '--overwrite',
    '--json',
  )) as PruneReport;
  const wall = (performance.now() - t0) / 1000;
  const final = loadFinal(dir, report.arch);
  const m = await nyu(
    '--arch',
    join(dir, 'final', `${report.arch}-netadapt.json`),
    '--weights',
    join(dir, 'final', `${report.arch}-netadapt.safetensors`),
  );
  const [wasmA, wasmB] = await sideBySide(tfjsRunner({ backend: 'wasm', runs: 9 }), trained, final);
  const [ortA, ortB] = await sideBySide(onnxRunner({ runs: 15 }), trained, final);
  console.log(`\n## budget ${run.budget}, channels by ${run.channels}: ${dir}`);
  console.log(`cuts: ${report.iterations.map((r) => `${r.unit} ${r.from}->${r.to}`).join(', ')}`);
  rows.push(
    `| ${run.budget} | ${run.channels} | ${report.iterations.length} | ${(report.macs / 1e9).toFixed(3)} | ` +
      `${wasmA.toFixed(1)} -> ${wasmB.toFixed(1)} (${(wasmA / wasmB).toFixed(2)}x) | ` +
      `${ortA.toFixed(2)} -> ${ortB.toFixed(2)} (${(ortA / ortB).toFixed(2)}x) | ` +
      `${m.rmse.toFixed(3)} / ${m.delta1.toFixed(3)} | ` +
      `${report.heldOut ? `${report.heldOut.delta1.toFixed(3)} / ${report.heldOut.absRel.toFixed(3)}` : '-'} | ${(wall / 60).toFixed(1)} min |`,
  );
}
console.log(
  '\n| budget | channels | iterations | GMACs | tfjs-wasm ms (speed-up) | onnxruntime-node ms (speed-up) | NYU RMSE / delta1 | held-out delta1 / AbsRel vs teacher | wall time |',
);
console.log('|---|---|---|---|---|---|---|---|---|');
console.log(
  `| start | - | - | 0.366 | | | ${start.rmse.toFixed(3)} / ${start.delta1.toFixed(3)} | 1 / 0 | |`,
);
for (const r of rows) console.log(r);

if (process.env.SENSITIVITY) {
  // One unit at a time cut to 2/3 of its width, with and without the refit.
  const set = await loadCalibrationSet(PHOTOS, {
    count: 128,
    scoring: 32,
    holdout: 4,
    height: 224,
    width: 224,
    seed: 0,
  });
  const recovery = reconstructionRecovery({
    reference: trained,
    calibration: set.calibration,
    scoring: set.scoring,
    chain: false,
  });
  const step = await recovery.begin(trained, new Map());
  const table = new LatencyTable(tfjsRunner({ backend: 'wasm' }));
  const whole = await table.estimate(trained.graph);
  console.log(
    '\n| unit | width | cut to | latency saved (table) | held-out delta1 / AbsRel, refit | pruned only |',
  );
  console.log('|---|---|---|---|---|---|');
  for (const unit of prunableUnits(trained.graph)) {
    const width = Math.max(8, Math.round((unit.channels * 2) / 3 / 8) * 8);
    const candidate = await step.propose(unit, width);
    const a = await agreementOn(trained, candidate.model, set.heldOut);
    const plain = await agreementOn(
      trained,
      pruneUnit(trained, unit.id, chooseChannels(trained, unit, width)),
      set.heldOut,
    );
    const saved = whole - (await table.estimate(candidate.model.graph));
    console.log(
      `| ${unit.id} | ${unit.channels} | ${width} | ${saved.toFixed(2)} ms | ${a.delta1.toFixed(3)} / ${a.absRel.toFixed(3)} | ${plain.delta1.toFixed(3)} / ${plain.absRel.toFixed(3)} |`,
    );
  }
}
