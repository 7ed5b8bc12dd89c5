/**
 * `DepthEstimatorError.code` on real failure paths of each kind (the tiny graph, so every case
 * is quick): a program can switch on the code while the message stays for people.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDepthEstimator,
  DEPTH_ESTIMATOR_ERROR_CODES,
  DepthEstimatorError,
  resizeDepth,
  toColorMap,
  type DepthEstimatorErrorCode,
} from './index.js';
import {
  emitModel,
  importModule,
  readWasm,
  readWeights,
  seededModel,
  GENERATED_DIR,
} from './testing/models.js';
import type { EmittedModel } from './testing/models.js';
import { GraphBuilder, type Graph } from '@fastdepth/graph-dsl';

const DIR = join(GENERATED_DIR, `errors-test-${process.pid}`);
let tiny: EmittedModel;

/** 1x3x12x20 -> 1x1x12x20: two convolutions, which every engine (the wasm one too) compiles. */
function twoConvs(): Graph {
  const g = new GraphBuilder('two-convs');
  const x = g.input('input', [1, 3, 12, 20]);
  const c = g.relu('c_relu', g.conv2d('c', x, { outChannels: 4, kernel: 3, pads: 1, bias: true }));
  g.output('depth', g.relu('head_relu', g.conv2d('head', c, { outChannels: 1, kernel: 1, bias: true })));
  return g.build();
}

beforeAll(() => {
  tiny = emitModel(seededModel(twoConvs(), 3), 'two-convs', DIR, 'seeded', { wasm: true });
});

afterAll(() => {
  rmSync(DIR, { recursive: true, force: true });
});

/** The code of the `DepthEstimatorError` `work` throws (fails when it throws anything else). */
async function codeOf(work: () => unknown): Promise<DepthEstimatorErrorCode> {
  try {
    await work();
  } catch (error) {
    expect(error).toBeInstanceOf(DepthEstimatorError);
    return (error as DepthEstimatorError).code;
  }
  throw new Error('expected a DepthEstimatorError, nothing was thrown');
}

describe('DepthEstimatorError codes', () => {
  it('lists every code once', () => {
    expect(new Set(DEPTH_ESTIMATOR_ERROR_CODES).size).toBe(DEPTH_ESTIMATOR_ERROR_CODES.length);
    expect(DEPTH_ESTIMATOR_ERROR_CODES).toContain('BAD_IMAGE');
  });

  it('names each kind of failure', async () => {
    const wasm = readWasm(tiny);
    const tfjs = { engine: 'tfjs' as const, module: await importModule(tiny), weights: readWeights(tiny) };
    expect(await codeOf(() => createDepthEstimator({ model: tfjs, numThreads: 0 }))).toBe('BAD_OPTION');
    expect(
      await codeOf(() => createDepthEstimator({ model: { engine: 'wasm', model: wasm }, backend: 'webgl' })),
    ).toBe('BAD_OPTION');
    expect(await codeOf(() => toColorMap([1], { colormap: 'jet' as 'turbo' }))).toBe('BAD_OPTION');

    const estimator = await createDepthEstimator({ model: { engine: 'wasm', model: wasm } });
    const image = { data: new Uint8Array(10), width: 4, height: 4 };
    expect(await codeOf(() => estimator.estimate(image))).toBe('BAD_IMAGE');
    expect(
      await codeOf(() => estimator.estimateRgb({ data: new Float32Array(3), width: 1, height: 1 })),
    ).toBe('BAD_INPUT');
    const result = await estimator.estimate({ data: new Uint8Array(20 * 12 * 4), width: 20, height: 12 });
    expect(await codeOf(() => resizeDepth({ ...result, depth: new Float32Array(3) }, 4, 4))).toBe(
      'BAD_INPUT',
    );
    await estimator.dispose();
    expect(await codeOf(() => estimator.estimate(image))).toBe('DISPOSED');

    const missing = join(DIR, 'missing.wasm-manifest.json');
    expect(
      await codeOf(() =>
        createDepthEstimator({ model: { engine: 'wasm', model: { manifestUrl: missing } } }),
      ),
    ).toBe('LOAD_FAILED');
    const notJson = join(DIR, 'not-json.wasm-manifest.json');
    writeFileSync(notJson, '{ nope');
    expect(
      await codeOf(() =>
        createDepthEstimator({ model: { engine: 'wasm', model: { manifestUrl: notJson } } }),
      ),
    ).toBe('BAD_MODEL');
    expect(
      await codeOf(() =>
        createDepthEstimator({ model: { engine: 'wasm', model: { ...wasm, weights: new Uint8Array(4) } } }),
      ),
    ).toBe('BAD_MODEL');
  });
});
