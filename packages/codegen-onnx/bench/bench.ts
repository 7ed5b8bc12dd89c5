/**
 * ONNX export benchmark: for fastdepth and fastdepth-pruned at 224x224, BatchNorm kept vs
 * folded, measured side by side in one run (runs interleaved, so machine noise hits both):
 * compile time (emit + encode), .onnx size, and onnxruntime-node CPU latency (median after
 * warm-up) with 1 intra-op thread and with onnxruntime's default.
 *
 *   npm run bench -w @fastdepth/codegen-onnx [-- --runs 30 --warmup 5]
 */
import { availableParallelism, cpus } from 'node:os';
import { buildArch } from '@fastdepth/fastdepth-arch';
import { initWeights, type Model } from '@fastdepth/graph-dsl';
import { encodeOnnx } from '../src/index.js';
import { perturbBatchNorm, randomTensor } from '../src/testing/fixtures.js';
import { createSession, runSession, type OrtOptions, type OrtSession } from '../src/testing/ort.js';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer`);
  return v;
}

const RUNS = flag('runs', 25);
const WARMUP = flag('warmup', 5);
const COMPILE_RUNS = flag('compile-runs', 7);

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

type Mode = 'kept' | 'folded';
const MODES: readonly Mode[] = ['kept', 'folded'];
const THREADS: readonly { readonly label: string; readonly options: OrtOptions }[] = [
  { label: '1 thread', options: { intraOpNumThreads: 1 } },
  { label: 'default', options: {} },
];

interface Row {
  compileMs: number;
  bytes: number;
  latencyMs: Record<string, number>;
}

/** Times `fn` for each mode in turn, `runs` rounds, after `warmup` untimed rounds. */
async function interleaved(
  runs: number,
  warmup: number,
  fn: (mode: Mode) => Promise<void> | void,
): Promise<Record<Mode, number>> {
  const times: Record<Mode, number[]> = { kept: [], folded: [] };
  for (let r = 0; r < warmup + runs; r++) {
    for (const mode of MODES) {
      const t0 = performance.now();
      await fn(mode);
      const dt = performance.now() - t0;
      if (r >= warmup) times[mode].push(dt);
    }
  }
  return { kept: median(times.kept), folded: median(times.folded) };
}

async function benchArch(arch: string): Promise<Record<Mode, Row>> {
  const graph = buildArch(arch, { inputSize: 224 });
  const model: Model = { graph, weights: perturbBatchNorm(graph, initWeights(graph, 1), 2) };
  const bytes: Record<Mode, Uint8Array> = {
    kept: encodeOnnx(model, { foldBatchNorm: false }),
    folded: encodeOnnx(model, { foldBatchNorm: true }),
  };
  const compile = await interleaved(COMPILE_RUNS, 1, (mode) => {
    encodeOnnx(model, { foldBatchNorm: mode === 'folded' });
  });
  const input = { input: randomTensor([1, 3, 224, 224], 3, 'image') };
  const latency: Record<Mode, Record<string, number>> = { kept: {}, folded: {} };
  for (const t of THREADS) {
    const sessions: Record<Mode, OrtSession> = {
      kept: await createSession(bytes.kept, t.options),
      folded: await createSession(bytes.folded, t.options),
    };
    const m = await interleaved(RUNS, WARMUP, async (mode) => {
      await runSession(sessions[mode], input);
    });
    for (const mode of MODES) {
      latency[mode][t.label] = m[mode];
      await sessions[mode].release();
    }
  }
  const row = (mode: Mode): Row => ({
    compileMs: compile[mode],
    bytes: bytes[mode].length,
    latencyMs: latency[mode],
  });
  return { kept: row('kept'), folded: row('folded') };
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((c, i) => c.padStart(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(`codegen-onnx bench: ${availableParallelism()} cores (${cpu}), Node ${process.version}`);
  console.log(
    `compile: median of ${COMPILE_RUNS}; onnxruntime-node CPU: median of ${RUNS} runs after ${WARMUP} warm-up\n`,
  );
  const header = ['arch', 'BN', 'compile ms', 'size MB', ...THREADS.map((t) => `ORT ${t.label} ms`)];
  const rows: string[][] = [];
  for (const arch of ['fastdepth', 'fastdepth-pruned']) {
    const r = await benchArch(arch);
    for (const mode of MODES) {
      const x = r[mode];
      rows.push([
        arch,
        mode,
        x.compileMs.toFixed(1),
        (x.bytes / 1e6).toFixed(3),
        ...THREADS.map((t) => x.latencyMs[t.label]!.toFixed(2)),
      ]);
    }
    const ratio = (a: number, b: number): string => `x${(a / b).toFixed(3)}`;
    rows.push([
      arch,
      'folded/kept',
      ratio(r.folded.compileMs, r.kept.compileMs),
      ratio(r.folded.bytes, r.kept.bytes),
      ...THREADS.map((t) => ratio(r.folded.latencyMs[t.label]!, r.kept.latencyMs[t.label]!)),
    ]);
  }
  console.log(table(header, rows));
}

await main();
