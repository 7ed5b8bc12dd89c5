import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeOnnx } from '@fastdepth/codegen-onnx';
import {
  FastDepthError,
  FormatError,
  WeightsError,
  encodeSafetensors,
  initWeights,
} from '@fastdepth/graph-dsl';
import { fastdepth } from '@fastdepth/fastdepth-arch';
import { describe, expect, it } from 'vitest';
import { detectFormat, importWeights } from './dispatch.js';

const DATA =
  process.env.FASTDEPTH_DATA ?? resolve(dirname(fileURLToPath(import.meta.url)), '../../../../shared/data');
const SMALL = {
  encoder: [8, 16, 16, 8, 16, 24, 16, 16, 16, 16, 16, 16, 24, 32],
  decoder: [16, 24, 8, 16, 8],
};

describe('importWeights', () => {
  const graph = fastdepth({ widths: SMALL, inputSize: 32, name: 'small' });
  const weights = initWeights(graph, 5);
  const dir = mkdtempSync(join(tmpdir(), 'importers-'));

  it('reads safetensors against the graph the caller supplies', () => {
    const path = join(dir, 'w.safetensors');
    writeFileSync(path, encodeSafetensors(weights));
    const r = importWeights(path, { graph });
    expect(r.archName).toBe('small');
    expect(r.model.weights.get('conv0.weight')!.data).toEqual(weights.get('conv0.weight')!.data);
    expect(() => importWeights(path)).toThrow(FastDepthError);
    expect(() => importWeights(path)).toThrow(/w\.safetensors: a safetensors file holds weights only/);
    // Weights of another width do not fit.
    expect(() => importWeights(path, { arch: 'fastdepth' })).toThrow(WeightsError);
  });

  it('dispatches .onnx and .tflite by extension', () => {
    const onnxPath = join(dir, 'm.onnx');
    writeFileSync(onnxPath, encodeOnnx({ graph, weights }));
    const r = importWeights(onnxPath);
    expect(r.archName).toBe('fastdepth');
    expect(r.model.weights.get('decode_conv6_bn.running_var')!.data).toEqual(
      weights.get('decode_conv6_bn.running_var')!.data,
    );
    const t = importWeights(resolve(DATA, 'weights/fast_depth_224.tflite'));
    expect(t.archName).toBe('fastdepth-pruned');
  });

  it('detects formats of unnamed bytes by magic, and names bad files', () => {
    expect(detectFormat(encodeSafetensors(weights), '<bytes>')).toBe('safetensors');
    expect(detectFormat(Uint8Array.of(0, 0, 0, 0, 0x54, 0x46, 0x4c, 0x33), '<bytes>')).toBe('tflite');
    expect(() => detectFormat(new Uint8Array(10), 'x.pth')).toThrow(
      /x\.pth: unknown weight file extension "\.pth"/,
    );
    expect(() => importWeights(join(dir, 'missing.onnx'))).toThrow(
      /cannot read weights file ".*missing\.onnx": no such file/,
    );
    expect(() => importWeights('/dev/zero')).toThrow(
      'cannot read weights file "/dev/zero": is a character device, not a file',
    );
    expect(() => importWeights(Uint8Array.of(1, 2, 3), { format: 'tflite', source: 'b.tflite' })).toThrow(
      FormatError,
    );
  });
});
