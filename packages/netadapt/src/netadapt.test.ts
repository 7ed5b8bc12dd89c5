import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyze, initWeights, randomizeBatchNorm, type Model } from '@fastdepth/graph-dsl';
import { beforeAll, describe, expect, it } from 'vitest';
import { runNetAdapt, type NetAdaptOptions, type ProposalRow } from './netadapt.js';
import { dataFreeRecovery, reconstructionRecovery } from './recovery.js';
import { distillationTask, randomImages, type Evaluator, type Trainer } from './train.js';
import { tinyEncoderDecoder } from './testing/tiny-net.js';
import { prunableUnits } from './units.js';

const graph = tinyEncoderDecoder('relu');
const model: Model = { graph, weights: randomizeBatchNorm(graph, initWeights(graph, 1), 2) };
let task: { trainer: Trainer; evaluator: Evaluator };

beforeAll(async () => {
  task = await distillationTask(model, randomImages(4, 16, 3), { batchSize: 2, learningRate: 1e-3 });
});

function options(outDir: string, extra: Partial<NetAdaptOptions> = {}): NetAdaptOptions {
  return {
    model,
    metric: 'macs',
    budget: 0.8,
    trainer: task.trainer,
    evaluator: task.evaluator,
    shortSteps: 2,
    longSteps: 2,
    outDir,
    workers: 0,
    initialReduction: 0.1,
    ...extra,
  };
}

const tmp = (): string => mkdtempSync(join(tmpdir(), 'netadapt-'));

describe('runNetAdapt', () => {
  it('meets a MACs budget, keeps the skip aligned and writes every iteration', async () => {
    expect(prunableUnits(graph).map((u) => u.id)).toContain('conv1_pw+d1_pw');
    const dir = tmp();
    const seen: number[] = [];
    const result = await runNetAdapt(options(dir), { iterationDone: (r) => seen.push(r.iteration) });
    expect(result.done).toBe(true);
    expect(analyze(result.model.graph).macs).toBeLessThanOrEqual(0.8 * analyze(graph).macs);
    expect(result.rows.length).toBeGreaterThan(0);
    expect(seen).toEqual(result.rows.map((r) => r.iteration));
    for (let i = 1; i < result.rows.length; i++)
      expect(result.rows[i]!.resource).toBeLessThan(result.rows[i - 1]!.resource);
    const lines = readFileSync(join(dir, 'report.jsonl'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(result.rows.length);
    expect(existsSync(join(dir, result.rows.at(-1)!.weightsFile))).toBe(true);
    expect(existsSync(join(dir, 'final.safetensors'))).toBe(true);
  });

  it('resumes a killed run and ends where an uninterrupted run ends', async () => {
    const slow = { budget: 0.5, initialReduction: 0.05 };
    const whole = await runNetAdapt(options(tmp(), { ...slow, maxIterations: 2 }));
    const dir = tmp();
    const first = await runNetAdapt(options(dir, { ...slow, maxIterations: 1 }));
    expect(first.rows).toHaveLength(1);
    expect(first.done).toBe(false);
    const resumed = await runNetAdapt(options(dir, { ...slow, maxIterations: 2, resume: true }));
    expect(resumed.rows).toHaveLength(2);
    expect(resumed.rows).toEqual(whole.rows);
    for (const [name, t] of whole.model.weights) {
      const r = resumed.model.weights.get(name)!;
      expect(
        r.data.every((v, i) => v === t.data[i]),
        name,
      ).toBe(true);
    }
  });

  it('repairs with the reconstruction recovery and reports agreement with the start', async () => {
    const live: Model = {
      graph,
      weights: new Map(model.weights).set('head_bn.bias', { shape: [1], data: Float32Array.of(2) }),
    };
    const recovery = reconstructionRecovery({
      reference: live,
      calibration: randomImages(12, 16, 7),
      scoring: randomImages(4, 16, 8),
    });
    const proposals: ProposalRow[] = [];
    const result = await runNetAdapt(
      { model: live, metric: 'macs', budget: 0.8, recovery, outDir: tmp(), initialReduction: 0.1 },
      { proposalDone: (p) => proposals.push(p) },
    );
    expect(result.done).toBe(true);
    expect(result.recovery).toMatch(/least-squares refit/);
    expect(result.initialAccuracy).toBe(-0); // the start agrees with itself exactly
    for (const row of result.rows) {
      expect(row.delta1).toBeGreaterThan(0.5);
      expect(row.absRel).toBeLessThan(0.5);
    }
    expect(new Set(proposals.map((p) => p.accuracy)).size).toBeGreaterThan(1);
  });

  it('reports agreement before and after recovery per iteration, and a safe fine-tune that cannot hurt', async () => {
    const live: Model = {
      graph,
      weights: new Map(model.weights).set('head_bn.bias', { shape: [1], data: Float32Array.of(2) }),
    };
    const calibration = randomImages(12, 16, 7);
    const scoring = randomImages(4, 16, 8);
    const recovery = reconstructionRecovery({ reference: live, calibration, scoring, blocks: true });
    const safeTune = {
      teacher: live,
      train: calibration,
      heldOut: scoring,
      // Harmful on purpose: whatever it does, the result may not be worse than the start.
      learningRate: 0.9,
      schedule: 'constant' as const,
      steps: 4,
      evalEvery: 2,
    };
    const result = await runNetAdapt({
      model: live,
      metric: 'macs',
      budget: 0.9,
      recovery,
      outDir: tmp(),
      initialReduction: 0.1,
      safeTune,
    });
    expect(result.done).toBe(true);
    expect(result.recovery).toMatch(/block-wise corrections/);
    for (const row of result.rows) {
      // The plain cut may already agree (a cut of dead channels): the fields are there either way.
      expect(row.cutAbsRel).toBeGreaterThanOrEqual(0);
      expect(row.cutDelta1).toBeGreaterThan(0.5);
      expect(row.proposalAbsRel).toBeGreaterThanOrEqual(0);
      expect(row.proposalDelta1).toBeGreaterThan(0.5);
      expect(row.blocksCorrected).toBeGreaterThanOrEqual(0);
      expect(row.measuredMs).toBeUndefined();
    }
    const t = result.safeTune!;
    expect(t.stepsRun).toBeGreaterThan(0);
    expect(t.best.score).toBeGreaterThanOrEqual(t.start.score);
    if (!t.improved) expect(result.finalScore.absRel).toBe(result.rows.at(-1)!.absRel);
    await expect(
      runNetAdapt({
        model: live,
        metric: 'macs',
        budget: 0.9,
        recovery,
        outDir: tmp(),
        safeTune: { ...safeTune, learningRate: -1 },
      }),
    ).rejects.toThrow(/safe fine-tune: learning rate must be a finite number > 0, found -1/);
  });

  it('runs data-free with nothing but shapes and surgery, and its proposals do not all tie', async () => {
    const proposals: ProposalRow[] = [];
    const result = await runNetAdapt(
      { model, metric: 'macs', budget: 0.6, recovery: dataFreeRecovery(), outDir: tmp() },
      { proposalDone: (p) => proposals.push(p) },
    );
    expect(result.done).toBe(true);
    expect(result.recovery).toMatch(/no calibration images/);
    const first = proposals.filter((p) => p.iteration === 0).map((p) => p.accuracy);
    expect(new Set(first).size).toBeGreaterThan(1);
  });

  it('keeps the files of only the last iterations when asked', async () => {
    const dir = tmp();
    const result = await runNetAdapt({
      model,
      metric: 'macs',
      budget: 0.6,
      recovery: dataFreeRecovery(),
      outDir: dir,
      keepIterations: 1,
    });
    expect(result.rows.length).toBeGreaterThan(1);
    for (const row of result.rows.slice(0, -1)) expect(existsSync(join(dir, row.weightsFile))).toBe(false);
    expect(existsSync(join(dir, result.rows.at(-1)!.weightsFile))).toBe(true);
  });

  it('evaluates proposals in worker threads like in-process', async () => {
    const inProcess = await runNetAdapt(options(tmp(), { maxIterations: 1 }));
    const threaded = await runNetAdapt(options(tmp(), { maxIterations: 1, workers: 1 }));
    expect(threaded.rows[0]!.unit).toBe(inProcess.rows[0]!.unit);
    expect(threaded.rows[0]!.accuracy).toBeCloseTo(inProcess.rows[0]!.accuracy, 6);
  });
});
