/**
 * The torchvision networks whose decoders resize, exported by PyTorch's own ONNX exporter
 * (Debian's python3-torch + python3-torchvision, random weights, nothing downloaded; without
 * them these tests fail saying what to install, never skip): LR-ASPP MobileNetV3-Large and a
 * U-Net decoder of our own (bilinear x2 to each skip, concatenated skips, depthwise-separable
 * convs, a bilinear x4 head). Each is imported with no --arch, run by the reference executor
 * against PyTorch's output, compiled to the ONNX, tfjs, TVM and wasm targets (compile checks onnx
 * and tfjs against the reference executor), and the emitted ONNX file run by onnxruntime
 * against PyTorch's output.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execute, maxRelativeError, readNpy, type NpyArray } from '@fastdepth/graph-dsl';
import { importOnnx } from '@fastdepth/importers';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './testing/run-cli.js';

const EXPORTER = fileURLToPath(new URL('./testing/export_torch_resize.py', import.meta.url));
const NETWORKS = ['lraspp_mobilenet_v3_large', 'unet_decoder_mobilenet_v2'] as const;
/** Divisible by 32 (the DSL's stride rule) and small enough for ~30 s per network here. */
const SIZE = 160;
/** The resizes each network's decoder has (x2 ones import as `upsample`). */
const RESIZES: Record<(typeof NETWORKS)[number], readonly string[]> = {
  lraspp_mobilenet_v3_large: ['upsample bilinear', 'resize bilinear x8x8'],
  unet_decoder_mobilenet_v2: [
    'upsample bilinear',
    'upsample bilinear',
    'upsample bilinear',
    'resize bilinear x4x4',
  ],
};

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

const values = (a: NpyArray): Float64Array => Float64Array.from(a.data as ArrayLike<number>);

describe('torchvision networks that resize, through the general ONNX import', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'fastdepth-torch-resize-'));
    const r = spawnSync(torchPython(), [EXPORTER, dir, String(SIZE), '13', ...NETWORKS], {
      encoding: 'utf8',
      timeout: 600_000,
    });
    if (r.status !== 0) throw new Error(`export_torch_resize.py failed: ${r.stderr || r.error?.message}`);
  }, 600_000);

  for (const name of NETWORKS) {
    it(`${name} (opset 13) equals PyTorch, compiles to onnx, tfjs, tvm and wasm, and its ONNX equals PyTorch`, async () => {
      const file = join(dir, `${name}.onnx`);
      const input = readNpy(readFileSync(join(dir, 'input.npy')), 'input.npy');
      const want = readNpy(readFileSync(join(dir, `${name}.out.npy`)), `${name}.out.npy`);
      const { model, standalone } = importOnnx(readFileSync(file), `${name}.onnx`);
      expect(standalone).toBe(true);
      expect(
        model.graph.nodes.flatMap((n) =>
          n.op === 'upsample'
            ? [`upsample ${n.attrs.mode}`]
            : n.op === 'resize'
              ? [
                  `resize ${n.attrs.mode} ${'scale' in n.attrs ? `x${n.attrs.scale.join('x')}` : n.attrs.size.join('x')}`,
                ]
              : [],
        ),
      ).toEqual(RESIZES[name]);
      const got = Object.values(
        execute(model.graph, model.weights, { input: { shape: input.shape, data: input.data } }),
      )[0]!;
      expect([...got.shape]).toEqual(want.shape);
      const reference = maxRelativeError(got.data, values(want));

      const out = join(dir, `${name}-out`);
      const r = await runCli(
        'compile',
        '--weights',
        file,
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

      // The emitted ONNX file against PyTorch itself.
      const session = await ort.InferenceSession.create(join(out, 'onnx', `${name}.onnx`));
      const feeds = {
        [session.inputNames[0]!]: new ort.Tensor('float32', Float32Array.from(values(input)), input.shape),
      };
      const ortOut = (await session.run(feeds))[session.outputNames[0]!]!;
      const onnxruntime = maxRelativeError(Float64Array.from(ortOut.data as Float32Array), values(want));
      await session.release();

      // TVM runs nowhere here (no python tvm): its package holds Relay that resizes to the
      // output size, and the reference output (of its own input) its build.py compares with.
      const expected = readNpy(readFileSync(join(out, 'tvm', 'expected.npy')), 'expected.npy');
      expect(expected.shape).toEqual(want.shape);
      const relay = readFileSync(join(out, 'tvm', `${name}.relay`), 'utf8');
      expect(relay).toContain(`image.resize2d(`);
      expect(relay).toContain(`size=[${SIZE}, ${SIZE}]`);

      const checks = Object.fromEntries(report.checks.map((c) => [c.target, c.maxRelativeError]));
      console.log(
        `${name} at ${SIZE}x${SIZE}: ${model.graph.nodes.length} layers; max relative difference to PyTorch: reference executor ${reference.toExponential(2)}, onnxruntime on the emitted file ${onnxruntime.toExponential(2)}; compile's checks against the reference: onnx ${checks.onnx!.toExponential(2)}, tfjs ${checks.tfjs!.toExponential(2)}, wasm ${checks.wasm!.toExponential(2)}`,
      );
      expect(reference).toBeLessThanOrEqual(1e-4);
      expect(onnxruntime).toBeLessThanOrEqual(1e-4);
    }, 120_000);
  }
});
