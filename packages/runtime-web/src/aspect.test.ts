/**
 * Aspect kept: fastdepth-pruned compiled at 224x288 (a 4:3 frame's aspect, `aspectInputSize`)
 * runs on every engine (each reads its input size from the model: the tfjs module's
 * MODEL_INFO, the ONNX input, the wasm manifest of a build compiled for that size), and
 * `fit: 'fill'` gives the network the whole frame: the same depth on every engine, the wasm
 * engine's worker threads preprocessing bit for bit as its calling thread.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildArch } from '@fastdepth/fastdepth-arch';
import { maxRelativeError } from '@fastdepth/graph-dsl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aspectInputSize, createDepthEstimator, inputRegion, preprocess, type PixelBuffer } from './index.js';
import {
  emitModel,
  GENERATED_DIR,
  importModule,
  readWeights,
  seededModel,
  type EmittedModel,
} from './testing/models.js';

const DIR = join(GENERATED_DIR, `aspect-test-${process.pid}`);
let model: EmittedModel;

function frame(width: number, height: number): PixelBuffer {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 4;
      data[p] = (x * 255) / width;
      data[p + 1] = (y * 255) / height;
      data[p + 2] = ((x ^ y) * 7) & 255;
      data[p + 3] = 255;
    }
  return { data, width, height };
}

beforeAll(() => {
  const graph = buildArch('fastdepth-pruned', { inputSize: [...aspectInputSize(640, 480)] });
  model = emitModel(seededModel(graph, 2), 'fastdepth-pruned-224x288', DIR, 'seeded', { wasm: true });
}, 120_000);
afterAll(() => rmSync(DIR, { recursive: true, force: true }));

describe('aspectInputSize', () => {
  it('keeps the short side and rounds the long one to the nearest multiple of 32', () => {
    expect(aspectInputSize(640, 480)).toEqual([224, 288]);
    expect(aspectInputSize(480, 640)).toEqual([288, 224]);
    expect(aspectInputSize(1280, 720)).toEqual([224, 384]);
    expect(aspectInputSize(500, 500)).toEqual([224, 224]);
    expect(aspectInputSize(640, 480, 256)).toEqual([256, 352]);
    expect(() => aspectInputSize(640, 480, 100)).toThrow(
      /short side 100, expected a positive multiple of 32/,
    );
    expect(() => aspectInputSize(0, 480)).toThrow(/frame 0x480/);
  });
});

describe('fit', () => {
  it("'fill' reads the whole image, 'cover' the authors' centre crop", () => {
    expect(inputRegion(640, 480, 288, 224, 'fill')).toEqual({ x: 0, y: 0, width: 640, height: 480 });
    const cover = inputRegion(640, 480, 288, 224, 'cover');
    expect(cover.width).toBeCloseTo((480 * 288) / 224, 6);
    expect(cover.x).toBeCloseTo((640 - (480 * 288) / 224) / 2, 6);
    // fill: the first and last network columns sample the image's own edges.
    const image = frame(64, 48);
    const nhwc = preprocess(image, 32, 32, 'nhwc', 'fill');
    const coverInput = preprocess(image, 32, 32, 'nhwc', 'cover');
    expect(nhwc[0]).toBeLessThan(coverInput[0]!);
    expect(nhwc[31 * 3]).toBeGreaterThan(coverInput[31 * 3]!);
  });

  it('224x288 on every engine, whole 640x480 frame: the same depth, the crop is the frame', async () => {
    const image = frame(640, 480);
    const reference = await createDepthEstimator({
      model: { engine: 'onnx', model: model.onnx },
      fit: 'fill',
    });
    expect([reference.width, reference.height, reference.fit]).toEqual([288, 224, 'fill']);
    const expected = await reference.estimate(image);
    await reference.dispose();
    expect(expected.source.crop).toEqual({ x: 0, y: 0, width: 640, height: 480 });
    const tfjs = await createDepthEstimator({
      model: { engine: 'tfjs', module: await importModule(model), weights: readWeights(model) },
      backend: 'cpu',
      fit: 'fill',
    });
    const fromTfjs = await tfjs.estimate(image);
    await tfjs.dispose();
    expect(maxRelativeError(fromTfjs.depth, expected.depth)).toBeLessThanOrEqual(1e-4);
    const depths: Float32Array[] = [];
    for (const numThreads of [1, 2]) {
      const wasm = await createDepthEstimator({
        model: { engine: 'wasm', model: { manifestUrl: model.wasmManifest } },
        numThreads,
        fit: 'fill',
      });
      expect(wasm.threads).toBe(numThreads);
      const result = await wasm.estimate(image);
      await wasm.dispose();
      expect(result.source.crop).toEqual({ x: 0, y: 0, width: 640, height: 480 });
      expect(maxRelativeError(result.depth, expected.depth)).toBeLessThanOrEqual(1e-4);
      depths.push(result.depth);
    }
    // The threads' preprocessing of 'fill' is the calling thread's, bit for bit.
    expect(depths[1]).toEqual(depths[0]);
    // 'cover' on the same frame is another input (the sides cut off): another depth.
    const cover = await createDepthEstimator({ model: { engine: 'onnx', model: model.onnx } });
    const covered = await cover.estimate(image);
    await cover.dispose();
    expect(covered.source.crop.width).toBeLessThan(640);
    expect(maxRelativeError(covered.depth, expected.depth)).toBeGreaterThan(1e-3);
  }, 120_000);

  it('rejects an unknown fit', async () => {
    await expect(
      createDepthEstimator({ model: { engine: 'onnx', model: model.onnx }, fit: 'stretch' as 'fill' }),
    ).rejects.toThrow(/fit "stretch": expected "cover" or "fill"/);
  });
});
