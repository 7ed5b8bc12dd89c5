import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../builder.js';
import { GraphError } from '../errors.js';
import { execute } from '../executor.js';
import { graphOutputs } from '../graph.js';
import type { Graph } from '../ir.js';
import { randomizeBatchNorm, randomTensor } from '../numeric.js';
import { foldBatchNorm } from '../passes/fold-batch-norm.js';
import { initWeights, type TensorF32, type WeightMap } from '../weights.js';
import { dequantizeValues, executeQuantized } from './execute.js';
import { multiplyByQuantizedMultiplier, quantizeMultiplier } from './fixed-point.js';
import type { QuantizedModel, QuantParams } from './ir.js';
import { validateQuantizedModel } from './validate.js';
import {
  agreement,
  calibrateRanges,
  IMAGE_INPUT_PARAMS,
  paramsForRange,
  quantizeModel,
  type FloatTensor,
} from './quantize.js';

/**
 * A small network of the FastDepth family: MobileNet-style encoder (relu6, a max pool),
 * NNConv5-style decoder (depthwise 5x5 + pointwise, relu, nearest x2 upsampling), skip adds.
 */
function familyGraph(side = 32): Graph {
  const g = new GraphBuilder('tiny-family');
  const x = g.input('input', [1, 3, side, side]);
  const cbr = (name: string, t: typeof x, o: Parameters<GraphBuilder['conv2d']>[2], relu6 = true) => {
    const c = g.conv2d(name, t, o);
    const b = g.batchNorm(`${name}_bn`, c);
    return relu6 ? g.relu6(`${name}_relu`, b) : g.relu(`${name}_relu`, b);
  };
  const c0 = cbr('conv0', x, { outChannels: 8, kernel: 3, stride: 2, pads: 1 }); // 16
  const p0 = g.maxPool('pool0', c0, { kernel: 3, stride: 1, pads: 1 });
  const d1 = cbr('conv1_dw', p0, { outChannels: 8, kernel: 3, pads: 1, groups: 8 });
  const s1 = cbr('conv1_pw', d1, { outChannels: 12, kernel: 1 }); // 16, skip
  const d2 = cbr('conv2_dw', s1, { outChannels: 12, kernel: 3, stride: 2, pads: 1, groups: 12 }); // 8
  const s2 = cbr('conv2_pw', d2, { outChannels: 16, kernel: 1 }); // 8, skip
  const d3 = cbr('conv3_dw', s2, { outChannels: 16, kernel: 3, stride: 2, pads: 1, groups: 16 }); // 4
  const e3 = cbr('conv3_pw', d3, { outChannels: 20, kernel: 1 });
  const decode = (name: string, t: typeof x, out: number) => {
    const dw = cbr(
      `${name}_dw`,
      t,
      { outChannels: t.shape[1], kernel: 5, pads: 2, groups: t.shape[1] },
      false,
    );
    const pw = cbr(`${name}_pw`, dw, { outChannels: out, kernel: 1 }, false);
    return g.upsample(`${name}_up`, pw, 'nearest');
  };
  const u1 = g.add('skip1_add', decode('decode1', e3, 16), s2); // 8
  const u2 = g.add('skip2_add', decode('decode2', u1, 12), s1); // 16
  const u3 = decode('decode3', u2, 8); // 32
  const last = cbr('decode_conv6', u3, { outChannels: 1, kernel: 1 }, false);
  g.output('depth', last);
  return g.build();
}

function images(count: number, side = 32, seed = 100): FloatTensor[] {
  return Array.from({ length: count }, (_, i) => randomTensor([1, 3, side, side], seed + i, 0, 1));
}

/** The real value q represents. */
const real = (p: QuantParams, q: number): number => p.scale * (q - p.zeroPoint);

/**
 * The quantised model simulated in float ("fake quantisation"): the float graph with the
 * dequantised integer weights, every layer's output rounded to its int8 grid. Not TFLite's
 * integer arithmetic (that is `executeQuantized`), but within a step or so of it.
 */
function simulate(model: QuantizedModel, input: FloatTensor): Float64Array {
  const { graph, weights } = model;
  const { tensors, weightScales } = graph.quantization;
  const float = new Map<string, TensorF32>();
  for (const node of graph.nodes) {
    if (node.op !== 'conv2d') continue;
    const w = weights.get(`${node.name}.weight`)!;
    const b = weights.get(`${node.name}.bias`)!;
    const scales = weightScales[node.name]!;
    const per = w.data.length / scales.length;
    float.set(`${node.name}.weight`, {
      shape: w.shape,
      data: Float32Array.from(w.data, (q, i) => q * scales[Math.floor(i / per)]!),
    });
    const sIn = tensors[node.inputs[0]!]!.scale;
    float.set(`${node.name}.bias`, {
      shape: b.shape,
      data: Float32Array.from(b.data, (q, c) => q * sIn * scales[c]!),
    });
  }
  const out = execute(
    { ...graph, quantization: undefined },
    float,
    { input },
    {
      onValue: (node, value) => {
        const p = tensors[node.name]!;
        const d = value.data;
        for (let i = 0; i < d.length; i++) {
          const q = Math.max(-128, Math.min(127, Math.round(d[i]! / p.scale) + p.zeroPoint));
          d[i] = real(p, q);
        }
      },
    },
  );
  return out[graphOutputs(graph)[0]!.name]!.data;
}

/** `model`'s int8 output `depth` against the float network's on three unseen 16x16 images. */
function int8Agreement(
  graph: Graph,
  weights: WeightMap,
  model: QuantizedModel,
): ReturnType<typeof agreement> {
  const ref: number[] = [];
  const int8: number[] = [];
  for (const input of images(3, 16, 900)) {
    ref.push(...floatOutput(graph, weights, input));
    const q = executeQuantized(model, { input }).depth!;
    int8.push(...dequantizeValues(q.data, q.params));
  }
  return agreement(ref, int8, model.graph.quantization.tensors.depth!.scale);
}

function floatOutput(graph: Graph, weights: WeightMap, input: FloatTensor): Float64Array {
  const out = execute(graph, weights, { input });
  return out[graphOutputs(graph)[0]!.name]!.data;
}

describe('quantizeModel on a seeded family network', () => {
  const graph = familyGraph();
  // Random BatchNorm (not `calibratedInitWeights`, whose last BatchNorm standardises a nearly
  // constant map: that amplifies any rounding in the last conv many times over).
  const weights = randomizeBatchNorm(graph, initWeights(graph, 3), 5);
  // A positive shift before the last relu, so that the output is not all zeros.
  weights.set('decode_conv6_bn.bias', { shape: [1], data: Float32Array.of(1.2) });
  const calibration = images(6);
  const model = quantizeModel(graph, weights, calibration);
  const folded = foldBatchNorm({ graph, weights });
  const { tensors, weightScales } = model.graph.quantization;

  it('folds BatchNorm and annotates every layer and every conv', () => {
    expect(model.graph.nodes.some((n) => n.op === 'batchNorm')).toBe(false);
    expect(Object.keys(tensors).sort()).toEqual(model.graph.nodes.map((n) => n.name).sort());
    const convs = model.graph.nodes.filter((n) => n.op === 'conv2d');
    expect(Object.keys(weightScales).sort()).toEqual(convs.map((n) => n.name).sort());
    for (const c of convs) {
      expect(c.op === 'conv2d' && c.attrs.bias).toBe(true);
      expect(weightScales[c.name]!.length).toBe(c.op === 'conv2d' ? c.attrs.outChannels : 0);
      expect(model.weights.get(`${c.name}.weight`)!.dtype).toBe('int8');
      expect(model.weights.get(`${c.name}.bias`)!.dtype).toBe('int32');
    }
    expect(model.graph.meta).toMatchObject({ ptqCalibration: 'minmax', ptqInputs: 6 });
  });

  it('int8 weights are within half a step of the folded float weights, max |w| at +-127', () => {
    for (const [name, scales] of Object.entries(weightScales)) {
      const w = folded.weights.get(`${name}.weight`)!.data;
      const q = model.weights.get(`${name}.weight`)!.data;
      const per = w.length / scales.length;
      for (let c = 0; c < scales.length; c++) {
        const s = scales[c]!;
        expect(s).toBe(Math.fround(s));
        let maxQ = 0;
        for (let i = c * per; i < (c + 1) * per; i++) {
          expect(Math.abs(q[i]! * s - w[i]!)).toBeLessThanOrEqual(s * 0.5 * (1 + 1e-6));
          maxQ = Math.max(maxQ, Math.abs(q[i]!));
        }
        expect(maxQ).toBe(127);
      }
    }
  });

  it('int32 biases are within half a step of the folded float biases, in units of s_in * s_w', () => {
    for (const node of model.graph.nodes) {
      if (node.op !== 'conv2d') continue;
      const b = folded.weights.get(`${node.name}.bias`)!.data;
      const q = model.weights.get(`${node.name}.bias`)!.data;
      const sIn = tensors[node.inputs[0]!]!.scale;
      weightScales[node.name]!.forEach((sw, c) => {
        expect(Math.abs(q[c]! * sIn * sw - b[c]!)).toBeLessThanOrEqual(sIn * sw * 0.5 * (1 + 1e-6));
      });
    }
  });

  it('activation parameters cover what the readers see, relu6 is [0, 6], chains share parameters', () => {
    expect(tensors.input).toEqual(IMAGE_INPUT_PARAMS);
    const ranges = calibrateRanges(folded.graph, folded.weights, calibration);
    const byName = new Map(model.graph.nodes.map((n) => [n.name, n]));
    for (const node of model.graph.nodes) {
      const p = tensors[node.name]!;
      expect(Number.isInteger(p.zeroPoint) && p.zeroPoint >= -128 && p.zeroPoint <= 127).toBe(true);
      expect(p.scale).toBeGreaterThan(0);
      if (['relu', 'relu6', 'upsample', 'maxPool', 'output'].includes(node.op))
        expect(p, node.name).toEqual(tensors[node.inputs[0]!]);
      if (node.op === 'relu6') {
        expect(p.zeroPoint).toBe(-128);
        expect(real(p, 127)).toBeLessThanOrEqual(6 * (1 + 1e-6));
      }
      // Tensors read by anything but a clamp: the whole observed range is representable.
      const clampedOnly = model.graph.nodes
        .filter((n) => n.inputs.includes(node.name))
        .every((n) => n.op === 'relu' || n.op === 'relu6');
      if (node.op === 'input' || (clampedOnly && node.op !== 'output')) continue;
      const r = ranges.get(node.name)!;
      expect(real(p, -128), node.name).toBeLessThanOrEqual(r.min + p.scale);
      expect(real(p, 127), node.name).toBeGreaterThanOrEqual(r.max - p.scale);
      expect(byName.get(node.name)).toBeDefined();
    }
    // A conv read only through a relu gets [0, max], not its negative half.
    expect(tensors.decode1_dw!.zeroPoint).toBe(-128);
    expect(ranges.get('decode1_dw')!.min).toBeLessThan(0);
  });

  it('the int8 model (simulated in float) agrees with the float network on unseen inputs', () => {
    const step = tensors.depth!.scale;
    const ref: number[] = [];
    const quant: number[] = [];
    for (const input of images(3, 32, 900)) {
      ref.push(...floatOutput(graph, weights, input));
      quant.push(...simulate(model, input));
    }
    const a = agreement(ref, quant, step);
    expect(a.count).toBe(3 * 32 * 32);
    expect(a.meanRelativeDifference).toBeLessThan(0.05);
    // Rounding adds up over ~20 layers: a few output steps apart, a small part of the range.
    expect(a.maxAbsDifference).toBeLessThan(0.1 * Math.max(...ref));
    expect(a.withinOneStep).toBeGreaterThan(0.05);
    expect(a.delta1).toBeGreaterThan(0.95);
  });

  it("relu6Range 'fixed' gives every relu6 output [0, 6]", () => {
    const fixed = quantizeModel(graph, weights, calibration, { relu6Range: 'fixed' });
    const relu6 = fixed.graph.nodes.filter((n) => n.op === 'relu6');
    expect(relu6.length).toBeGreaterThan(0);
    for (const n of relu6)
      expect(fixed.graph.quantization.tensors[n.name]).toEqual({
        scale: Math.fround(6 / 255),
        zeroPoint: -128,
      });
  });

  it('is a valid int8 model, and the int8 reference executor mostly within a step of the simulation', () => {
    expect(() => validateQuantizedModel(model)).not.toThrow();
    const step = tensors.depth!.scale;
    const ref: number[] = [];
    const int8: number[] = [];
    const sim: number[] = [];
    for (const input of images(3, 32, 900)) {
      ref.push(...floatOutput(graph, weights, input));
      const q = executeQuantized(model, { input }).depth!;
      expect(q.params).toEqual(tensors.depth);
      int8.push(...dequantizeValues(q.data, q.params));
      sim.push(...simulate(model, input));
    }
    const toFloat = agreement(ref, int8, step);
    expect(toFloat.meanRelativeDifference).toBeLessThan(0.05);
    expect(toFloat.delta1).toBeGreaterThan(0.95);
    // Float rounding of every layer against TFLite's integer requantisation: mostly one step apart.
    const a = agreement(sim, int8, step);
    expect(a.meanRelativeDifference).toBeLessThan(0.01);
    expect(a.withinOneStep).toBeGreaterThan(0.6);
  });

  it('percentile calibration never widens a range, and 100 gives minmax', () => {
    const pct = quantizeModel(graph, weights, calibration, { calibration: 'percentile', percentile: 99 });
    const full = quantizeModel(graph, weights, calibration, { calibration: 'percentile', percentile: 100 });
    expect(full.graph.quantization.tensors).toEqual(tensors);
    let narrower = 0;
    for (const name of Object.keys(tensors)) {
      const a = pct.graph.quantization.tensors[name]!;
      expect(a.scale, name).toBeLessThanOrEqual(tensors[name]!.scale);
      if (a.scale < tensors[name]!.scale) narrower++;
    }
    expect(narrower).toBeGreaterThan(0);
    expect(pct.graph.meta).toMatchObject({ ptqCalibration: 'percentile 99' });
  });

  it('is deterministic', () => {
    const again = quantizeModel(graph, weights, calibration);
    expect(again.graph).toEqual(model.graph);
    expect([...again.weights.keys()]).toEqual([...model.weights.keys()]);
    for (const [k, t] of model.weights) expect(again.weights.get(k)!.data).toEqual(t.data);
  });
});

/** A U-Net-style skip concat (the family's `skipconcat` decoders): decoder first, then the skip. */
function skipConcatGraph(): Graph {
  const g = new GraphBuilder('tiny-skipconcat');
  const x = g.input('input', [1, 3, 16, 16]);
  const e1 = g.relu6('enc1_relu', g.conv2d('enc1', x, { outChannels: 6, kernel: 3, stride: 2, pads: 1 })); // 8
  const e2 = g.relu6('enc2_relu', g.conv2d('enc2', e1, { outChannels: 10, kernel: 3, stride: 2, pads: 1 })); // 4
  const d1 = g.relu('dec1_relu', g.conv2d('dec1', e2, { outChannels: 5, kernel: 1 }));
  const cat = g.concat('skip1_concat', g.upsample('dec1_up', d1, 'nearest'), e1); // 11 channels at 8
  const d2 = g.relu('dec2_relu', g.conv2d('dec2', cat, { outChannels: 4, kernel: 3, pads: 1 }));
  // The skip is read by another conv too: that reader sees the concat's (shared) parameters.
  const side = g.conv2d('side', e1, { outChannels: 4, kernel: 1 });
  g.output('depth', g.conv2d('head', g.add('mix', d2, side), { outChannels: 1, kernel: 1 }));
  return g.build();
}

describe('quantizeModel on a skip-concat network', () => {
  const graph = skipConcatGraph();
  const weights = initWeights(graph, 11);
  const calibration = images(4, 16, 300);
  const model = quantizeModel(graph, weights, calibration);
  const { tensors } = model.graph.quantization;

  it('gives the concat and every tensor it joins one set of parameters, covering all of them', () => {
    const joined = ['skip1_concat', 'dec1_up', 'dec1_relu', 'enc1_relu'];
    for (const name of joined) expect(tensors[name], name).toEqual(tensors.skip1_concat);
    const folded = foldBatchNorm({ graph, weights });
    const ranges = calibrateRanges(folded.graph, folded.weights, calibration);
    const p = tensors.skip1_concat!;
    for (const name of ['skip1_concat', 'enc1_relu', 'dec1_up']) {
      const r = ranges.get(name)!;
      expect(real(p, -128), name).toBeLessThanOrEqual(r.min + p.scale);
      expect(real(p, 127), name).toBeGreaterThanOrEqual(r.max - p.scale);
    }
    // The two chains had different ranges: the shared one is the wider of them.
    expect(ranges.get('enc1_relu')!.max).not.toBeCloseTo(ranges.get('dec1_up')!.max, 3);
  });

  it('is a valid int8 model whose reference executor agrees with the float network', () => {
    expect(() => validateQuantizedModel(model)).not.toThrow();
    const ref: number[] = [];
    const int8: number[] = [];
    for (const input of images(3, 16, 700)) {
      ref.push(...floatOutput(graph, weights, input));
      const q = executeQuantized(model, { input }, { keepIntermediates: true });
      // Concatenation copies the integers: decoder channels first, then the skip's.
      const cat = q.skip1_concat!.data;
      const up = q.dec1_up!.data;
      const skip = q.enc1_relu!.data;
      expect(Array.from(cat.subarray(0, up.length))).toEqual(Array.from(up));
      expect(Array.from(cat.subarray(up.length))).toEqual(Array.from(skip));
      int8.push(...dequantizeValues(q.depth!.data, q.depth!.params));
    }
    const a = agreement(ref, int8, tensors.depth!.scale);
    expect(a.meanRelativeDifference).toBeLessThan(0.05);
    expect(a.delta1).toBeGreaterThan(0.95);
  });

  it('refuses a concat whose input carries other parameters, naming the concat and the input', () => {
    const p = tensors.enc1_relu!;
    const other = { scale: Math.fround(p.scale * 2), zeroPoint: p.zeroPoint };
    const bad: QuantizedModel = {
      graph: {
        ...model.graph,
        quantization: {
          ...model.graph.quantization,
          tensors: { ...tensors, enc1: other, enc1_relu: other },
        },
      },
      weights: model.weights,
    };
    expect(() => validateQuantizedModel(bad)).toThrow(
      /layer "skip1_concat": int8 concat needs every input to carry its parameters .*input "enc1_relu"/,
    );
  });
});

describe('quantizeModel on an UpProj-style unpool decoder', () => {
  const g = new GraphBuilder('tiny-upproj');
  const x = g.input('input', [1, 3, 16, 16]);
  const e = g.relu6('enc_relu', g.conv2d('enc', x, { outChannels: 6, kernel: 3, stride: 4, pads: 1 })); // 4
  const up = g.unpool('unpool', e); // 8, zeros between
  const a = g.relu('a_relu', g.conv2d('a', up, { outChannels: 5, kernel: 5, pads: 2 }));
  const b = g.conv2d('b', up, { outChannels: 5, kernel: 5, pads: 2 });
  g.output('depth', g.conv2d('head', g.relu('sum_relu', g.add('sum', a, b)), { outChannels: 1, kernel: 1 }));
  const graph = g.build();
  const weights = initWeights(graph, 5);
  const model = quantizeModel(graph, weights, images(3, 16, 400));
  const { tensors } = model.graph.quantization;

  it('carries its input parameters; the inserted zeros are the zero point', () => {
    expect(tensors.unpool).toEqual(tensors.enc_relu);
    const q = executeQuantized(model, { input: images(1, 16, 800)[0]! }, { keepIntermediates: true });
    const [pre, post] = [q.enc_relu!.data, q.unpool!.data];
    const zp = tensors.unpool!.zeroPoint;
    for (let c = 0; c < 6; c++)
      for (let y = 0; y < 8; y++)
        for (let xx = 0; xx < 8; xx++) {
          const v = post[(c * 8 + y) * 8 + xx]!;
          const want = y % 2 === 0 && xx % 2 === 0 ? pre[(c * 4 + y / 2) * 4 + xx / 2]! : zp;
          expect(v).toBe(want);
        }
  });

  it('agrees with the float network', () => {
    const agree = int8Agreement(graph, weights, model);
    expect(agree.meanRelativeDifference).toBeLessThan(0.05);
    expect(agree.delta1).toBeGreaterThan(0.95);
  });
});

describe('quantizeModel on a DeConv decoder: transposed convs as zero insertion + conv', () => {
  const g = new GraphBuilder('tiny-deconv');
  const x = g.input('input', [1, 3, 16, 16]);
  const e = g.relu6('enc_relu', g.conv2d('enc', x, { outChannels: 6, kernel: 3, stride: 4, pads: 1 })); // 4x4
  const t = { kernel: 3, stride: 2, pads: 1, outputPadding: 1 } as const;
  // DeConv3 (BN folded into it), then its depthwise form; 4 -> 8 -> 16.
  const d1 = g.relu('d1_relu', g.batchNorm('d1_bn', g.convTranspose2d('d1', e, { outChannels: 5, ...t })));
  const d2 = g.relu('d2_relu', g.convTranspose2d('d2', d1, { outChannels: 5, groups: 5, bias: true, ...t }));
  g.output('depth', g.conv2d('head', d2, { outChannels: 1, kernel: 1 }));
  const graph = g.build();
  const weights = randomizeBatchNorm(graph, initWeights(graph, 5), 6);
  const model = quantizeModel(graph, weights, images(3, 16, 400));
  const { tensors, weightScales } = model.graph.quantization;

  it('lowers each to an unpool and a conv under its name, and validates', () => {
    const ops = model.graph.nodes.map((n) => `${n.op}:${n.name}`);
    expect(ops).toEqual(
      expect.arrayContaining(['unpool:d1_zero_insert', 'conv2d:d1', 'unpool:d2_zero_insert', 'conv2d:d2']),
    );
    expect(ops.some((o) => o.startsWith('convTranspose2d') || o.startsWith('batchNorm'))).toBe(false);
    expect(() => validateQuantizedModel(model)).not.toThrow();
  });

  it("gives TFLite TRANSPOSE_CONV's integers (a scatter of int32 products, per-channel requantisation)", () => {
    const q = executeQuantized(model, { input: images(1, 16, 800)[0]! }, { keepIntermediates: true });
    // The transposed conv's weights are the lowered conv's, flipped back: wT[i][o][ky][kx] =
    // w[o][i][2 - ky][2 - kx] (d1: groups 1, 6 in, 5 out).
    const w = model.weights.get('d1.weight')!.data;
    const b = model.weights.get('d1.bias')!.data;
    const [pin, pout] = [tensors.enc_relu!, tensors.d1_relu!];
    const xin = q.enc_relu!.data;
    const acc = new Float64Array(5 * 8 * 8);
    for (let o = 0; o < 5; o++) acc.fill(b[o]!, o * 64, (o + 1) * 64);
    for (let i = 0; i < 6; i++)
      for (let iy = 0; iy < 4; iy++)
        for (let ix = 0; ix < 4; ix++)
          for (let o = 0; o < 5; o++)
            for (let ky = 0; ky < 3; ky++)
              for (let kx = 0; kx < 3; kx++) {
                const [oy, ox] = [2 * iy - 1 + ky, 2 * ix - 1 + kx];
                if (oy < 0 || oy >= 8 || ox < 0 || ox >= 8) continue;
                const wv = w[((o * 6 + i) * 3 + (2 - ky)) * 3 + (2 - kx)]!;
                acc[(o * 8 + oy) * 8 + ox]! += (xin[(i * 4 + iy) * 4 + ix]! - pin.zeroPoint) * wv;
              }
    const want = Int8Array.from(acc, (a, j) => {
      const m = quantizeMultiplier((pin.scale * weightScales.d1![Math.floor(j / 64)]!) / pout.scale);
      // The ReLU after it clamps at its zero point.
      return Math.max(pout.zeroPoint, Math.min(127, multiplyByQuantizedMultiplier(a, m) + pout.zeroPoint));
    });
    expect(new Set(want).size).toBeGreaterThan(8);
    expect(q.d1_relu!.data).toEqual(want);
  });

  it('agrees with the float network', () => {
    const agree = int8Agreement(graph, weights, model);
    // The seeded head's outputs straddle zero (delta1, a ratio, means little there): the
    // difference relative to the output range, and how many outputs are within one int8 step.
    expect(agree.meanRelativeDifference).toBeLessThan(0.05);
    expect(agree.withinOneStep).toBeGreaterThan(0.75);
  });
});

describe('quantizeModel on a pixel-shuffle decoder', () => {
  const g = new GraphBuilder('tiny-shuffle');
  const x = g.input('input', [1, 3, 16, 16]);
  const e = g.relu6('enc_relu', g.conv2d('enc', x, { outChannels: 6, kernel: 3, stride: 4, pads: 1 })); // 4x4
  const pre = g.conv2d('pre', e, { outChannels: 12, kernel: 1 });
  const s = g.pixelShuffle('shuffle', pre); // 3 x 8x8
  g.output(
    'depth',
    g.conv2d('head', g.relu('d_relu', g.conv2d('d', s, { outChannels: 4, kernel: 3, pads: 1 })), {
      outChannels: 1,
      kernel: 1,
    }),
  );
  const graph = g.build();
  const weights = initWeights(graph, 5);
  const model = quantizeModel(graph, weights, images(3, 16, 400));
  const { tensors } = model.graph.quantization;

  it("carries its input's parameters and moves the integers in PyTorch's channel order", () => {
    expect(tensors.shuffle).toEqual(tensors.pre);
    const q = executeQuantized(model, { input: images(1, 16, 800)[0]! }, { keepIntermediates: true });
    const [pre, post] = [q.pre!.data, q.shuffle!.data];
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < 8; y++)
        for (let xx = 0; xx < 8; xx++)
          expect(post[(c * 8 + y) * 8 + xx]).toBe(
            pre[((c * 4 + (y % 2) * 2 + (xx % 2)) * 4 + (y >> 1)) * 4 + (xx >> 1)],
          );
  });

  it('agrees with the float network', () => {
    const agree = int8Agreement(graph, weights, model);
    expect(agree.meanRelativeDifference).toBeLessThan(0.05);
    expect(agree.withinOneStep).toBeGreaterThan(0.5);
  });
});

describe('calibrateRanges', () => {
  const g = new GraphBuilder('t');
  g.output('out', g.relu('r', g.input('input', [1, 1, 10, 10])));
  const graph = g.build();
  const values = { shape: [1, 1, 10, 10], data: Float32Array.from({ length: 100 }, (_, i) => i - 49) };

  it('minmax is the observed range', () => {
    const r = calibrateRanges(graph, new Map(), [values]);
    expect(r.get('input')).toEqual({ min: -49, max: 50 });
    expect(r.get('r')).toEqual({ min: 0, max: 50 });
  });

  it('percentile is the nearest-rank percentile over all inputs together', () => {
    const shifted = { shape: values.shape, data: values.data.map((v) => v + 100) };
    // 200 values -49..150; 99th percentile: rank 198 -> 148; 1st: rank 3 -> -47.
    const r = calibrateRanges(graph, new Map(), [values, shifted], {
      calibration: 'percentile',
      percentile: 99,
    });
    expect(r.get('input')).toEqual({ min: -47, max: 148 });
  });

  it('names the layer of a non-finite value', () => {
    const bad = { shape: values.shape, data: Float32Array.from(values.data, (v, i) => (i === 5 ? NaN : v)) };
    expect(() => calibrateRanges(graph, new Map(), [bad])).toThrow(/layer "input": non-finite value NaN/);
  });
});

describe('paramsForRange', () => {
  it('includes 0 exactly and spans the range in 255 steps', () => {
    expect(paramsForRange(0, 6)).toEqual({ scale: Math.fround(6 / 255), zeroPoint: -128 });
    expect(paramsForRange(2, 6)).toEqual({ scale: Math.fround(6 / 255), zeroPoint: -128 });
    const p = paramsForRange(-1, 3);
    expect(p.scale).toBe(Math.fround(4 / 255));
    expect(p.zeroPoint).toBe(-128 + Math.round(1 / p.scale));
    expect(paramsForRange(-2, -1)).toEqual({ scale: Math.fround(2 / 255), zeroPoint: 127 });
    expect(paramsForRange(0, 0)).toEqual({ scale: 1, zeroPoint: -128 });
    expect(() => paramsForRange(0, Infinity, 'conv3')).toThrow(/layer "conv3"/);
  });
});

describe('quantizeModel refuses what int8 lacks, naming the layer', () => {
  const calibrate = (build: (g: GraphBuilder) => void): (() => void) => {
    const g = new GraphBuilder('t');
    build(g);
    const graph = g.build();
    return () => quantizeModel(graph, initWeights(graph, 0), images(1, 8));
  };
  it.each([
    [
      'a stride-3 convTranspose2d',
      (g: GraphBuilder) =>
        g.output(
          'o',
          g.convTranspose2d('up', g.input('input', [1, 3, 8, 8]), { outChannels: 2, kernel: 3, stride: 3 }),
        ),
      /layer "up": int8 quantisation cannot take this transposed conv: stride 3x3/,
    ],
    [
      'a concat of the image input (fixed parameters) with a conv',
      (g: GraphBuilder) => {
        const x = g.input('input', [1, 3, 8, 8]);
        g.output('o', g.concat('cat', x, g.conv2d('c', x, { outChannels: 2, kernel: 1 })));
      },
      /layer "cat": int8 concat joins a graph input/,
    ],
    [
      'a BatchNorm after an add',
      (g: GraphBuilder) => {
        const x = g.input('input', [1, 3, 8, 8]);
        g.output('o', g.batchNorm('bn', g.add('a', x, x)));
      },
      /layer "bn": BatchNorm/,
    ],
  ])('%s', (_, build, message) => {
    expect(calibrate(build)).toThrow(GraphError);
    expect(calibrate(build)).toThrow(message);
  });

  it('bad options', () => {
    const graph = familyGraph(32);
    const w = initWeights(graph, 0);
    expect(() => quantizeModel(graph, w, [])).toThrow(/no calibration inputs/);
    expect(() => quantizeModel(graph, w, images(1), { calibration: 'percentile', percentile: 40 })).toThrow(
      /percentile/,
    );
  });
});

describe('agreement', () => {
  it('measures differences against the float output', () => {
    const a = agreement([1, 2, 4, 0], [1.05, 2.3, 4, 0.02], 0.1);
    expect(a.count).toBe(4);
    expect(a.meanRelativeDifference).toBeCloseTo((0.05 + 0.3 + 0.02) / 7, 12);
    expect(a.withinOneStep).toBe(0.75);
    expect(a.maxAbsDifference).toBeCloseTo(0.3, 12);
    expect(a.absRel).toBeCloseTo((0.05 + 0.15 + 0) / 3, 12);
    expect(a.delta1).toBe(1);
    expect(agreement([1], [2], 0.1).delta1).toBe(0);
    expect(() => agreement([1], [1, 2], 0.1)).toThrow(/1 reference values, 2 quantised/);
  });
});
