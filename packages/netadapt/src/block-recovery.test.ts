import {
  GraphBuilder,
  initWeights,
  randomizeBatchNorm,
  randomTensor,
  saveGraph,
  type Model,
} from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import {
  blockRecover,
  channelOrigin,
  correctionLayers,
  insertCorrection,
  mergeCorrection,
  TeacherFeatures,
} from './block-recovery.js';
import { predictOnnx, forwardOnnx } from './onnx-forward.js';
import { agreementOn, composeOrigins, reconstructionRecovery } from './recovery.js';
import { chooseChannels, pruneUnit } from './surgery.js';
import { tinyEncoderDecoder } from './testing/tiny-net.js';
import { unitById } from './units.js';

const graph = tinyEncoderDecoder();
const weights = randomizeBatchNorm(graph, initWeights(graph, 1), 2);
weights.set('head_bn.bias', { shape: [1], data: Float32Array.of(2) });
const teacher: Model = { graph, weights };
const calibration = Array.from({ length: 12 }, (_, i) => randomTensor([3, 16, 16], 100 + i));

/** The teacher with conv2_pw halved (L2 channels, no refit): a damaged student. */
function damaged(): { student: Model; origins: ReturnType<typeof composeOrigins> } {
  const unit = unitById(graph, 'conv2_pw');
  const keep = chooseChannels(teacher, unit, 24);
  return { student: pruneUnit(teacher, unit.id, keep), origins: composeOrigins(new Map(), unit, keep) };
}

/** Mean squared difference of `layer`'s output between student and teacher (matching channels). */
async function featureError(student: Model, layer: string, origin: readonly number[]): Promise<number> {
  const grab = async (m: Model): Promise<Float32Array[]> => {
    const out: Float32Array[] = [];
    await forwardOnnx(
      m,
      calibration,
      (_f, count, o) => {
        const t = o.get(layer)!;
        const per = t.data.length / count;
        for (let i = 0; i < count; i++) out.push(t.data.slice(i * per, (i + 1) * per));
      },
      { taps: [layer], output: false },
    );
    return out;
  };
  const s = await grab(student);
  const t = await grab(teacher);
  let sum = 0;
  let n = 0;
  s.forEach((sv, i) => {
    const tv = t[i]!;
    const hw = sv.length / origin.length;
    origin.forEach((oc, c) => {
      for (let p = 0; p < hw; p++) {
        sum += (sv[c * hw + p]! - tv[oc * hw + p]!) ** 2;
        n++;
      }
    });
  });
  return sum / n;
}

describe('block recovery (FSKD-style corrections)', () => {
  it('finds the k x k and depthwise convs, and walks depthwise channels up to their producer', () => {
    const layers = correctionLayers(graph);
    expect(layers.find((l) => l.layer === 'conv0')).toMatchObject({ kind: 'full', intercept: 'batchNorm' });
    expect(layers.find((l) => l.layer === 'conv2_dw')?.kind).toBe('diagonal');
    expect(layers.some((l) => l.layer === 'conv2_pw')).toBe(false);
    const { origins } = damaged();
    // d1_dw reads conv2_pw's (pruned) channels through BN and ReLU.
    expect(channelOrigin(graph, origins, 'd1_dw')).toEqual(origins.get('conv2_pw'));
  });

  it('a correction lowers the feature error, and merged equals inserted and keeps the shape', async () => {
    const { student, origins } = damaged();
    const features = await TeacherFeatures.collect(teacher, calibration, { positions: 64 });
    for (const layerName of ['d2_dw', 'conv0']) {
      // conv0 is upstream of the cut: disturb it so that there is something to correct.
      let start = student;
      if (layerName === 'conv0') {
        const w = student.weights.get('conv0.weight')!;
        const next = new Map(student.weights);
        next.set('conv0.weight', { shape: w.shape, data: w.data.map((v, i) => v * (1 + 0.3 * Math.sin(i))) });
        start = { graph: student.graph, weights: next };
      }
      const layer = correctionLayers(start.graph).find((l) => l.layer === layerName)!;
      const c = await features.fit(start, layer, origins);
      expect(c.after, layerName).toBeLessThan(c.before);
      const merged = mergeCorrection(start, c);
      const inserted = insertCorrection(start, c);
      // Same graph, same weight shapes: the deployed network keeps its shape.
      expect(saveGraph(merged.graph)).toBe(saveGraph(start.graph));
      for (const [name, t] of start.weights) expect(merged.weights.get(name)!.shape).toEqual(t.shape);
      const a = await predictOnnx(merged, calibration);
      const b = await predictOnnx(inserted, calibration);
      let diff = 0;
      let scale = 0;
      a.forEach((t, i) =>
        t.data.forEach((v, k) => {
          diff = Math.max(diff, Math.abs(v - b[i]!.data[k]!));
          scale = Math.max(scale, Math.abs(v));
        }),
      );
      expect(diff, layerName).toBeLessThan(1e-4 * Math.max(1, scale));
      const origin = channelOrigin(start.graph, origins, layerName)!;
      const before = await featureError(start, layerName, origin);
      const after = await featureError(merged, layerName, origin);
      expect(after, layerName).toBeLessThan(before);
    }
  });

  it('blockRecover corrects downstream layers in order and keeps the graph', async () => {
    const { student, origins } = damaged();
    const features = await TeacherFeatures.collect(teacher, calibration, { positions: 64 });
    const { model, report } = await blockRecover(student, features, origins);
    expect(report.length).toBeGreaterThan(0);
    for (const r of report) expect(r.after, r.layer).toBeLessThan(r.before);
    expect(saveGraph(model.graph)).toBe(saveGraph(student.graph));
    // Upstream of the cut nothing is wrong: conv0 is fitted to (nearly) the identity.
    const c0 = await features.fit(
      student,
      correctionLayers(graph).find((l) => l.layer === 'conv0')!,
      origins,
    );
    expect(c0.before).toBeLessThan(1e-9);
  });

  it('rejects a layer whose channels do not descend from the teacher', async () => {
    const { student } = damaged();
    const features = await TeacherFeatures.collect(teacher, calibration.slice(0, 2), { positions: 16 });
    const layer = correctionLayers(student.graph).find((l) => l.layer === 'd1_dw')!;
    const wrong = new Map([['conv2_pw', [0, 1, 99]]]);
    await expect(features.fit(student, layer, wrong)).rejects.toThrow(/d1_dw.*descend/);
  });

  it('with a 3x3 consumer (which the 1x1 refit cannot refit), block recovery brings held-out depth closer', async () => {
    // input -> a (3x3, the unit) -> b (3x3 consumer) -> c (1x1) -> head (1x1).
    const g = new GraphBuilder('kxk-consumer');
    const x = g.input('input', [1, 3, 16, 16]);
    const a = g.relu(
      'a_relu',
      g.batchNorm('a_bn', g.conv2d('a', x, { outChannels: 16, kernel: 3, pads: 1 })),
    );
    const b = g.relu(
      'b_relu',
      g.batchNorm('b_bn', g.conv2d('b', a, { outChannels: 16, kernel: 3, pads: 1 })),
    );
    const c = g.relu('c_relu', g.conv2d('c', b, { outChannels: 8, kernel: 1, bias: true }));
    g.output('depth', g.conv2d('head', c, { outChannels: 1, kernel: 1, bias: true }));
    const kgraph = g.build();
    const kweights = randomizeBatchNorm(kgraph, initWeights(kgraph, 1), 2);
    kweights.set('head.bias', { shape: [1], data: Float32Array.of(2) });
    const reference: Model = { graph: kgraph, weights: kweights };
    const heldOut = Array.from({ length: 6 }, (_, i) => randomTensor([3, 16, 16], 900 + i));
    const run = async (blocks: boolean) => {
      const recovery = reconstructionRecovery({ reference, calibration, blocks });
      const step = await recovery.begin(reference, new Map());
      const unit = unitById(kgraph, 'a');
      const candidate = await step.propose(unit, 8);
      const accepted = await step.accept(candidate, composeOrigins(new Map(), unit, candidate.keep));
      return { recovery, accepted, report: step.acceptReport?.() };
    };
    const plain = await run(false);
    const blocks = await run(true);
    expect(plain.report).toBeUndefined();
    expect(blocks.recovery.description).toMatch(/block-wise corrections/);
    expect(blocks.report!.blocks.map((r) => r.layer)).toEqual(['b']);
    const [r] = blocks.report!.blocks;
    expect(r!.kind).toBe('full');
    expect(r!.after).toBeLessThan(0.5 * r!.before);
    expect(saveGraph(blocks.accepted.graph)).toBe(saveGraph(plain.accepted.graph));
    const withBlocks = await agreementOn(reference, blocks.accepted, heldOut);
    const without = await agreementOn(reference, plain.accepted, heldOut);
    expect(withBlocks.relL2).toBeLessThan(0.8 * without.relL2);
    expect(withBlocks.absRel).toBeLessThan(0.8 * without.absRel);
  });

  it('on the tiny encoder-decoder, blocks correct d2_dw (downstream of the refit) and keep the graph', async () => {
    const recovery = reconstructionRecovery({ reference: teacher, calibration, blocks: true });
    const step = await recovery.begin(teacher, new Map());
    const unit = unitById(graph, 'conv2_pw');
    const candidate = await step.propose(unit, 16);
    const accepted = await step.accept(candidate, composeOrigins(new Map(), unit, candidate.keep));
    const layers = step.acceptReport!()!.blocks.map((b) => b.layer);
    // d1_dw only carries kept channels (nothing to correct); d2_dw reads the refitted d1_pw.
    expect(layers).toContain('d2_dw');
    expect(layers).not.toContain('conv0');
    expect(layers).not.toContain('d1_dw');
    expect(saveGraph(accepted.graph)).toBe(saveGraph(candidate.model.graph));
  });

  it('refuses blocks without the chained refit', () => {
    expect(() =>
      reconstructionRecovery({ reference: teacher, calibration, blocks: true, chain: false }),
    ).toThrow(/block recovery .* needs chain/);
  });
});
