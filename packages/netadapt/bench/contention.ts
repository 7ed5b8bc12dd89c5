/**
 * NetAdapt on latency, on a quiet machine and on one kept busy: `fastdepth prune --weights
 * fast_depth_224.tflite --metric latency --budget 0.7 --images photos` once as it is and once
 * with two busy-loop child processes beside it (bounded: each ends by itself after BUSY_S
 * seconds, and the script stops them in every case). Prints, per condition, the table estimate
 * over the whole network (start and final), the measured whole-network speed-up, the range of
 * prediction / whole over the accepted iterations, held-out agreement, and the noise the
 * protocol saw. A benchmark, not a test: it takes long, and its figures depend on the machine.
 *
 * Run (after `npm run build`, from the repository root):
 *   node --conditions=@fastdepth/source --import tsx packages/netadapt/bench/contention.ts
 * Env (the scale; defaults are the issue's full run):
 *   CONDITIONS  quiet,loaded (default both)    BACKEND     wasm | onnx | wasm-engine (wasm)
 *   BUDGET      0.7                            INPUT_SIZE  224 (smaller: a reduced run)
 *   REDUCTION   0.025 (NetAdapt's dR0)         CALIBRATION 128 crops, SCORING 32 crops
 *   FRESH       1: each condition measures its own table (0: the loaded run reuses the cache)
 *   BUSY        2 busy-loop processes          BUSY_S      7200 (each loop's own limit)
 *   ROUNDS      protocol rounds are the library default (5); EXTRA passes more prune flags
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const shared = join(root, '..', 'shared', 'data');
const env = (name: string, fallback: string): string => process.env[name] ?? fallback;
const conditions = env('CONDITIONS', 'quiet,loaded').split(',');
const busyCount = Number(env('BUSY', '2'));
const busySeconds = Number(env('BUSY_S', '7200'));

interface Report {
  done: boolean;
  fraction: number;
  iterations: readonly { predictedOverWhole?: number; estimateOverWhole?: number }[];
  heldOut?: { delta1: number; absRel: number; perPhoto?: readonly { photo: string; delta1: number }[] };
  latency?: {
    start: { estimatedMs: number; measuredMs: number; estimateOverWhole: number };
    final: { estimatedMs: number; measuredMs: number; estimateOverWhole: number };
    measuredSpeedup: number;
    predictedOverWhole?: { min: number; max: number };
    measuredWith?: { sessions: readonly { probeSpread: number; entrySpread: number; noisy: boolean }[] };
  };
}

const busy: ChildProcess[] = [];
function stopBusy(): void {
  for (const child of busy.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
}
// Whatever ends the script, the loops end with it.
process.on('exit', stopBusy);
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.on(signal, () => {
    stopBusy();
    process.exit(130);
  });

function startBusy(): void {
  for (let i = 0; i < busyCount; i++) {
    // Bounded by itself too: a loop orphaned by a kill -9 of this script stops after BUSY_S.
    const code = `const end = Date.now() + ${busySeconds * 1000}; let x = 0; while (Date.now() < end) x = (x + 1) % 1e9;`;
    busy.push(spawn(process.execPath, ['-e', code], { stdio: 'ignore' }));
  }
}

async function prune(condition: string): Promise<{ report: Report; seconds: number; load: number[] }> {
  const out = mkdtempSync(join(tmpdir(), `contention-${condition}-`));
  const args = [
    join(root, 'packages', 'cli', 'bin', 'fastdepth.js'),
    'prune',
    '--weights',
    join(shared, 'weights', 'fast_depth_224.tflite'),
    '--metric',
    'latency',
    '--backend',
    env('BACKEND', 'wasm'),
    '--budget',
    env('BUDGET', '0.7'),
    '--images',
    join(shared, 'photos'),
    '--input-size',
    env('INPUT_SIZE', '224'),
    '--reduction',
    env('REDUCTION', '0.025'),
    '--calibration',
    env('CALIBRATION', '128'),
    '--scoring',
    env('SCORING', '32'),
    // The protocol's noise figures are reported below; a refusal would end the run instead.
    '--allow-noisy',
    '--out',
    out,
    '--json',
    ...(env('FRESH', '1') === '1' ? ['--fresh-latency'] : []),
    ...(process.env.EXTRA ? process.env.EXTRA.split(' ') : []),
  ];
  const t0 = performance.now();
  const loads: number[] = [];
  const sampler = setInterval(() => loads.push(loadavg()[0]!), 5000);
  try {
    const stdout = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      child.stdout.on('data', (d: Buffer) => (text += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`prune exited ${code}`))));
    });
    return {
      report: JSON.parse(stdout) as Report,
      seconds: (performance.now() - t0) / 1000,
      load: loads.length > 0 ? loads : [loadavg()[0]!],
    };
  } finally {
    clearInterval(sampler);
  }
}

const rows: string[] = [];
const perPhoto: string[] = [];
for (const condition of conditions) {
  if (condition !== 'quiet' && condition !== 'loaded')
    throw new Error(`CONDITIONS: quiet or loaded, found ${condition}`);
  if (condition === 'loaded') startBusy();
  try {
    const { report, seconds, load } = await prune(condition);
    const l = report.latency!;
    const sessions = l.measuredWith?.sessions ?? [];
    const worst = sessions.reduce((a, s) => Math.max(a, s.entrySpread), 0);
    const probe = sessions.reduce((a, s) => Math.max(a, s.probeSpread), 0);
    const mean = load.reduce((a, b) => a + b, 0) / load.length;
    rows.push(
      [
        condition,
        `${mean.toFixed(1)} (max ${Math.max(...load).toFixed(1)})`,
        (seconds / 60).toFixed(1),
        l.start.estimateOverWhole.toFixed(3),
        l.final.estimateOverWhole.toFixed(3),
        l.predictedOverWhole
          ? `${l.predictedOverWhole.min.toFixed(3)}-${l.predictedOverWhole.max.toFixed(3)}`
          : '-',
        `${l.start.measuredMs.toFixed(1)} -> ${l.final.measuredMs.toFixed(1)}`,
        `${l.measuredSpeedup.toFixed(2)}x`,
        report.heldOut ? `${report.heldOut.delta1.toFixed(3)} / ${report.heldOut.absRel.toFixed(3)}` : '-',
        `${(100 * probe).toFixed(0)} % / ${(100 * worst).toFixed(0)} %`,
        String(report.done),
      ].join(' | '),
    );
    if (report.heldOut?.perPhoto)
      perPhoto.push(
        `${condition}: held-out delta1 per photo ${report.heldOut.perPhoto.map((p) => `${p.photo} ${p.delta1.toFixed(3)}`).join(', ')}`,
      );
    console.log(`${condition}: done (${(seconds / 60).toFixed(1)} min)`);
  } finally {
    stopBusy();
  }
}
console.log(
  `\nfastdepth prune --metric latency --backend ${env('BACKEND', 'wasm')} --budget ${env('BUDGET', '0.7')} ` +
    `--input-size ${env('INPUT_SIZE', '224')} --reduction ${env('REDUCTION', '0.025')} ` +
    `--calibration ${env('CALIBRATION', '128')} --scoring ${env('SCORING', '32')}; loaded = ${busyCount} busy loops beside it\n`,
);
console.log(
  '| condition | load avg | min | estimate/whole start | final | prediction/whole per iteration | whole ms | speed-up | held-out delta1 / AbsRel | worst probe / entry spread | done |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r} |`);
if (perPhoto.length > 0) console.log(`\n${perPhoto.join('\n')}`);
console.log(`\n${readFileSync('/proc/loadavg', 'utf8').trim()} (/proc/loadavg at the end)`);
