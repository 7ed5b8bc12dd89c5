import {
  execute,
  GraphBuilder,
  initWeights,
  maxRelativeError,
  randomizeBatchNorm,
  randomTensor,
  SeededRandom,
  type Model,
  type TensorF32,
} from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { agreementOn, composeOrigins, reconstructionRecovery } from './recovery.js';
import { GramKernel } from './gram.js';
import { NormalEquations, residual, solveSubset } from './linalg.js';
import {
  outputScale,
  ReferenceTargets,
  refitLayer,
  refitLayers,
  selectByReconstruction,
} from './reconstruction.js';
import { chooseChannels, pruneUnit } from './surgery.js';
import { tinyEncoderDecoder } from './testing/tiny-net.js';
import { unitById } from './units.js';

const SIZE = 8;
const images = (n: number, seed: number): TensorF32[] =>
  Array.from({ length: n }, (_, i) => randomTensor([3, SIZE, SIZE], seed + i));

/** input -> 1x1 conv "mix" (6 channels, linear) -> 1x1 conv "head" (bias) -> output. */
function linearPair(): Model {
  const g = new GraphBuilder('linear-pair');
  const x = g.input('input', [1, 3, SIZE, SIZE]);
  const mix = g.conv2d('mix', x, { outChannels: 6, kernel: 1, bias: true });
  g.output('depth', g.conv2d('head', mix, { outChannels: 2, kernel: 1, bias: true }));
  const graph = g.build();
  const weights = initWeights(graph, 5);
  const rng = new SeededRandom(9);
  for (const name of ['mix.bias', 'head.bias']) {
    const t = weights.get(name)!;
    weights.set(name, { shape: t.shape, data: t.data.map(() => rng.uniform() - 0.5) });
  }
  return { graph, weights };
}

function outputOf(m: Model, input: TensorF32, layer: string): Float64Array {
  const r = execute(
    m.graph,
    m.weights,
    { input: { shape: [1, ...input.shape], data: Float64Array.from(input.data) } },
    { keepIntermediates: true },
  );
  return r[layer]!.data;
}

/** The normal equations of `layer` of `model` against `reference`, through onnxruntime. */
async function equationsOf(reference: Model, model: Model, layer: string, imgs: readonly TensorF32[]) {
  const t = await ReferenceTargets.collect(reference, imgs, { positions: 1000 });
  const l = refitLayers(model.graph).find((x) => x.layer === layer)!;
  return { layer: l, eq: (await t.equations(model, [l], new Map())).get(layer)! };
}

describe('least-squares refit', () => {
  it('recovers a consumer exactly when the dropped channels are linear combinations of the kept ones', async () => {
    // "mix" is affine in a 3-channel input, so any 3 of its 6 channels plus a constant span all 6.
    const reference = linearPair();
    const imgs = images(6, 1);
    const { layer, eq } = await equationsOf(reference, reference, 'head', imgs);
    const unit = unitById(reference.graph, 'mix');
    for (const keep of [
      [0, 1, 2],
      [1, 3, 5],
    ]) {
      const pruned = pruneUnit(reference, unit.id, keep);
      const refit = refitLayer(pruned, reference, layer, eq, keep, [0, 1], 0);
      expect(refit.relativeError).toBeLessThan(1e-5); // float32 activations
      const probe = randomTensor([3, SIZE, SIZE], 99);
      const want = outputOf(reference, probe, 'head');
      expect(maxRelativeError(outputOf(refit.model, probe, 'head'), want)).toBeLessThan(1e-4);
      // Without the refit the cut is far off.
      expect(maxRelativeError(outputOf(pruned, probe, 'head'), want)).toBeGreaterThan(1e-2);
    }
  });

  it('normal equations from onnxruntime GEMM equal the float64 loops', async () => {
    const rng = new SeededRandom(3);
    const rows = 300;
    const c = 7;
    const k = 3;
    const x = Float32Array.from({ length: rows * c }, () => rng.uniform() * 4 - 1);
    const y = Float32Array.from({ length: rows * k }, () => rng.uniform() * 2);
    const loops = new NormalEquations(c, k);
    loops.addRows(x, y, rows);
    const gemm = new NormalEquations(c, k);
    const withOne = new Float32Array(rows * (c + 1));
    for (let r = 0; r < rows; r++) {
      withOne.set(x.subarray(r * c, (r + 1) * c), r * (c + 1));
      withOne[r * (c + 1) + c] = 1;
    }
    const kernel = new GramKernel();
    await kernel.add(gemm, withOne.subarray(0, 100 * (c + 1)), y.subarray(0, 100 * k), 100);
    await kernel.add(gemm, withOne.subarray(100 * (c + 1)), y.subarray(100 * k), rows - 100);
    await kernel.close();
    expect(gemm.rows).toBe(rows);
    expect(maxRelativeError(gemm.gram(), loops.gram())).toBeLessThan(1e-5);
    expect(maxRelativeError(gemm.xy, loops.xy)).toBeLessThan(1e-5);
    expect(maxRelativeError(gemm.yy, loops.yy)).toBeLessThan(1e-9);
  });
});

describe('normal equations', () => {
  it('select() equals the statistics of the selected columns', () => {
    const rng = new SeededRandom(8);
    const rows = 50;
    const x = Float32Array.from({ length: rows * 5 }, () => rng.uniform());
    const y = Float32Array.from({ length: rows * 4 }, () => rng.uniform());
    const full = new NormalEquations(5, 4);
    full.addRows(x, y, rows);
    const inputs = [0, 2, 3];
    const outputs = [1, 3];
    const direct = new NormalEquations(3, 2);
    direct.addRows(
      Float32Array.from({ length: rows * 3 }, (_, i) => x[Math.floor(i / 3) * 5 + inputs[i % 3]!]!),
      Float32Array.from({ length: rows * 2 }, (_, i) => y[Math.floor(i / 2) * 4 + outputs[i % 2]!]!),
      rows,
    );
    const picked = full.select(inputs, outputs);
    expect(maxRelativeError(picked.gram(), direct.gram())).toBeLessThan(1e-12);
    expect(maxRelativeError(picked.xy, direct.xy)).toBeLessThan(1e-12);
    expect([...picked.yy]).toEqual([...direct.yy]);
    expect(picked.rows).toBe(rows);
  });
});

describe('channel selection by reconstruction', () => {
  it('keeps a small unique channel that the L2 norm drops for a large duplicate', () => {
    // Inputs 0 and 1 are the same large signal, input 2 a small independent one; the target
    // needs both signals. L2 keeps {0, 1}; reconstruction keeps one copy and input 2.
    const rng = new SeededRandom(4);
    const rows = 500;
    const x = new Float32Array(rows * 3);
    const y = new Float32Array(rows);
    for (let r = 0; r < rows; r++) {
      const big = 10 * (rng.uniform() - 0.5);
      const small = 0.1 * (rng.uniform() - 0.5);
      x.set([big, big, small], r * 3);
      y[r] = big + 30 * small;
    }
    const eq = new NormalEquations(3, 1);
    eq.addRows(x, y, rows);
    const scale = new Float64Array([1]);
    const greedy = selectByReconstruction([{ equations: eq, offset: 0, intercept: true, scale }], 3, 2);
    const l2 = [0, 1]; // what the filter norm picks: the two large channels
    const err = (keep: number[]) => {
      const { w, index } = solveSubset(eq, keep, true, 1e-6);
      return residual(eq, w, index, scale);
    };
    expect(greedy).toContain(2);
    expect(err(greedy)).toBeLessThan(1e-3 * err(l2));
  });
});

describe('reconstruction recovery', () => {
  const graph = tinyEncoderDecoder();
  const weights = randomizeBatchNorm(graph, initWeights(graph, 1), 2);
  // A positive head bias keeps the depth away from the final ReLU's zero.
  weights.set('head_bn.bias', { shape: [1], data: Float32Array.of(2) });
  const reference: Model = { graph, weights };
  const calibration = Array.from({ length: 24 }, (_, i) => randomTensor([3, 16, 16], 100 + i));
  const scoring = Array.from({ length: 8 }, (_, i) => randomTensor([3, 16, 16], 500 + i));

  it('a pruned-and-refitted network is closer to its teacher than the pruned one, for every unit and rule', async () => {
    for (const selection of ['reconstruction', 'l2'] as const) {
      const recovery = reconstructionRecovery({ reference, calibration, scoring, selection, chain: false });
      const step = await recovery.begin(reference, new Map());
      for (const unitId of ['conv1_pw+d1_pw', 'conv2_pw', 'd2_pw']) {
        const unit = unitById(graph, unitId);
        const width = unit.channels / 2;
        const refitted = await step.propose(unit, width);
        const plain = pruneUnit(reference, unit.id, chooseChannels(reference, unit, width));
        const withRefit = await agreementOn(reference, refitted.model, scoring);
        const without = await agreementOn(reference, plain, scoring);
        expect(withRefit.absRel, `${selection} ${unitId}`).toBeLessThan(without.absRel);
        expect(withRefit.relL2, `${selection} ${unitId}`).toBeLessThan(without.relL2);
      }
    }
  });

  it('the chained refit keeps the lineage and does not move away from the teacher', async () => {
    const recovery = reconstructionRecovery({ reference, calibration, scoring });
    const step = await recovery.begin(reference, new Map());
    const unit = unitById(graph, 'conv2_pw');
    const candidate = await step.propose(unit, 24);
    const origins = composeOrigins(new Map(), unit, candidate.keep);
    expect(origins.get('conv2_pw')).toEqual(candidate.keep);
    const accepted = await step.accept(candidate, origins);
    const before = await recovery.score(candidate.model);
    const after = await recovery.score(accepted);
    expect(after.accuracy).toBeGreaterThanOrEqual(before.accuracy - 1e-3);
    // The next iteration starts from equations of the accepted model: proposals still refit.
    const next = await recovery.begin(accepted, origins);
    const second = await next.propose(unitById(accepted.graph, 'conv1_pw+d1_pw'), 16);
    expect(second.refitError).toBeGreaterThan(0);
    expect(second.refitError).toBeLessThan(1);
  });

  it('weights the reconstruction error by the BatchNorm scale that follows', () => {
    const layer = refitLayers(graph).find((l) => l.layer === 'conv2_pw')!;
    const scale = outputScale(reference, layer);
    const gamma = weights.get('conv2_pw_bn.weight')!.data;
    const v = weights.get('conv2_pw_bn.running_var')!.data;
    expect(scale[3]).toBeCloseTo(gamma[3]! / Math.sqrt(v[3]! + 1e-5), 6);
  });
});
