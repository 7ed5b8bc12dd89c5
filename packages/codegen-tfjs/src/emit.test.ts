import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildArch } from '@fastdepth/fastdepth-arch';
import { GraphBuilder, GraphError, initWeights, WeightsError, type Graph } from '@fastdepth/graph-dsl';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { emitTfjs, GENERATOR_VERSION, type EmitTfjsResult, type WeightsManifest } from './index.js';
import {
  importGenerated,
  PACKAGE_DIR,
  scratchDir,
  useBackend,
  weightsBuffer,
  type GeneratedModule,
} from './testing/harness.js';
import * as tf from '@tensorflow/tfjs-core';
import { randomModel, tinyGraph } from './testing/tiny.js';

const GOLDEN = join(PACKAGE_DIR, 'src', '__golden__', 'tiny.golden.ts');

/** Type-checks `source` as a consumer would: strictest flags, bundler resolution of tfjs-core. */
function typeErrors(source: string, name: string): string[] {
  const file = join(scratchDir(), `${name}.ts`);
  writeFileSync(file, source);
  const program = ts.createProgram([file], {
    strict: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    noImplicitOverride: true,
    noUnusedLocals: true,
    noUnusedParameters: true,
    noImplicitReturns: true,
    verbatimModuleSyntax: true,
    isolatedModules: true,
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2022.d.ts'],
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    types: [],
    skipLibCheck: true,
    noEmit: true,
  });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where =
      d.file && d.start !== undefined
        ? `${d.file.fileName}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}: `
        : '';
    return where + ts.flattenDiagnosticMessageText(d.messageText, '\n');
  });
}

describe('emitTfjs', () => {
  let tiny: EmitTfjsResult;
  beforeAll(() => {
    tiny = emitTfjs(randomModel(tinyGraph(), 1));
  });

  it('matches the committed golden file (UPDATE_GOLDEN=1 rewrites it)', () => {
    if (process.env['UPDATE_GOLDEN'] === '1' || !existsSync(GOLDEN)) {
      mkdirSync(join(PACKAGE_DIR, 'src', '__golden__'), { recursive: true });
      writeFileSync(GOLDEN, tiny.source);
    }
    expect(tiny.source).toBe(readFileSync(GOLDEN, 'utf8'));
  });

  it('is deterministic and independent of weight values', () => {
    expect(emitTfjs(randomModel(tinyGraph(), 2)).source).toBe(tiny.source);
  });

  it('starts with a do-not-edit header naming generator, version and arch', () => {
    const head = tiny.source.split('\n').slice(0, 6).join('\n');
    expect(head).toContain('DO NOT EDIT');
    expect(head).toContain(`@fastdepth/codegen-tfjs ${GENERATOR_VERSION}`);
    expect(head).toContain('Architecture "tiny"');
    expect(
      emitTfjs(randomModel(tinyGraph(), 1), { regenerate: 'fastdepth export --arch tiny' }).source,
    ).toContain('Regenerate: fastdepth export --arch tiny.');
  });

  it('imports nothing but @tensorflow/tfjs-core', () => {
    const imports = [...tiny.source.matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]);
    expect(imports).toEqual(['@tensorflow/tfjs-core']);
  });

  it('type-checks in strict mode (tiny graph with every op)', () => {
    expect(typeErrors(tiny.source, 'typecheck-tiny')).toEqual([]);
  });

  it('type-checks in strict mode (fastdepth)', () => {
    const graph = buildArch('fastdepth', { inputSize: 224 });
    const { source } = emitTfjs({ graph, weights: initWeights(graph, 0) });
    expect(typeErrors(source, 'typecheck-fastdepth')).toEqual([]);
  });

  it('type-checking catches a broken module (the check is live)', () => {
    expect(
      typeErrors(tiny.source.replace('tf.depthToSpace(', 'tf.depthToSpace2('), 'typecheck-broken').length,
    ).toBeGreaterThan(0);
  });

  it('folds BN and fuses activations for fastdepth: no batchNorm, no separate relu, symmetric pads as numbers', () => {
    const graph = buildArch('fastdepth', { inputSize: 224 });
    const { source, manifest } = emitTfjs({ graph, weights: initWeights(graph, 0) });
    expect(source).not.toContain('tf.batchNorm(');
    expect(source).not.toMatch(/tf\.relu6?\(/);
    expect(source).not.toContain("'same'");
    expect(source).not.toContain('tf.pad(');
    expect(source).toContain(
      "tf.fused.depthwiseConv2d({ x: conv0_relu, filter: weights['conv1_dw.weight'], strides: [1, 1], pad: 1, bias: weights['conv1_dw.bias'], activation: 'relu6' })",
    );
    expect(manifest.tensors.find((t) => t.name === 'conv0.weight')).toMatchObject({
      shape: [3, 3, 3, 32],
      layout: 'HWIO',
      byteOffset: 0,
    });
    expect(manifest.tensors.find((t) => t.name === 'conv1_dw.weight')).toMatchObject({
      shape: [3, 3, 32, 1],
      layout: 'HWCM',
    });
  });

  it('keeps an unfoldable BatchNorm as tf.batchNorm', () => {
    expect(tiny.source).toContain("tf.batchNorm(sum, weights['sum_bn.running_mean']");
  });

  it('writes a manifest whose entries tile the weights file', () => {
    const { manifest, weights } = tiny;
    expect(manifest).toMatchObject({
      format: 'fastdepth-tfjs-weights',
      version: 1,
      arch: 'tiny',
      weightsFile: 'tiny.weights.bin',
      byteLength: weights.byteLength,
    });
    let offset = 0;
    for (const t of manifest.tensors) {
      expect(t.byteOffset).toBe(offset);
      expect(t.byteLength).toBe(t.shape.reduce((a, b) => a * b, 1) * 4);
      offset += t.byteLength;
    }
    expect(offset).toBe(weights.byteLength);
    expect(
      emitTfjs(randomModel(tinyGraph(), 1), { moduleName: 'm', weightsFileName: 'w.bin' }).manifest
        .weightsFile,
    ).toBe('w.bin');
  });

  it('rejects bad models with errors naming the place', () => {
    const g = new GraphBuilder('two_outputs');
    const x = g.input('input', [1, 3, 8, 8]);
    g.output('a', g.relu('r', x));
    g.output('b', x);
    expect(() => emitTfjs({ graph: g.build(), weights: new Map() })).toThrow(GraphError);
    const graph = tinyGraph();
    const weights = new Map(randomModel(graph, 1).weights);
    weights.delete('conv0.weight');
    expect(() => emitTfjs({ graph, weights })).toThrow(WeightsError);
    expect(() => emitTfjs({ graph, weights })).toThrow(/conv0\.weight/);
  });

  it('suffixes layer names that clash with the module’s own identifiers', () => {
    const g = new GraphBuilder('clash');
    const x = g.input('rgb', [1, 3, 4, 4]);
    const y = g.relu('tf', g.conv2d('weights', x, { outChannels: 2, kernel: 1 }));
    g.output('input', g.relu('new', y));
    const graph: Graph = g.build();
    const { source } = emitTfjs({ graph, weights: initWeights(graph, 0) });
    expect(source).toContain('const tf_: tf.Tensor4D');
    expect(source).toContain('return new_;');
    expect(typeErrors(source, 'typecheck-clash')).toEqual([]);
  });
});

describe('the generated loader and predict', () => {
  let mod: GeneratedModule;
  let tiny: EmitTfjsResult;
  beforeAll(async () => {
    await useBackend('cpu');
    tiny = emitTfjs(randomModel(tinyGraph(), 1));
    mod = await importGenerated(tiny.source, 'loader');
  });

  const load =
    (manifest: WeightsManifest, buffer: ArrayBuffer = weightsBuffer(tiny)): (() => void) =>
    () =>
      mod.dispose(mod.loadWeights(manifest, buffer));
  const edit = (
    f: (t: WeightsManifest['tensors'][number]) => WeightsManifest['tensors'][number],
  ): WeightsManifest => ({
    ...tiny.manifest,
    tensors: tiny.manifest.tensors.map((t) => (t.name === 'dw.weight' ? f(t) : t)),
  });

  it('exports MODEL_INFO with NHWC shapes', () => {
    expect(mod.MODEL_INFO).toMatchObject({
      arch: 'tiny',
      inputShape: [1, 16, 16, 3],
      outputShape: [1, 16, 16, 1],
    });
  });

  it('loads and disposes without leaking', () => {
    const before = tf.memory().numTensors;
    load(tiny.manifest)();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects bad manifests and buffers, naming the tensor, creating nothing', () => {
    const before = tf.memory().numTensors;
    expect(load({ ...tiny.manifest, format: 'other' } as unknown as WeightsManifest)).toThrow(
      /format "other"/,
    );
    expect(load({ ...tiny.manifest, arch: 'fastdepth' })).toThrow(/arch "fastdepth"/);
    expect(load(tiny.manifest, weightsBuffer(tiny).slice(0, 100))).toThrow(/holds 100 bytes/);
    expect(load(edit((t) => ({ ...t, shape: [3, 3, 1, 8] })))).toThrow(
      /tensor "dw\.weight": shape \[3, 3, 1, 8\], expected \[3, 3, 8, 1\]/,
    );
    expect(load(edit((t) => ({ ...t, byteOffset: tiny.weights.byteLength - 4 })))).toThrow(
      /tensor "dw\.weight": bytes .* outside/,
    );
    expect(load(edit((t) => ({ ...t, name: 'dw.kernel' })))).toThrow(/tensor "dw\.kernel": not a weight/);
    expect(
      load({ ...tiny.manifest, tensors: tiny.manifest.tensors.filter((t) => t.name !== 'head.bias') }),
    ).toThrow(/tensor "head\.bias": missing/);
    const nan = weightsBuffer(tiny);
    new Float32Array(nan)[2] = Number.NaN;
    expect(load(tiny.manifest, nan)).toThrow(/tensor "conv0\.weight": value NaN at flat index 2/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects an input of the wrong shape', () => {
    const weights = mod.loadWeights(tiny.manifest, weightsBuffer(tiny));
    const x = tf.zeros<tf.Rank.R4>([1, 3, 16, 16]);
    expect(() => mod.predict(x, weights)).toThrow(
      /input shape \[1, 3, 16, 16\], expected \[1, 16, 16, 3\] \(NHWC\)/,
    );
    tf.dispose(x);
    mod.dispose(weights);
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    it(`100 predict calls leave tf.memory().numTensors unchanged (${backend})`, async () => {
      await useBackend(backend);
      const weights = mod.loadWeights(tiny.manifest, weightsBuffer(tiny));
      const x = tf.randomUniform<tf.Rank.R4>([1, 16, 16, 3]);
      tf.dispose(mod.predict(x, weights));
      const before = tf.memory().numTensors;
      for (let i = 0; i < 100; i++) tf.dispose(mod.predict(x, weights));
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose(x);
      mod.dispose(weights);
      await useBackend('cpu');
    });
  }
});
