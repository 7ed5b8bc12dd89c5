/**
 * Networks from outside the family, exported by PyTorch's own ONNX exporter (Debian's
 * python3-torch + python3-torchvision, random weights, nothing downloaded): imported with no
 * --arch, checked against PyTorch's output, and compiled to the ONNX, tfjs, TVM and wasm targets
 * (compile checks onnx, tfjs and wasm against the reference executor; TVM is written, not run).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execute, readNpy } from '@fastdepth/graph-dsl';
import { importOnnx } from '@fastdepth/importers';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './testing/run-cli.js';

const EXPORTER = fileURLToPath(new URL('./testing/export_torch.py', import.meta.url));
const NETWORKS = ['mobilenet_v2', 'mobilenet_v3_small', 'mobilenet_v3_large', 'unet_mobilenet_v3'] as const;
const SIZE = 64;

/** Debian's interpreter first: its torch is the one CI installs (apt-get install python3-torch). */
function torchPython(): string {
  for (const python of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(python, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
    if (r.status === 0) return python;
  }
  throw new Error(
    'these tests need PyTorch: apt-get install -y --no-install-recommends python3-torch python3-torchvision',
  );
}

function exportNetworks(opset: number, names: readonly string[]): string {
  const dir = mkdtempSync(join(tmpdir(), `fastdepth-torch-${opset}-`));
  const r = spawnSync(torchPython(), [EXPORTER, dir, String(SIZE), String(opset), ...names], {
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (r.status !== 0) throw new Error(`export_torch.py failed: ${r.stderr || r.error?.message}`);
  return dir;
}

/** Max |ours - PyTorch's| over max |PyTorch's|. */
function relativeToTorch(dir: string, name: string): { error: number; layers: number } {
  const input = readNpy(readFileSync(join(dir, 'input.npy')), 'input.npy');
  const want = readNpy(readFileSync(join(dir, `${name}.out.npy`)), `${name}.out.npy`);
  const { model, standalone } = importOnnx(readFileSync(join(dir, `${name}.onnx`)), `${name}.onnx`);
  expect(standalone).toBe(true);
  const got = Object.values(
    execute(model.graph, model.weights, { input: { shape: input.shape, data: input.data } }),
  )[0]!;
  expect([...got.shape]).toEqual(want.shape);
  let error = 0;
  let scale = 0;
  for (let i = 0; i < got.data.length; i++) {
    error = Math.max(error, Math.abs(got.data[i]! - Number(want.data[i])));
    scale = Math.max(scale, Math.abs(Number(want.data[i])));
  }
  expect(scale).toBeGreaterThan(0);
  return { error: error / scale, layers: model.graph.nodes.length };
}

describe('torchvision networks through the general ONNX import', () => {
  let opset13: string;
  beforeAll(() => {
    opset13 = exportNetworks(13, NETWORKS);
  }, 900_000);

  for (const name of NETWORKS) {
    it(`${name} (opset 13) equals PyTorch and compiles to onnx, tfjs, tvm and wasm`, async () => {
      const { error, layers } = relativeToTorch(opset13, name);
      console.log(`${name}: ${layers} layers, max relative difference to PyTorch ${error.toExponential(2)}`);
      expect(error).toBeLessThanOrEqual(1e-4);
      const out = join(opset13, `${name}-out`);
      const r = await runCli(
        'compile',
        '--weights',
        join(opset13, `${name}.onnx`),
        '--target',
        'onnx,tfjs,tvm,wasm',
        '--out',
        out,
        '--json',
      );
      expect(r.code, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout) as {
        checks: { target: string; maxRelativeError: number; limit: number }[];
      };
      // wasm is checked at 1 and 2 threads: one entry each.
      expect([...new Set(report.checks.map((c) => c.target))].sort()).toEqual(['onnx', 'tfjs', 'wasm']);
      for (const c of report.checks) expect(c.maxRelativeError, c.target).toBeLessThanOrEqual(c.limit);
      console.log(
        `${name}: compile's checks against the reference: ${report.checks.map((c) => `${c.target} ${c.maxRelativeError.toExponential(2)}`).join(', ')}`,
      );
    });
  }

  it('mobilenet_v3_small at opset 17 (HardSwish as one op) equals PyTorch', () => {
    const dir = exportNetworks(17, ['mobilenet_v3_small']);
    expect(readFileSync(join(dir, 'mobilenet_v3_small.onnx')).includes('HardSwish')).toBe(true);
    const opset17 = relativeToTorch(dir, 'mobilenet_v3_small');
    expect(opset17.error).toBeLessThanOrEqual(1e-4);
    // Opset 13 has no HardSwish: PyTorch writes x * HardSigmoid(x), which the import fuses back,
    // so both give the same graph.
    expect(relativeToTorch(opset13, 'mobilenet_v3_small').layers).toBe(opset17.layers);
  });
});
