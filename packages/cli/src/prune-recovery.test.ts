import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  encodeSafetensors,
  GraphBuilder,
  initWeights,
  randomizeBatchNorm,
  saveGraph,
} from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { runCli } from './testing/run-cli.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'fastdepth-prune-recovery-'));
const DATA = fileURLToPath(new URL('../../../../shared/data/', import.meta.url));

/** conv0 (3x3) -> conv1 (3x3, a k x k consumer the 1x1 refit cannot refit) -> 1x1 head: 32x32. */
function netFiles(dir: string): { arch: string; weights: string } {
  const g = new GraphBuilder('kxk-net');
  const x = g.input('input', [1, 3, 32, 32]);
  const c0 = g.relu6(
    'conv0_relu',
    g.batchNorm('conv0_bn', g.conv2d('conv0', x, { outChannels: 32, kernel: 3, pads: 1 })),
  );
  const c1 = g.relu6(
    'conv1_relu',
    g.batchNorm('conv1_bn', g.conv2d('conv1', c0, { outChannels: 16, kernel: 3, pads: 1 })),
  );
  g.output(
    'depth',
    g.relu('head_relu', g.batchNorm('head_bn', g.conv2d('head', c1, { outChannels: 1, kernel: 1 }))),
  );
  const graph = g.build();
  const weights = randomizeBatchNorm(graph, initWeights(graph, 3), 4);
  weights.set('head_bn.bias', { shape: [1], data: Float32Array.of(2) });
  const arch = join(dir, 'kxk-net.json');
  const file = join(dir, 'kxk-net.safetensors');
  writeFileSync(arch, saveGraph(graph));
  writeFileSync(file, encodeSafetensors(weights));
  return { arch, weights: file };
}

interface Report {
  readonly recovery: string;
  readonly done: boolean;
  readonly safeTune?: {
    readonly start: { readonly score: number };
    readonly best: { readonly score: number };
    readonly stepsRun: number;
    readonly improved: boolean;
  };
  readonly iterations: readonly {
    readonly cutAbsRel?: number;
    readonly absRel?: number;
    readonly blocksCorrected?: number;
  }[];
  readonly files: readonly string[];
}

describe('fastdepth prune recovery flags', () => {
  it('--block-recovery and a harmful --lr: agreement before/after per iteration, and the tune never ends worse', async () => {
    const dir = tmp();
    const { arch, weights } = netFiles(dir);
    const out = join(dir, 'out');
    const r = await runCli(
      'prune',
      '--arch',
      arch,
      '--weights',
      weights,
      '--budget',
      '0.8',
      '--images',
      join(DATA, 'images'),
      '--holdout',
      '1',
      '--calibration',
      '6',
      '--scoring',
      '3',
      '--block-recovery',
      '--tune-steps',
      '4',
      '--lr',
      '0.9',
      '--schedule',
      'constant',
      '--eval-every',
      '2',
      '--resolution',
      '32',
      '--workers',
      '0',
      '--out',
      out,
      '--json',
    );
    expect(r.stderr).not.toMatch(/error:/);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.done).toBe(true);
    expect(report.recovery).toMatch(/block-wise corrections/);
    expect(report.iterations.length).toBeGreaterThan(0);
    for (const row of report.iterations) {
      expect(row.cutAbsRel).toBeGreaterThanOrEqual(0);
      expect(row.blocksCorrected).toBeGreaterThanOrEqual(0);
    }
    const t = report.safeTune!;
    expect(t.stepsRun).toBeGreaterThan(0);
    expect(t.best.score).toBeGreaterThanOrEqual(t.start.score);
    expect(readFileSync(join(out, 'netadapt.svg'), 'utf8')).toMatch(/before recovery/);
  });

  it('rejects bad recovery flags with one line naming the flag', async () => {
    const images = join(DATA, 'images');
    const cases: [string[], RegExp][] = [
      [
        ['--tune-steps', '4', '--lr', '0', '--images', images],
        /--lr must be a number in \(0, 1\], e.g. 1e-5, found "0"/,
      ],
      [
        ['--tune-steps', '4', '--lr', 'fast', '--images', images],
        /--lr must be a number in \(0, 1\].*found "fast"/,
      ],
      [
        ['--tune-steps', '4', '--schedule', 'linear', '--images', images],
        /--schedule must be one of constant, cosine, step, found "linear"/,
      ],
      [
        ['--tune-steps', '4', '--tune-loss', 'l2', '--images', images],
        /--tune-loss must be one of depth, features, found "l2"/,
      ],
      [['--tune-steps', '4', '--patience', '0', '--images', images], /--patience must be/],
      [['--tune-steps', '-2', '--images', images], /--tune-steps must be/],
      [['--lr', '1e-4', '--images', images], /--lr only set the safe fine-tune: give --tune-steps N too/],
      [
        ['--block-recovery'],
        /--block-recovery fits corrections on calibration images: give --images or --data/,
      ],
      [['--tune-steps', '3'], /--tune-steps fine-tunes .*give --images/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli('prune', '--budget', '0.5', ...args, '--out', join(tmp(), 'out'));
      expect([r.code, r.stderr], args.join(' ')).toEqual([1, expect.stringMatching(message) as unknown]);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
  });
});
