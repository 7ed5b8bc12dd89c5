import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { emitTfjs } from './index.js';
import { importGeneratedModule } from './node.js';
import { useBackend } from './testing/harness.js';
import { randomModel, tinyGraph } from './testing/tiny.js';

describe('importGeneratedModule', () => {
  it('loads a generated module from plain JavaScript and runs it', async () => {
    await useBackend('cpu');
    const { module, manifest, weights } = await importGeneratedModule(emitTfjs(randomModel(tinyGraph(), 1)));
    expect(module.MODEL_INFO.arch).toBe('tiny');
    const w = module.loadWeights(manifest, weights);
    const x = tf.zeros<tf.Rank.R4>([1, 16, 16, 3]);
    const y = module.predict(x, w);
    expect(y.shape).toEqual([1, 16, 16, 1]);
    tf.dispose([x, y]);
    module.dispose(w);
  });
});
