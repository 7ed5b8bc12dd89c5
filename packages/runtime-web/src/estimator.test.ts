import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { maxRelativeError } from '@fastdepth/graph-dsl';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDepthEstimator, DepthEstimatorError, type DepthEstimator, type PixelBuffer } from './index.js';
import {
  emitArch,
  emitModel,
  importModule,
  readWeights,
  seededModel,
  GENERATED_DIR,
  type EmittedModel,
} from './testing/models.js';
import { tinyDepthGraph } from './testing/tiny.js';

const DIR = join(GENERATED_DIR, `estimator-test-${process.pid}`);

/** A deterministic RGBA photo-like pattern (smooth gradients + noise) of any size. */
function pattern(width: number, height: number, seed: number): Uint8ClampedArray {
  let s = seed >>> 0;
  const data = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const i = (y * width + x) * 4;
      data[i] = (x * 255) / width;
      data[i + 1] = (y * 255) / height;
      data[i + 2] = s >>> 24;
      data[i + 3] = 255;
    }
  }
  return data;
}

function rgbOf(rgba: Uint8ClampedArray): Uint8Array {
  const rgb = new Uint8Array((rgba.length / 4) * 3);
  for (let p = 0; p < rgba.length / 4; p++) rgb.set(rgba.subarray(p * 4, p * 4 + 3), p * 3);
  return rgb;
}

let tiny: EmittedModel;
let pruned: EmittedModel;

beforeAll(() => {
  tiny = emitModel(seededModel(tinyDepthGraph(), 3), 'tiny-depth', DIR, 'seeded');
  pruned = emitArch('fastdepth-pruned', 224, DIR, 1);
});

afterAll(() => {
  rmSync(DIR, { recursive: true, force: true });
});

async function tfjsEstimator(files: EmittedModel, backend: 'wasm' | 'cpu'): Promise<DepthEstimator> {
  return createDepthEstimator({
    model: { engine: 'tfjs', module: await importModule(files), weights: readWeights(files) },
    backend,
  });
}

describe.each([
  ['tiny graph', (): EmittedModel => tiny, 33, 27],
  ['fastdepth-pruned 224', (): EmittedModel => pruned, 320, 240],
])('%s: tfjs (wasm, cpu) against onnxruntime-node', (_, files, width, height) => {
  it('gives the same depth on every engine and backend', async () => {
    const image: PixelBuffer = { data: pattern(width, height, 7), width, height };
    const reference = await createDepthEstimator({ model: { engine: 'onnx', model: files().onnx } });
    expect(reference.backend).toBe('cpu');
    const expected = await reference.estimate(image);
    await reference.dispose();
    expect(expected.engine).toBe('onnx');
    expect(expected.depth.some((v) => v > 0)).toBe(true);
    for (const backend of ['wasm', 'cpu'] as const) {
      const estimator = await tfjsEstimator(files(), backend);
      const result = await estimator.estimate(image);
      await estimator.dispose();
      expect([result.engine, result.backend, result.width, result.height]).toEqual([
        'tfjs',
        backend,
        expected.width,
        expected.height,
      ]);
      expect(result.source).toEqual(expected.source);
      expect(result.latencyMs).toBeGreaterThan(0);
      expect(maxRelativeError(result.depth, expected.depth)).toBeLessThanOrEqual(1e-4);
    }
  });
});

describe('estimateRgb (preprocessed input)', () => {
  it.each(['tfjs', 'onnx'] as const)(
    '%s: equals estimate() of the same pixels at the network size',
    async (engine) => {
      const estimator =
        engine === 'tfjs'
          ? await tfjsEstimator(tiny, 'cpu')
          : await createDepthEstimator({ model: { engine: 'onnx', model: tiny.onnx } });
      const rgba = pattern(20, 12, 9);
      const hwc = new Float32Array(20 * 12 * 3);
      for (let p = 0; p < 20 * 12; p++) for (let c = 0; c < 3; c++) hwc[p * 3 + c] = rgba[p * 4 + c]! / 255;
      const viaImage = await estimator.estimate({ data: rgba, width: 20, height: 12 });
      const viaRgb = await estimator.estimateRgb({ data: hwc, width: 20, height: 12 });
      expect(maxRelativeError(viaRgb.depth, viaImage.depth)).toBeLessThanOrEqual(1e-6);
      await expect(estimator.estimateRgb({ data: hwc, width: 12, height: 20 })).rejects.toThrow(
        /estimateRgb: input 12x20 with 720 values, the network takes 20x12x3/,
      );
      await estimator.dispose();
    },
  );
});

describe('tfjs engine', () => {
  it('picks wasm first in Node and reports the network size', async () => {
    const estimator = await createDepthEstimator({
      model: { engine: 'tfjs', module: await importModule(tiny), weights: { manifestUrl: tiny.weightsJson } },
    });
    expect([estimator.engine, estimator.backend, estimator.width, estimator.height]).toEqual([
      'tfjs',
      'wasm',
      20,
      12,
    ]);
    await estimator.dispose();
    await expect(estimator.estimate({ data: pattern(20, 12, 1), width: 20, height: 12 })).rejects.toThrow(
      /disposed/,
    );
  });

  it.each(['wasm', 'cpu'] as const)('leaks no tensors over 100 estimates on %s', async (backend) => {
    const estimator = await tfjsEstimator(tiny, backend);
    const image = { data: pattern(40, 24, 2), width: 40, height: 24 };
    await estimator.estimate(image);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 100; i++) await estimator.estimate(image);
    expect(tf.memory().numTensors).toBe(before);
    await estimator.dispose();
    expect(tf.memory().numTensors).toBeLessThan(before);
  });

  it('reads RGB and RGBA buffers the same', async () => {
    const estimator = await tfjsEstimator(tiny, 'cpu');
    const rgba = pattern(31, 17, 5);
    const a = await estimator.estimate({ data: rgba, width: 31, height: 17 });
    const b = await estimator.estimate({ data: rgbOf(rgba), width: 31, height: 17, channels: 3 });
    await estimator.dispose();
    expect(b.depth).toEqual(a.depth);
  });

  it('rejects bad images with a clear message', async () => {
    const estimator = await tfjsEstimator(tiny, 'cpu');
    await expect(estimator.estimate({ data: new Uint8Array(10), width: 4, height: 4 })).rejects.toThrow(
      'estimate: image data holds 10 bytes, expected 4 x 4 x 4 (RGBA) = 64',
    );
    await expect(
      estimator.estimate({ data: new Uint8Array(47), width: 4, height: 4, channels: 3 }),
    ).rejects.toThrow('expected 4 x 4 x 3 (RGB) = 48');
    await expect(estimator.estimate({ data: new Uint8Array(0), width: 0, height: 0 })).rejects.toThrow(
      'estimate: image size 0x0, width and height must be positive integers',
    );
    await expect(
      estimator.estimate({ data: new Uint8Array(8), width: 2, height: 1, channels: 2 as 3 }),
    ).rejects.toThrow('channels 2, expected 3 (RGB) or 4 (RGBA)');
    await expect(
      estimator.estimate({ data: [1, 2, 3] as unknown as Uint8Array, width: 1, height: 1, channels: 3 }),
    ).rejects.toBeInstanceOf(DepthEstimatorError);
    // A bad call leaves the estimator usable.
    const ok = await estimator.estimate({ data: pattern(20, 12, 1), width: 20, height: 12 });
    expect(ok.depth.length).toBe(240);
    await estimator.dispose();
  });

  it('names what is wrong with the weights and the options', async () => {
    const module = await importModule(tiny);
    const { manifest, buffer } = readWeights(tiny);
    await expect(
      createDepthEstimator({
        model: { engine: 'tfjs', module, weights: { manifest, buffer: buffer.slice(0, 100) } },
        backend: 'cpu',
      }),
    ).rejects.toThrow(/weights buffer holds 100 bytes/);
    await expect(
      createDepthEstimator({
        model: { engine: 'tfjs', module, weights: { manifestUrl: join(DIR, 'missing.json') } },
        backend: 'cpu',
      }),
    ).rejects.toThrow(/tfjs weights manifest: cannot read .*missing\.json/);
    await expect(
      createDepthEstimator({
        model: { engine: 'tfjs', module, weights: { manifest, buffer } },
        numThreads: 0,
      }),
    ).rejects.toThrow('numThreads 0: expected a positive integer');
    await expect(
      createDepthEstimator({
        model: { engine: 'tfjs', module, weights: { manifest, buffer } },
        backend: 'webgl',
      }),
    ).rejects.toThrow(/tfjs: no backend initialised \(webgl: /);
  });
});

describe('onnx engine', () => {
  it('runs onnxruntime-web (wasm) in Node too, matching onnxruntime-node', async () => {
    const image = { data: pattern(26, 30, 9), width: 26, height: 30 };
    const native = await createDepthEstimator({
      model: { engine: 'onnx', model: tiny.onnx },
      backend: 'cpu',
    });
    const web = await createDepthEstimator({
      model: { engine: 'onnx', model: new URL(`file://${tiny.onnx}`) },
      backend: 'wasm',
    });
    const [a, b] = [await native.estimate(image), await web.estimate(image)];
    await Promise.all([native.dispose(), web.dispose()]);
    expect([b.engine, b.backend, b.width, b.height]).toEqual(['onnx', 'wasm', 20, 12]);
    expect(maxRelativeError(b.depth, a.depth)).toBeLessThanOrEqual(1e-4);
  });

  it('rejects a file that is not ONNX', async () => {
    await expect(
      createDepthEstimator({ model: { engine: 'onnx', model: new Uint8Array([1, 2, 3]) } }),
    ).rejects.toThrow(/onnx: no runtime initialised \(cpu: /);
  });
});

describe('backendReason', () => {
  it('says whether the backend was requested or the first usable of the automatic order', async () => {
    const model = { engine: 'tfjs' as const, module: await importModule(tiny), weights: readWeights(tiny) };
    const auto = await createDepthEstimator({ model });
    expect([auto.backend, auto.backendReason]).toEqual(['wasm', 'wasm: first usable of wasm > cpu']);
    await auto.dispose();
    const named = await createDepthEstimator({ model, backend: 'cpu' });
    expect([named.backend, named.backendReason]).toEqual(['cpu', 'cpu: requested']);
    await named.dispose();
    const onnx = await createDepthEstimator({ model: { engine: 'onnx', model: tiny.onnx } });
    expect([onnx.backend, onnx.backendReason]).toEqual([
      'cpu',
      'cpu: first usable of cpu > wasm; onnxruntime-node, 1 thread',
    ]);
    await onnx.dispose();
  });
});
