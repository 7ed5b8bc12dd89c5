import { initWeights, randomizeBatchNorm, randomTensor, type Model } from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { agreement, agreementScore } from './agreement.js';
import { predictOnnx } from './onnx-forward.js';
import { composeOrigins } from './recovery.js';
import { checkSafeTuneOptions, safeFineTune, scheduledRate, type SafeTuneOptions } from './safe-tune.js';
import { chooseChannels, pruneUnit } from './surgery.js';
import { tinyEncoderDecoder } from './testing/tiny-net.js';
import { unitById } from './units.js';

const graph = tinyEncoderDecoder();
const weights = randomizeBatchNorm(graph, initWeights(graph, 1), 2);
weights.set('head_bn.bias', { shape: [1], data: Float32Array.of(2) });
const teacher: Model = { graph, weights };
const train = Array.from({ length: 8 }, (_, i) => randomTensor([3, 16, 16], 100 + i));
const heldOut = Array.from({ length: 4 }, (_, i) => randomTensor([3, 16, 16], 700 + i));
const unit = unitById(graph, 'conv2_pw');
const keep = chooseChannels(teacher, unit, 16);
// Pruned by filter norm, no refit: far enough from the teacher for a fine-tune to matter.
const student = pruneUnit(teacher, unit.id, keep);
const origins = composeOrigins(new Map(), unit, keep);
const base: SafeTuneOptions = {
  teacher,
  train,
  heldOut,
  learningRate: 1e-3,
  steps: 12,
  evalEvery: 3,
  backend: 'wasm',
};

async function heldOutScore(m: Model): Promise<number> {
  return agreementScore(agreement(await predictOnnx(m, heldOut), await predictOnnx(teacher, heldOut)));
}

describe('safe fine-tune', () => {
  it('a harmful learning rate never returns weights worse on held-out than the start', async () => {
    for (const loss of ['depth', 'features'] as const) {
      const r = await safeFineTune(student, {
        ...base,
        learningRate: 0.9,
        schedule: 'constant',
        loss,
        origins,
      });
      expect(r.checks.length, loss).toBeGreaterThan(1);
      // The rate did harm: some evaluation after the start is worse than the start.
      expect(
        Math.min(...r.checks.slice(1).map((c) => (Number.isFinite(c.score) ? c.score : -Infinity))),
      ).toBeLessThan(r.start.score);
      expect(r.best.score, loss).toBeGreaterThanOrEqual(r.start.score);
      expect(await heldOutScore(r.model), loss).toBeGreaterThanOrEqual(r.start.score - 1e-9);
      if (!r.improved) expect(r.model).toBe(student);
    }
  });

  it('stops early after `patience` evaluations without improvement', async () => {
    const r = await safeFineTune(student, {
      ...base,
      learningRate: 0.9,
      schedule: 'constant',
      steps: 30,
      evalEvery: 2,
      patience: 2,
    });
    expect(r.improved).toBe(false);
    expect(r.model).toBe(student);
    expect(r.stoppedEarly).toBe(true);
    expect(r.stepsRun).toBe(4);
  });

  it('a sensible rate improves held-out agreement and reports the best check', async () => {
    const seen: number[] = [];
    const r = await safeFineTune(student, {
      ...base,
      learningRate: 2e-3,
      steps: 24,
      evalEvery: 4,
      onCheck: (c) => seen.push(c.step),
    });
    expect(seen).toEqual(r.checks.map((c) => c.step));
    expect(r.improved).toBe(true);
    expect(r.best.score).toBeGreaterThan(r.start.score);
    expect(await heldOutScore(r.model)).toBeCloseTo(r.best.score, 6);
    expect(r.model.graph).toBe(student.graph);
  });

  it('schedules: cosine decays to 0, step divides by 10 each third', () => {
    expect(scheduledRate('constant', 1e-3, 50, 100)).toBe(1e-3);
    expect(scheduledRate('cosine', 1e-3, 0, 100)).toBeCloseTo(1e-3, 12);
    expect(scheduledRate('cosine', 1e-3, 50, 100)).toBeCloseTo(5e-4, 12);
    expect(scheduledRate('step', 1e-3, 40, 100)).toBeCloseTo(1e-4, 12);
    expect(scheduledRate('step', 1e-3, 70, 100)).toBeCloseTo(1e-5, 12);
  });

  it('rejects bad option values with clear errors', async () => {
    const cases: [Partial<SafeTuneOptions>, RegExp][] = [
      [{ learningRate: 0 }, /learning rate must be a finite number > 0, found 0/],
      [{ learningRate: Number.NaN }, /learning rate must be a finite number > 0, found NaN/],
      [{ learningRate: 3 }, /learning rate 3 is above 1/],
      [{ steps: 1.5 }, /steps must be a whole number >= 1, found 1.5/],
      [{ schedule: 'linear' as never }, /schedule must be one of constant, cosine, step, found "linear"/],
      [{ loss: 'l2' as never }, /loss must be one of depth, features, found "l2"/],
      [{ patience: 0 }, /patience must be a whole number >= 1, found 0/],
      [{ evalEvery: -1 }, /evalEvery must be a whole number >= 1/],
      [{ featureWeight: -1 }, /feature weight must be a finite number >= 0, found -1/],
      [{ heldOut: [] }, /no held-out images/],
    ];
    for (const [patch, message] of cases) {
      expect(() => checkSafeTuneOptions({ ...base, ...patch })).toThrow(message);
      await expect(safeFineTune(student, { ...base, ...patch })).rejects.toThrow(message);
    }
    await expect(
      safeFineTune(student, { ...base, loss: 'features', featureLayers: ['nope'] }),
    ).rejects.toThrow(/feature layer "nope" is not a conv/);
  });
});
