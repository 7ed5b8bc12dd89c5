/**
 * onnxruntime-web is an optional peer that `@fastdepth/runtime-web/onnx` registers: a browser
 * page that did not import it gets RUNTIME_MISSING (not a list of failed backends), a wrong
 * object is refused, and in Node the installed onnxruntime-web is used, its threads reported
 * as run.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { encodeOnnx } from '@fastdepth/codegen-onnx';
import { GraphBuilder } from '@fastdepth/graph-dsl';
import { seededModel } from './testing/models.js';

const env = vi.hoisted(() => ({ node: true }));
vi.mock('./env.js', async (original) => {
  const actual = await original<typeof import('./env.js')>();
  return {
    ...actual,
    isNode: () => env.node,
    isolationProblem: () => (env.node ? undefined : 'not isolated (test)'),
  };
});

const { createDepthEstimator, DepthEstimatorError, registerOnnxRuntime } = await import('./index.js');
type DepthEstimatorError = InstanceType<typeof DepthEstimatorError>;

function tinyOnnx(): Uint8Array {
  const g = new GraphBuilder('tiny-onnx');
  const x = g.input('input', [1, 3, 8, 8]);
  g.output('depth', g.relu('r', g.conv2d('c', x, { outChannels: 1, kernel: 3, pads: 1, bias: true })));
  return encodeOnnx(seededModel(g.build(), 2));
}

afterEach(() => {
  env.node = true;
});

describe('onnxruntime-web, an optional peer', () => {
  it('a browser page without @fastdepth/runtime-web/onnx: RUNTIME_MISSING, saying what to import', async () => {
    env.node = false;
    const error = (await createDepthEstimator({ model: { engine: 'onnx', model: tinyOnnx() } }).catch(
      (e: unknown) => e,
    )) as DepthEstimatorError;
    expect(error).toBeInstanceOf(DepthEstimatorError);
    expect(error.code).toBe('RUNTIME_MISSING');
    expect(error.message).toMatch(/import "@fastdepth\/runtime-web\/onnx"/);
  });

  it('refuses to register something that is not onnxruntime-web', () => {
    expect(() => registerOnnxRuntime({ env: {} }, 'bogus')).toThrow(/bogus is not onnxruntime-web/);
    try {
      registerOnnxRuntime(undefined, 'nothing');
    } catch (error) {
      expect((error as DepthEstimatorError).code).toBe('BAD_OPTION');
    }
    expect.assertions(2);
  });

  it('Node: the installed onnxruntime-web, threads as run, the runtime named', async () => {
    const estimator = await createDepthEstimator({
      model: { engine: 'onnx', model: tinyOnnx() },
      backend: 'wasm',
      numThreads: 2,
    });
    try {
      expect(estimator.threads).toBe(2);
      expect(estimator.backendReason).toMatch(
        /^wasm: requested; onnxruntime-web \(Node import\), 2 threads$/,
      );
      const out = await estimator.estimateRgb({
        data: new Float32Array(8 * 8 * 3).fill(0.5),
        width: 8,
        height: 8,
      });
      expect(out.depth).toHaveLength(64);
    } finally {
      await estimator.dispose();
    }
  });
});
