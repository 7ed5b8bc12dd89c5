import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GraphBuilder, loadGraph, saveGraph, analyze } from '@fastdepth/graph-dsl';
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

interface PruneReport {
  readonly metric: string;
  readonly task: string;
  readonly done: boolean;
  readonly initial: number;
  readonly final: number;
  readonly initialAccuracy: number;
  readonly iterations: readonly { readonly graphFile: string }[];
}

/** `fastdepth prune` on the tiny network with quick settings; returns the out folder and report. */
async function pruneTiny(...args: string[]): Promise<{ out: string; report: PruneReport }> {
  const dir = tmp();
  const out = join(dir, 'out');
  const quick = ['--resolution', '32', '--workers', '0', '--out', out, '--json'];
  const r = await runCli('prune', '--arch', tinyNetFile(dir), ...args, ...quick);
  expect(r.stderr).not.toMatch(/error/);
  expect(r.code).toBe(0);
  return { out, report: JSON.parse(r.stdout) as PruneReport };
}

describe('fastdepth prune', () => {
  it('meets a MACs budget, writes every iteration, a plot and the final variant for every target', async () => {
    const { out, report } = await pruneTiny(
      '--budget',
      '0.7',
      '--metric',
      'macs',
      '--short-steps',
      '1',
      '--long-steps',
      '1',
    );
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
    ]);
  });

  it('meets a latency budget measured on onnxruntime-node', async () => {
    const { report } = await pruneTiny(
      '--budget',
      '0.8',
      '--metric',
      'latency',
      '--backend',
      'onnx',
      '--short-steps',
      '0',
      '--long-steps',
      '0',
    );
    expect(report.metric).toBe('latency');
    expect(report.initial).toBeGreaterThan(0);
    expect(report.final).toBeLessThanOrEqual(0.8 * report.initial);
  });

  it.each([
    ['distillation on photos', ['--images', join(DATA, 'images')]],
    ['supervised L1 on NYU data', ['--data', join(DATA, 'nyu-sample')]],
  ])('fine-tunes with %s', async (_, taskArgs) => {
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
    expect(report.task).toMatch(taskArgs[0] === '--images' ? /distillation on 3 image/ : /supervised L1/);
    // A real (negative L1) proxy on real images, not the all-zero output of a dead network.
    expect(Number.isFinite(report.initialAccuracy)).toBe(true);
  });

  it('rejects bad budgets, metrics and data with one line', async () => {
    let r = await runCli('prune', '--budget', '1.5');
    expect([r.code, r.stderr]).toEqual([
      1,
      expect.stringMatching(/--budget must be a fraction between 0 and 1/) as unknown,
    ]);
    r = await runCli('prune', '--budget', '0.5', '--resolution', '50');
    expect(r.stderr).toMatch(/--resolution must be a positive multiple of 32/);
    r = await runCli('prune', '--budget', '0.5', '--images', join(tmp(), 'none'));
    expect(r.stderr).toMatch(/--images ".*none": cannot read this folder/);
  });
});
