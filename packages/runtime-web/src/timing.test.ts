/**
 * `timeModel` in Node: a one-layer network with 5 input channels (which the image API refuses)
 * timed on tfjs-wasm through its generated module and on onnxruntime-web wasm. Times only
 * checked to be there and plausible, never how fast.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '@fastdepth/graph-dsl';
import { emitModel, GENERATED_DIR, importModule, readWeights, seededModel } from './testing/models.js';
import { timeModel } from './timing.js';

const DIR = join(GENERATED_DIR, `timing-${process.pid}`);
afterAll(() => rmSync(DIR, { recursive: true, force: true }));

function oneLayer() {
  const g = new GraphBuilder('one_layer');
  const x = g.input('input', [1, 5, 8, 8]);
  g.output(
    'out',
    g.relu6('act', g.batchNorm('bn', g.conv2d('conv', x, { outChannels: 7, kernel: 3, pads: 1 }))),
  );
  return g.build();
}

describe('timeModel', () => {
  const files = emitModel(seededModel(oneLayer()), 'one-layer', DIR, 'seeded');

  it('tfjs wasm: a generated module with 5 input channels, `runs` times', async () => {
    const { manifest, buffer } = readWeights(files);
    const result = await timeModel(
      { engine: 'tfjs', module: await importModule(files), manifest, weights: buffer },
      { backend: 'wasm', inputShape: [1, 5, 8, 8], runs: 4, warmup: 1 },
    );
    expect(result.backend).toBe('wasm');
    expect(result.threads).toBe(1);
    expect(result.times).toHaveLength(4);
    for (const t of result.times) expect(Number.isFinite(t) && t >= 0).toBe(true);
  });

  it('onnx on onnxruntime-web wasm', async () => {
    const result = await timeModel(
      { engine: 'onnx', model: new Uint8Array(readFileSync(files.onnx)) },
      { backend: 'wasm', inputShape: [1, 5, 8, 8], runs: 3, warmup: 1 },
    );
    expect(result.times).toHaveLength(3);
    expect(result.times.every((t) => Number.isFinite(t) && t >= 0)).toBe(true);
  });

  it('refuses a shape that is not NCHW and a backend the engine lacks', async () => {
    const model = { engine: 'onnx' as const, model: new Uint8Array(readFileSync(files.onnx)) };
    await expect(timeModel(model, { backend: 'wasm', inputShape: [5, 8, 8] })).rejects.toThrow(
      'input shape [5, 8, 8], expected NCHW',
    );
    await expect(timeModel(model, { backend: 'webgl', inputShape: [1, 5, 8, 8] })).rejects.toThrow(
      'the onnx engine runs on wasm or webgpu, not webgl',
    );
  });
});
