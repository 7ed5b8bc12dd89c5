/**
 * The wasm engine in Node: the modules `@fastdepth/codegen-wasm` emits, run through
 * `createDepthEstimator` at 1 and 2 threads (worker_threads on shared memory), against the
 * ONNX model of the same weights in onnxruntime-node; and every bad input a user can hand it
 * (missing or garbage manifest, wrong format or version, a module of another compile) gives a
 * DepthEstimatorError naming the file and field.
 */
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { maxRelativeError } from '@fastdepth/graph-dsl';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  createDepthEstimator,
  DepthEstimatorError,
  preprocess,
  type PixelBuffer,
  type WasmManifest,
  type WasmModelSource,
} from './index.js';
import {
  emitArch,
  emitModel,
  readWasm,
  seededModel,
  GENERATED_DIR,
  type EmittedModel,
} from './testing/models.js';
import { GraphBuilder, type Graph } from '@fastdepth/graph-dsl';

const DIR = join(GENERATED_DIR, `wasm-engine-test-${process.pid}`);

let tiny: EmittedModel;
let pruned: EmittedModel;

/**
 * 1x3x12x20 -> 1x1x12x20 in FastDepth's patterns: strided conv, depthwise + pointwise, nearest
 * x2 after a conv, the skip add after the upsample, a 1x1 head.
 */
function tinyWasmGraph(): Graph {
  const g = new GraphBuilder('tiny-wasm');
  const x = g.input('input', [1, 3, 12, 20]);
  const skip = g.relu('skip_relu', g.conv2d('skip', x, { outChannels: 6, kernel: 3, pads: 1, bias: true }));
  const c0 = g.relu6(
    'conv0_relu',
    g.batchNorm('conv0_bn', g.conv2d('conv0', x, { outChannels: 8, kernel: 3, stride: 2, pads: 1 })),
  );
  const dw = g.relu6(
    'dw_relu',
    g.batchNorm('dw_bn', g.conv2d('dw', c0, { outChannels: 8, kernel: 5, pads: 2, groups: 8 })),
  );
  const pw = g.relu('pw_relu', g.batchNorm('pw_bn', g.conv2d('pw', dw, { outChannels: 6, kernel: 1 })));
  const sum = g.add('add', g.upsample('up', pw, 'nearest'), skip);
  const head = g.relu('head_relu', g.conv2d('head', sum, { outChannels: 1, kernel: 1, bias: true }));
  g.output('depth', head);
  return g.build();
}

beforeAll(() => {
  tiny = emitModel(seededModel(tinyWasmGraph(), 3), 'tiny-wasm', DIR, 'seeded', { wasm: true });
  pruned = emitArch('fastdepth-pruned', 224, DIR, 1, { wasm: true });
});

afterAll(() => {
  rmSync(DIR, { recursive: true, force: true });
});

/** A deterministic RGBA photo-like pattern of any size. */
function pattern(width: number, height: number, seed: number): Uint8ClampedArray {
  let s = seed >>> 0;
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < data.length; i += 4) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const p = i / 4;
    data.set([((p % width) * 255) / width, (Math.floor(p / width) * 255) / height, s >>> 24, 255], i);
  }
  return data;
}

const fromFiles = (files: EmittedModel): WasmModelSource => ({
  engine: 'wasm',
  model: { manifestUrl: files.wasmManifest },
});

describe.each([
  ['tiny graph', (): EmittedModel => tiny, 33, 27],
  ['fastdepth-pruned 224', (): EmittedModel => pruned, 320, 240],
])('%s: wasm engine against onnxruntime-node', (_, files, width, height) => {
  it('gives the same depth at 1 and 2 threads, from files and from memory', async () => {
    const image: PixelBuffer = { data: pattern(width, height, 7), width, height };
    const reference = await createDepthEstimator({ model: { engine: 'onnx', model: files().onnx } });
    const expected = await reference.estimate(image);
    await reference.dispose();
    expect(expected.depth.some((v) => v > 0)).toBe(true);
    for (const [threads, model] of [
      [1, fromFiles(files())],
      [2, fromFiles(files())],
      [2, { engine: 'wasm', model: readWasm(files()) }],
    ] as const) {
      const estimator = await createDepthEstimator({ model, numThreads: threads });
      expect([estimator.engine, estimator.backend, estimator.threads]).toEqual(['wasm', 'wasm', threads]);
      expect(estimator.backendReason).toMatch(threads === 1 ? /simd build/ : /simd-threads build, 2 threads/);
      // Several runs: the pool is woken again each time, and nothing of one run leaks into the next.
      for (let run = 0; run < 3; run++) {
        const result = await estimator.estimate(image);
        expect([result.engine, result.width, result.height]).toEqual([
          'wasm',
          expected.width,
          expected.height,
        ]);
        expect(maxRelativeError(result.depth, expected.depth)).toBeLessThan(1e-4);
      }
      await estimator.dispose();
    }
  });

  it('preprocesses in the worker threads bit for bit as on the calling thread, images of any size', async () => {
    const manifest = JSON.parse(readFileSync(files().wasmManifest, 'utf8')) as WasmManifest;
    const [, , netH, netW] = manifest.input.shape as [number, number, number, number];
    // Growing then shrinking images (a new staging buffer, then reuse), RGBA and RGB, and one at the net's size.
    const rgb = (rgba: Uint8ClampedArray): Uint8ClampedArray => rgba.filter((_, i) => i % 4 !== 3);
    const images: PixelBuffer[] = [
      { data: pattern(width, height, 3), width, height },
      {
        data: rgb(pattern(width * 2 + 1, height + 5, 4)),
        width: width * 2 + 1,
        height: height + 5,
        channels: 3,
      },
      { data: pattern(netW, netH, 5), width: netW, height: netH },
      { data: pattern(width - 3, height - 1, 6), width: width - 3, height: height - 1 },
    ];
    const one = await createDepthEstimator({ model: fromFiles(files()), numThreads: 1 });
    // The calling thread's own preprocessing (estimateRgb takes the prepared input).
    const expected = [];
    for (const image of images) {
      const data = preprocess(image, one.width, one.height, 'nhwc');
      expected.push((await one.estimateRgb({ data, width: one.width, height: one.height })).depth);
      expect((await one.estimate(image)).depth).toEqual(expected.at(-1));
    }
    await one.dispose();
    for (const threads of [2, 3]) {
      const estimator = await createDepthEstimator({ model: fromFiles(files()), numThreads: threads });
      expect(estimator.threads).toBe(threads);
      for (let i = 0; i < images.length; i++)
        expect((await estimator.estimate(images[i]!)).depth).toEqual(expected[i]);
      await estimator.dispose();
    }
  });
});

describe('wasm engine choices', () => {
  it('awaits the workers by message where Atomics.waitAsync is missing (browsers without it)', async () => {
    const reference = await createDepthEstimator({ model: fromFiles(tiny), numThreads: 1 });
    const rgb = {
      data: Float32Array.from({ length: 12 * 20 * 3 }, (_, i) => (i % 11) / 11),
      width: 20,
      height: 12,
    };
    const expected = (await reference.estimateRgb(rgb)).depth;
    await reference.dispose();
    const atomics = Atomics as unknown as { waitAsync?: unknown };
    const waitAsync = atomics.waitAsync;
    delete atomics.waitAsync;
    try {
      // A fresh copy of the engine, which reads Atomics.waitAsync when it loads.
      vi.resetModules();
      const fresh = await import('./estimator.js');
      const estimator = await fresh.createDepthEstimator({ model: fromFiles(tiny), numThreads: 2 });
      expect(estimator.threads).toBe(2);
      for (let run = 0; run < 3; run++)
        expect(maxRelativeError((await estimator.estimateRgb(rgb)).depth, expected)).toBeLessThan(1e-6);
      await estimator.dispose();
    } finally {
      atomics.waitAsync = waitAsync;
      vi.resetModules();
    }
  });

  it('falls back to one thread, with the reason, when only single-thread builds are given', async () => {
    const { manifest, modules, weights } = readWasm(tiny);
    const estimator = await createDepthEstimator({
      model: { engine: 'wasm', model: { manifest, modules: { simd: modules.simd }, weights } },
      numThreads: 2,
    });
    expect(estimator.threads).toBe(1);
    expect(estimator.backendReason).toMatch(/simd build.*1 thread.*no "simd-threads" build given/);
    await estimator.dispose();
  });

  it('runs no more threads than the module reserves scratch for', async () => {
    const { manifest } = readWasm(tiny);
    const estimator = await createDepthEstimator({
      model: fromFiles(tiny),
      numThreads: manifest.maxThreads + 1,
    });
    expect(estimator.threads).toBe(manifest.maxThreads);
    expect(estimator.backendReason).toContain(`the module reserves scratch for ${manifest.maxThreads}`);
    await estimator.dispose();
  });

  it('refuses a backend other than wasm', async () => {
    await expect(createDepthEstimator({ model: fromFiles(tiny), backend: 'cpu' })).rejects.toThrow(
      /wasm engine: backend "cpu" is not offered/,
    );
  });
});

describe('wasm engine: bad inputs', () => {
  const BAD = join(DIR, 'bad');

  /** A copy of the tiny model's files with the manifest replaced by `edit` of it. */
  function withManifest(name: string, edit: (m: Record<string, unknown>) => unknown): string {
    mkdirSync(BAD, { recursive: true });
    const manifest = JSON.parse(readFileSync(tiny.wasmManifest, 'utf8')) as WasmManifest;
    for (const file of [...Object.values(manifest.modules), manifest.weightsFile])
      copyFileSync(join(dirname(tiny.wasmManifest), file), join(BAD, file));
    const path = join(BAD, `${name}.wasm-manifest.json`);
    const edited = edit(structuredClone(manifest) as unknown as Record<string, unknown>);
    writeFileSync(path, typeof edited === 'string' ? edited : JSON.stringify(edited));
    return path;
  }

  async function failure(manifestUrl: string, numThreads = 1): Promise<Error> {
    try {
      const estimator = await createDepthEstimator({
        model: { engine: 'wasm', model: { manifestUrl } },
        numThreads,
      });
      await estimator.dispose();
    } catch (error) {
      expect(error).toBeInstanceOf(DepthEstimatorError);
      return error as Error;
    }
    throw new Error('no error');
  }

  it('names a missing manifest', async () => {
    const missing = join(BAD, 'nowhere.wasm-manifest.json');
    expect((await failure(missing)).message).toBe(
      `wasm manifest: cannot read ${missing}: ENOENT: no such file or directory, open '${missing}'`,
    );
  });

  it('names a manifest that is not JSON', async () => {
    const path = withManifest('garbage', () => 'PK\u0003\u0004 not json');
    expect((await failure(path)).message).toMatch(
      new RegExp(`^wasm manifest ${path}: not JSON \\(.*\\); expected a fastdepth-wasm manifest$`),
    );
  });

  it('names the wrong format and the wrong version', async () => {
    const format = withManifest('format', (m) => ({ ...m, format: 'tfjs-weights' }));
    expect((await failure(format)).message).toMatch(
      `wasm manifest ${format}: "format" is "tfjs-weights", expected "fastdepth-wasm"`,
    );
    const version = withManifest('version', (m) => ({ ...m, version: 2 }));
    expect((await failure(version)).message).toMatch(
      `wasm manifest ${version}: "version" is 2; this runtime reads version 1`,
    );
  });

  it('names a missing or malformed field', async () => {
    const shape = withManifest('shape', (m) => ({
      ...m,
      input: { ...(m['input'] as object), shape: [1, 4, 8] },
    }));
    expect((await failure(shape)).message).toBe(
      `wasm manifest ${shape}: "input.shape" must be [1, 3, H, W], found [1,4,8]`,
    );
    const modules = withManifest('modules', (m) => ({ ...m, modules: { simd: 'x.wasm' } }));
    expect((await failure(modules)).message).toMatch(
      `wasm manifest ${modules}: "modules.simd-threads" must be`,
    );
    const outside = withManifest('outside', (m) => ({
      ...m,
      output: {
        ...(m['output'] as object),
        byteOffset: (m['memory'] as { initialPages: number }).initialPages * 65536,
      },
    }));
    expect((await failure(outside)).message).toMatch(`wasm manifest ${outside}: "output" (`);
  });

  it("names a module that is not this manifest's", async () => {
    // The pruned network's modules under the tiny network's manifest: memory and weights differ.
    const mixed = withManifest('mixed', (m) => m);
    const prunedManifest = JSON.parse(readFileSync(pruned.wasmManifest, 'utf8')) as WasmManifest;
    const tinyManifest = JSON.parse(readFileSync(mixed, 'utf8')) as WasmManifest;
    for (const variant of ['simd', 'simd-threads'] as const)
      copyFileSync(
        join(dirname(pruned.wasmManifest), prunedManifest.modules[variant]),
        join(BAD, tinyManifest.modules[variant]),
      );
    for (const threads of [1, 2]) {
      const error = await failure(mixed, threads);
      expect(error.message).toMatch(
        new RegExp(
          `^wasm module ${join(BAD, tinyManifest.modules[threads === 1 ? 'simd' : 'simd-threads'])}: `,
        ),
      );
      expect(error.message).toMatch(/different compiles/);
    }
  });

  it('names a module file that is not WebAssembly, and weights of the wrong size', async () => {
    const notWasm = withManifest('notwasm', (m) => ({
      ...m,
      modules: { ...(m['modules'] as object), simd: 'x.wasm' },
    }));
    writeFileSync(join(BAD, 'x.wasm'), 'not wasm at all');
    expect((await failure(notWasm)).message).toMatch(
      `wasm module ${join(BAD, 'x.wasm')}: not a WebAssembly module this engine can compile`,
    );
    const short = withManifest('short', (m) => ({ ...m, weightsFile: 'short.bin' }));
    writeFileSync(join(BAD, 'short.bin'), new Uint8Array(12));
    expect((await failure(short)).message).toMatch(
      `wasm weights ${join(BAD, 'short.bin')}: 12 bytes, but the manifest's "weights.byteLength" is`,
    );
  });
});
