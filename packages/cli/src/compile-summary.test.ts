/**
 * What `compile` says about itself: a target without parity checks is named in words (no empty
 * table), "done in" times the whole command, and the generated tfjs code's "Regenerate" line is
 * a command that remakes it (from a graph file, at another input size or seed, or from the graph
 * and weights compile writes when the model has no options of its own, as in prune).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GraphBuilder, initWeights, randomizeBatchNorm, saveGraph } from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { compileArtifacts } from './commands/compile.js';
import { main } from './main.js';
import { consoleOutput, type Output } from './output.js';
import { runCli } from './testing/run-cli.js';

function tinyGraph() {
  const g = new GraphBuilder('tiny');
  const x = g.input('input', [1, 3, 32, 32]);
  const c = g.relu6(
    'c0_relu',
    g.batchNorm('c0_bn', g.conv2d('c0', x, { outChannels: 4, kernel: 3, pads: 1 })),
  );
  g.output('depth', g.conv2d('head', c, { outChannels: 1, kernel: 1, bias: true }));
  return g.build();
}

const dir = mkdtempSync(join(tmpdir(), 'fastdepth-compile-summary-'));
const graphFile = join(dir, 'mynet.json');
writeFileSync(graphFile, saveGraph(tinyGraph()));

/** An Output that records lines, with a given start time. */
function recorder(startedAt?: number): Output & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    line: (t) => lines.push(t),
    json: (v) => lines.push(JSON.stringify(v)),
    note: () => undefined,
    error: (t) => lines.push(t),
    ...(startedAt !== undefined ? { startedAt } : {}),
  };
}

const regenerateLine = (source: string): string | undefined => /^ \* Regenerate: (.*)\.$/m.exec(source)?.[1];

describe('compile summary', () => {
  it('names a target it could not check instead of printing an empty parity table', async () => {
    const r = await runCli('compile', '--arch', graphFile, '--target', 'tvm', '--out', join(dir, 'tvm-only'));
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('parity on a fixed seeded input');
    expect(r.stdout).toMatch(/^tvm: parity not checked here \(TVM is not a dependency; build\.py checks/m);
  });

  it('prints the parity table when a target was checked', async () => {
    const r = await runCli(
      'compile',
      '--arch',
      graphFile,
      '--target',
      'onnx,tvm',
      '--out',
      join(dir, 'both'),
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('parity on a fixed seeded input');
    expect(r.stdout).toMatch(/^onnx +onnxruntime-node vs reference executor/m);
    expect(r.stdout).toMatch(/^tvm: parity not checked here/m);
  });

  it('times the whole command from when it started, not from when compiling began', async () => {
    // The CLI process passes its own start (consoleOutput: 0, performance.now()'s origin), so
    // module loading counts; here a start 100 s ago stands in for a slow start-up.
    expect(consoleOutput.startedAt).toBe(0);
    const out = recorder(performance.now() - 100_000);
    const code = await main(
      ['node', 'fastdepth', 'compile', '--arch', graphFile, '--target', 'onnx', '--out', join(dir, 'timed')],
      out,
    );
    expect(code).toBe(0);
    const done = out.lines.map((l) => /^done in ([\d.]+) s$/.exec(l)).find((m) => m);
    expect(done, out.lines.join('\n')).toBeDefined();
    expect(Number(done![1])).toBeGreaterThanOrEqual(100);
  });

  it('writes a Regenerate command with the graph file and seed it came from', async () => {
    const out = join(dir, 'tfjs');
    const r = await runCli('compile', '--arch', graphFile, '--seed', '3', '--target', 'tfjs', '--out', out);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(regenerateLine(readFileSync(join(out, 'tfjs', 'mynet.ts'), 'utf8'))).toBe(
      `fastdepth compile --arch ${graphFile} --seed 3 --target tfjs`,
    );
  });

  it('writes a Regenerate command with the input size it came from', async () => {
    const out = join(dir, 'tfjs-32');
    const r = await runCli(
      'compile',
      '--arch',
      'fastdepth-pruned',
      '--input-size',
      '32',
      '--target',
      'tfjs',
      '--out',
      out,
    );
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(regenerateLine(readFileSync(join(out, 'tfjs', 'fastdepth-pruned.ts'), 'utf8'))).toBe(
      'fastdepth compile --arch fastdepth-pruned --input-size 32 --target tfjs',
    );
  });

  it('without options of its own, regenerates from the graph and weights compile writes', async () => {
    const graph = tinyGraph();
    const model = { graph, weights: randomizeBatchNorm(graph, initWeights(graph, 0)) };
    const artifacts = await compileArtifacts(recorder(), {
      model,
      stem: 'tiny-netadapt',
      weightsSource: 'test',
      targets: ['tfjs'],
      opset: 13,
      foldBatchNorm: false,
    });
    const names = artifacts.files.map((f) => f.name);
    expect(names).toEqual(expect.arrayContaining(['tiny-netadapt.json', 'tiny-netadapt.safetensors']));
    const code = artifacts.files.find((f) => f.name === 'tfjs/tiny-netadapt.ts')!.data as string;
    expect(regenerateLine(code)).toBe(
      'fastdepth compile --arch tiny-netadapt.json --weights tiny-netadapt.safetensors --target tfjs',
    );
  });
});
