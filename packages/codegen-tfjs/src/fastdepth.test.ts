/**
 * Whole-network parity at 224x224: FastDepth and its pruned variant, generated code on the
 * tfjs cpu and wasm backends against the float64 reference executor, and against onnxruntime
 * running codegen-onnx's output (an implementation we did not write). The reference executor
 * is slow (tens of seconds per network on a 2-core VM), so each network runs it once.
 */
import { encodeOnnx } from '@fastdepth/codegen-onnx';
import { buildArch } from '@fastdepth/fastdepth-arch';
import { execute, type Model, type Tensor64 } from '@fastdepth/graph-dsl';
import ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { emitTfjs, type EmitTfjsResult } from './index.js';
import {
  importGenerated,
  randomInput,
  relativeError,
  runOnce,
  useBackend,
  type GeneratedModule,
} from './testing/harness.js';
import { randomModel } from './testing/tiny.js';

const TOLERANCE = 1e-4;
const INPUT_SHAPE: readonly number[] = [1, 3, 224, 224];

describe.each(['fastdepth', 'fastdepth-pruned'])('%s at 224x224', (arch) => {
  let model: Model;
  let input: Float32Array;
  let reference: Tensor64;
  let result: EmitTfjsResult;
  let mod: GeneratedModule;

  beforeAll(async () => {
    const random = randomModel(buildArch(arch, { inputSize: 224 }), 21);
    // A negative random shift before the final ReLU can zero the whole depth map, which would
    // make the comparison vacuous: pin the head's BN to a positive shift.
    const weights = new Map(random.weights);
    weights.set('decode_conv6_bn.bias', { shape: [1], data: Float32Array.of(0.5) });
    weights.set('decode_conv6_bn.running_mean', { shape: [1], data: Float32Array.of(0) });
    model = { graph: random.graph, weights };
    input = randomInput(
      INPUT_SHAPE.reduce((a, b) => a * b, 1),
      22,
    );
    reference = execute(model.graph, model.weights, { input: { shape: INPUT_SHAPE, data: input } })['depth']!;
    result = emitTfjs(model);
    mod = await importGenerated(result.source, arch);
  });

  it('the reference output is not degenerate', () => {
    expect(reference.shape).toEqual([1, 1, 224, 224]);
    expect(Math.max(...reference.data)).toBeGreaterThan(0.1);
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    it(`matches the reference executor on tfjs ${backend}`, async () => {
      await useBackend(backend);
      expect(relativeError(runOnce(mod, result, input), reference.data)).toBeLessThanOrEqual(TOLERANCE);
    });
  }

  it('matches onnxruntime-node running the codegen-onnx export', async () => {
    const session = await ort.InferenceSession.create(encodeOnnx(model, { opset: 13, foldBatchNorm: true }), {
      executionProviders: ['cpu'],
    });
    const outputs = await session.run({ input: new ort.Tensor('float32', input, [...INPUT_SHAPE]) });
    const onnx = outputs['depth']!.data as Float32Array;
    await useBackend('wasm');
    const tfjs = runOnce(mod, result, input);
    expect(onnx.length).toBe(tfjs.length);
    expect(relativeError(tfjs, onnx)).toBeLessThanOrEqual(TOLERANCE);
    await session.release();
  });
});
