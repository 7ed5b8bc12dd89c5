/**
 * PyTorch's own exports of F.interpolate (Debian's python3-torch; without it these tests fail
 * saying what to install, never skip): Upsample at opset 9, Resize with scales and with sizes
 * from folded shape arithmetic at opsets 11, 13 and 17 (and at 11 with BatchNorm kept and the
 * exporter's own constant folding off), imported and run by the reference
 * executor against PyTorch's output.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execute, maxRelativeError, readNpy } from '@fastdepth/graph-dsl';
import { beforeAll, describe, expect, it } from 'vitest';
import { importOnnx } from './import.js';

const EXPORTER = fileURLToPath(new URL('./testing/export_resize.py', import.meta.url));

/** Debian's interpreter first: its torch is the one CI installs (apt-get install python3-torch). */
function torchPython(): string {
  for (const python of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
    if (r.status === 0) return python;
  }
  throw new Error('these tests need PyTorch: apt-get install -y --no-install-recommends python3-torch');
}

/** `11-kept`: BatchNorm as its own node and the shape arithmetic left unfolded by the exporter. */
const OPSETS = ['9', '11', '11-kept', '13', '17'] as const;

function exportResizes(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fastdepth-resize-'));
  const r = spawnSync(torchPython(), [EXPORTER, dir, ...OPSETS], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (r.status !== 0) throw new Error(`export_resize.py failed: ${r.stderr || r.error?.message}`);
  return dir;
}

describe("PyTorch's F.interpolate exports import as resize layers", () => {
  let dir: string;
  beforeAll(() => {
    dir = exportResizes();
  }, 300_000);

  for (const opset of OPSETS) {
    it(`opset ${opset}: ${opset === '9' ? 'Upsample' : 'Resize with scales and with folded sizes'} equals PyTorch`, () => {
      const bytes = readFileSync(join(dir, `resize-${opset}.onnx`));
      expect(bytes.includes(opset === '9' ? 'Upsample' : 'Resize')).toBe(true);
      const { model, standalone } = importOnnx(bytes, 'resize.onnx');
      expect(standalone).toBe(true);
      const ops = model.graph.nodes.map((n) => n.op);
      // nearest x3, back to the skip's size, x2 (an upsample), then at opset 11+ bilinear to odd
      // sizes and x2 (upsamples), and (2, 3) at the end.
      expect(ops.filter((o) => o === 'resize' || o === 'upsample').length).toBe(opset === '9' ? 4 : 7);
      // The kept BatchNorm stays a layer; the folded exports have it inside the conv.
      expect(ops.filter((o) => o === 'batchNorm').length).toBe(opset === '11-kept' ? 1 : 0);
      if (opset === '11-kept')
        expect(bytes.includes('Shape') && bytes.includes('BatchNormalization')).toBe(true);
      const forms = model.graph.nodes.flatMap((n) =>
        n.op === 'resize'
          ? [`${n.attrs.mode} ${'scale' in n.attrs ? `x${n.attrs.scale.join('x')}` : n.attrs.size.join('x')}`]
          : [],
      );
      expect(forms).toEqual(
        opset === '9'
          ? ['nearest x3x3', 'nearest 10x14', 'nearest x2x3']
          : ['nearest x3x3', 'nearest 10x14', 'bilinear 7x9', 'bilinear 10x14', 'nearest x2x3'],
      );
      const input = readNpy(readFileSync(join(dir, 'input.npy')), 'input.npy');
      const want = readNpy(readFileSync(join(dir, `output-${opset}.npy`)), 'output.npy');
      const got = execute(model.graph, model.weights, {
        input: { shape: input.shape, data: input.data },
      }).output!;
      expect([...got.shape]).toEqual(want.shape);
      const error = maxRelativeError(got.data, Float64Array.from(want.data as ArrayLike<number>));
      console.log(
        `resize network, opset ${opset}: max relative difference to PyTorch ${error.toExponential(2)}`,
      );
      expect(error).toBeLessThanOrEqual(1e-5);
    });
  }
});
