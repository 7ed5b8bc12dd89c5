import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initWeights, randomizeBatchNorm, type Model } from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { runNetAdapt, type NetAdaptOptions, type ProposalRow } from '../netadapt.js';
import { reconstructionRecovery } from '../recovery.js';
import { tinyEncoderDecoder } from '../testing/tiny-net.js';
import { randomImages } from '../train.js';
import { threadDispatcher } from './threads.js';

const graph = tinyEncoderDecoder('relu');
const model: Model = { graph, weights: randomizeBatchNorm(graph, initWeights(graph, 1), 2) };
const images = randomImages(4, 16, 5);
const options = (extra: Partial<NetAdaptOptions> = {}): NetAdaptOptions => ({
  model,
  metric: 'macs',
  budget: 0.7,
  recovery: reconstructionRecovery({ reference: model, calibration: images, scoring: images.slice(0, 2) }),
  outDir: mkdtempSync(join(tmpdir(), 'netadapt-threads-')),
  workers: 0,
  initialReduction: 0.1,
  maxIterations: 2,
  ...extra,
});

describe('threadDispatcher', () => {
  it('runs the queue jobs in worker threads and accepts what the in-process loop accepts', async () => {
    const local = await runNetAdapt(options());
    const dispatcher = threadDispatcher(2);
    const rows: ProposalRow[] = [];
    try {
      const threaded = await runNetAdapt(options({ dispatcher }), { proposalDone: (r) => rows.push(r) });
      expect(threaded.rows.map((r) => [r.unit, r.to, r.accuracy])).toEqual(
        local.rows.map((r) => [r.unit, r.to, r.accuracy]),
      );
      for (const [k, t] of local.model.weights) expect(threaded.model.weights.get(k)!.data).toEqual(t.data);
      expect(new Set(rows.map((r) => r.worker))).toEqual(new Set(['thread-0', 'thread-1']));
    } finally {
      await dispatcher.close();
    }
  });
});
