import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  analyze,
  encodeSafetensors,
  GraphBuilder,
  initWeights,
  loadGraph,
  randomizeBatchNorm,
  saveGraph,
} from '@fastdepth/graph-dsl';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { runCli } from './testing/run-cli.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'fastdepth-prune-'));
const DATA = fileURLToPath(new URL('../../../../shared/data/', import.meta.url));

/** A small encoder-decoder: enough units to prune, fast enough for a test. */
function tinyNetFile(dir: string): string {
  const g = new GraphBuilder('tiny-net');
  const x = g.input('input', [1, 3, 32, 32]);
  const c0 = g.relu6(
    'conv0_relu',
    g.batchNorm('conv0_bn', g.conv2d('conv0', x, { outChannels: 32, kernel: 3, stride: 2, pads: 1 })),
  );
  const c1 = g.relu6(
    'conv1_relu',
    g.batchNorm('conv1_bn', g.conv2d('conv1', c0, { outChannels: 48, kernel: 1 })),
  );
  const up = g.upsample('up', c1, 'nearest');
  const head = g.relu(
    'head_relu',
    g.batchNorm('head_bn', g.conv2d('head', up, { outChannels: 1, kernel: 1 })),
  );
  g.output('depth', head);
  const file = join(dir, 'tiny-net.json');
  writeFileSync(file, saveGraph(g.build()));
  return file;
}

/** Seeded weights for the tiny net with random BN statistics and a positive head bias, so its depth is not all zeros. */
function liveWeightsFile(dir: string): string {
  const graph = loadGraph(readFileSync(tinyNetFile(dir), 'utf8'), 'tiny-net.json');
  const weights = randomizeBatchNorm(graph, initWeights(graph, 3), 4);
  weights.set('head_bn.bias', { shape: [1], data: Float32Array.of(2) });
  const file = join(dir, 'tiny-net.safetensors');
  writeFileSync(file, encodeSafetensors(weights));
  return file;
}

interface PruneReport {
  readonly metric: string;
  readonly task: string;
  readonly recovery: string;
  readonly channelSelection: string;
  readonly heldOut?: {
    readonly photos: readonly string[];
    readonly delta1: number;
    readonly absRel: number;
    readonly perPhoto: readonly {
      readonly photo: string;
      readonly delta1: number;
      readonly absRel: number;
    }[];
  };
  readonly latency?: {
    readonly runtime: string;
    readonly measuredSpeedup: number;
    readonly start: { readonly measuredMs: number };
    readonly final: { readonly measuredMs: number; readonly estimateOverWhole: number };
    readonly measuredWith: { readonly protocol: string };
  };
  readonly done: boolean;
  readonly initial: number;
  readonly final: number;
  readonly initialAccuracy: number;
  readonly iterations: readonly {
    readonly graphFile: string;
    readonly delta1?: number;
    readonly absRel?: number;
    readonly refitError?: number;
  }[];
}

/** `fastdepth prune` on the tiny network with quick settings; returns the out folder and report. */
async function pruneTiny(...args: string[]): Promise<{ out: string; report: PruneReport }> {
  const dir = tmp();
  const out = join(dir, 'out');
  const quick = ['--resolution', '32', '--workers', '0', '--out', out, '--json'];
  const r = await runCli('prune', '--arch', tinyNetFile(dir), ...args, ...quick);
  expect(r.stderr).not.toMatch(/error:/);
  expect(r.code).toBe(0);
  return { out, report: JSON.parse(r.stdout) as PruneReport };
}

describe('fastdepth prune', () => {
  it('meets a MACs budget, writes every iteration, a plot and the final variant for every target', async () => {
    const { out, report } = await pruneTiny('--budget', '0.7', '--metric', 'macs');
    expect(report.done).toBe(true);
    expect(report.final).toBeLessThanOrEqual(0.7 * report.initial);
    expect(report.iterations.length).toBeGreaterThan(0);
    // Files are named relative to --out.
    for (const row of report.iterations) expect(existsSync(join(out, row.graphFile))).toBe(true);
    const last = report.iterations.at(-1)!;
    expect(analyze(loadGraph(readFileSync(join(out, last.graphFile), 'utf8'), last.graphFile)).macs).toBe(
      report.final,
    );
    expect(existsSync(join(out, 'netadapt.png'))).toBe(true);
    expect(readdirSync(join(out, 'final')).sort()).toEqual([
      'onnx',
      'tfjs',
      'tiny-net-netadapt.json',
      'tiny-net-netadapt.safetensors',
      'tvm',
      'wasm',
    ]);
    // The pruned network compiles to wasm too (parity checked at 1 and 2 threads before writing).
    expect(readdirSync(join(out, 'final', 'wasm'))).toContain('tiny-net-netadapt.wasm-manifest.json');
  });

  it('meets a latency budget on the deterministic cost model (no wall time asserted)', async () => {
    const { report } = await pruneTiny('--budget', '0.8', '--metric', 'latency', '--backend', 'cost-model');
    expect(report.metric).toBe('latency');
    expect(report.initial).toBeGreaterThan(0);
    expect(report.final).toBeLessThanOrEqual(0.8 * report.initial);
    // The cost model "times" the whole networks too: estimate / whole is reported per network.
    expect(report.latency?.runtime).toBe('cost-model (Node)');
    expect(report.latency!.final.estimateOverWhole).toBeGreaterThan(0);
  });

  it('measures latency on onnxruntime-node (the code path: what is reported, not how fast)', async () => {
    const { report } = await pruneTiny(
      '--budget',
      '0.9',
      '--metric',
      'latency',
      '--backend',
      'onnx',
      '--allow-noisy',
      // An iteration or none: the code path is the point.
      '--reduction',
      '0.15',
    );
    expect(report.latency?.runtime).toBe('onnxruntime-node-1t (Node)');
    // Timed whole by the protocol, whether or not an iteration met the target at this reduction.
    expect(report.latency!.start.measuredMs).toBeGreaterThan(0);
    expect(Number.isFinite(report.latency!.measuredSpeedup)).toBe(true);
    expect(report.latency!.measuredWith.protocol).toBe('rounds+probe/1');
  });

  it('repairs cuts by reconstruction on photos and reports agreement on held-out ones', async () => {
    const { out, report } = await pruneTiny(
      '--weights',
      liveWeightsFile(tmp()),
      '--budget',
      '0.7',
      '--images',
      join(DATA, 'images'),
      '--holdout',
      '2',
      '--calibration',
      '8',
      '--scoring',
      '4',
    );
    expect(report.done).toBe(true);
    expect(report.recovery).toMatch(/least-squares refit/);
    expect(report.channelSelection).toBe('reconstruction');
    for (const row of report.iterations) {
      expect(row.delta1).toBeGreaterThan(0);
      expect(row.absRel).toBeGreaterThanOrEqual(0);
      expect(row.refitError).toBeGreaterThanOrEqual(0);
    }
    const held = report.heldOut!;
    expect(held.photos).toHaveLength(2);
    expect(held.delta1).toBeGreaterThan(0);
    // Per photo, named; the overall figure is their mean (the authors average per image).
    expect(held.perPhoto.map((p) => p.photo)).toEqual(held.photos);
    const mean = (k: 'delta1' | 'absRel') =>
      held.perPhoto.reduce((a, p) => a + p[k], 0) / held.perPhoto.length;
    expect(mean('delta1')).toBeCloseTo(held.delta1, 10);
    expect(mean('absRel')).toBeCloseTo(held.absRel, 10);
    const lines = readFileSync(join(out, 'report.jsonl'), 'utf8').trim().split('\n');
    expect(JSON.parse(lines[0]!)).toHaveProperty('absRel');
  });

  it('says a run without images is data-free', async () => {
    const dir = tmp();
    const r = await runCli('prune', '--arch', tinyNetFile(dir), '--budget', '0.8', '--out', join(dir, 'o'));
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/no --images or --data: a data-free run/);
    expect(r.stdout).toMatch(/recovery: no calibration images/);
  });

  it('writes but does not compile a final network whose output is constant', async () => {
    // Seeded fastdepth pruned data-free to half its MACs ends in a dead ReLU on the check input.
    const out = join(tmp(), 'o');
    const r = await runCli('prune', '--arch', 'fastdepth', '--budget', '0.5', '--out', out, '--json');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/note: the final network was not compiled: .* is constant/);
    const report = JSON.parse(r.stdout) as { done: boolean; notCompiled?: string };
    expect(report.done).toBe(true);
    expect(report.notCompiled).toMatch(/is constant/);
    expect(existsSync(join(out, 'final.safetensors'))).toBe(true);
    expect(existsSync(join(out, 'final'))).toBe(false);
  });

  it.each([
    ['distillation on calibration crops', ['--images', join(DATA, 'images'), '--calibration', '4']],
    ['supervised L1 on NYU data', ['--data', join(DATA, 'nyu-sample')]],
  ])('fine-tunes after the refit with %s', async (_, taskArgs) => {
    const { report } = await pruneTiny(
      '--budget',
      '0.8',
      '--short-steps',
      '1',
      '--long-steps',
      '1',
      ...taskArgs,
    );
    expect(report.done).toBe(true);
    expect(report.task).toMatch(
      taskArgs[0] === '--images' ? /distillation from .* on 4 calibration crops/ : /supervised L1/,
    );
    expect(Number.isFinite(report.initialAccuracy)).toBe(true);
  });

  it('rejects bad calibration input with one line naming the file or folder', async () => {
    const dir = tmp();
    const arch = tinyNetFile(dir);
    // Each refusal: exit 1 and its one line, and no --out folder left behind.
    const refused = async (out: string, ...flags: string[]): Promise<[number, string]> => {
      const r = await runCli('prune', '--arch', arch, '--budget', '0.8', ...flags, '--out', join(dir, out));
      return [r.code, r.stderr];
    };
    const failure = (line: RegExp): unknown => [1, expect.stringMatching(line) as unknown];
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    expect(await refused('o1', '--images', empty)).toEqual(failure(/--images ".*empty": no .png\/.jpg/));
    const broken = join(dir, 'broken');
    mkdirSync(broken);
    writeFileSync(join(broken, 'a.png'), 'not a png');
    expect(await refused('o2', '--images', broken)).toEqual(failure(/cannot decode image ".*a\.png"/));
    const tiny = join(dir, 'tiny');
    mkdirSync(tiny);
    await sharp({ create: { width: 1, height: 1, channels: 3, background: '#808080' } })
      .png()
      .toFile(join(tiny, 'one.png'));
    expect(await refused('o3', '--images', tiny)).toEqual(
      failure(/image ".*one\.png" is 1x1: calibration photos need at least 32 pixels/),
    );
    const images = join(DATA, 'images');
    expect(await refused('o4', '--images', images, '--holdout', '3')).toEqual(
      failure(/--holdout 3: ".*images" has 3 photo\(s\); at least one must remain/),
    );
    expect(await refused('o5', '--images', images, '--holdout', '1', '--ranking-photos', '2')).toEqual(
      failure(
        /--ranking-photos 2: ".*images" has 2 photo\(s\) besides the held-out ones; at least one must remain for calibration/,
      ),
    );
    expect(await refused('o6', '--ranking-photos', 'two')).toEqual(
      failure(/--ranking-photos must be an integer/),
    );
    expect(await refused('o7', '--ranking-photos', '2')).toEqual(
      failure(/--ranking-photos .*: give --images/),
    );
    for (let i = 1; i <= 7; i++) expect(existsSync(join(dir, `o${i}`))).toBe(false);
  });

  it('refuses an --out that is a file or holds a run, and says when there is nothing to resume', async () => {
    const dir = tmp();
    const arch = tinyNetFile(dir);
    const file = join(dir, 'file');
    writeFileSync(file, 'x');
    let r = await runCli('prune', '--arch', arch, '--budget', '0.8', '--out', file);
    expect([r.code, r.stderr]).toEqual([
      1,
      expect.stringMatching(/--out ".*file" is a file, not a folder/) as unknown,
    ]);
    const out = join(dir, 'run');
    r = await runCli('prune', '--arch', arch, '--budget', '0.8', '--out', out, '--resume');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/no NetAdapt run in ".*run" to resume \(no state.json\): starting afresh/);
    r = await runCli('prune', '--arch', arch, '--budget', '0.8', '--out', out);
    expect([r.code, r.stderr]).toEqual([
      1,
      expect.stringMatching(/--out ".*run" holds a NetAdapt run \(state.json\): pass --resume/) as unknown,
    ]);
    r = await runCli('prune', '--arch', arch, '--budget', '0.8', '--out', out, '--overwrite');
    expect(r.code).toBe(0);
  });

  it('checks --out before any work (a folder nothing can be created in), and reports a linked --out', async () => {
    const dir = tmp();
    // The weights do not exist: the --out error coming first shows nothing was loaded yet.
    const r = await runCli(
      'prune',
      '--weights',
      join(dir, 'missing.tflite'),
      '--budget',
      '0.8',
      '--out',
      '/proc/fastdepth-run',
    );
    expect([r.code, r.stderr]).toEqual([
      1,
      'fastdepth: error: --out: cannot write output folder "/proc/fastdepth-run": folders cannot be created there (in "/proc")',
    ]);
    const real = join(dir, 'real');
    mkdirSync(real);
    symlinkSync(real, join(dir, 'linked'));
    const linked = await runCli(
      'prune',
      '--arch',
      tinyNetFile(dir),
      '--budget',
      '0.8',
      '--out',
      join(dir, 'linked'),
    );
    expect(linked.code, linked.stderr).toBe(0);
    expect(linked.stderr).toContain(
      `--out "${join(dir, 'linked')}" is reached through a symbolic link: writing to "${realpathSync(real)}"`,
    );
    expect(existsSync(join(real, 'state.json'))).toBe(true);
  });

  it('rejects bad budgets, metrics and data with one line', async () => {
    let r = await runCli('prune', '--budget', '1.5');
    expect([r.code, r.stderr]).toEqual([
      1,
      expect.stringMatching(/--budget must be a fraction between 0 and 1/) as unknown,
    ]);
    r = await runCli('prune', '--budget', '0.5', '--resolution', '50');
    expect(r.stderr).toMatch(/--resolution must be a positive multiple of 32/);
    r = await runCli('prune', '--budget', '0.5', '--short-steps', '-1');
    expect([r.code, r.stderr]).toEqual([1, expect.stringMatching(/--short-steps must be/) as unknown]);
    r = await runCli('prune', '--budget', '0.5', '--keep-iterations', '0');
    expect(r.stderr).toMatch(/--keep-iterations must be an integer >= 1/);
    r = await runCli('prune', '--budget', '0.5', '--channels', 'random');
    expect(r.stderr).toMatch(/--channels/);
    r = await runCli('prune', '--budget', '0.5', '--images', join(tmp(), 'none'));
    expect(r.stderr).toMatch(/--images ".*none": cannot read this folder/);
  });
});
