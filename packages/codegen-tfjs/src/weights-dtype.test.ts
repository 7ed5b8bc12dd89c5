import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { WeightsError } from '@fastdepth/graph-dsl';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { emitTfjs, toJavaScript, type EmitTfjsResult, type WeightsManifest } from './index.js';
import { FLOAT16_MAX, quantizeInt8, toFloat16Bits } from './manifest.js';
import {
  importGenerated,
  randomInput,
  relativeError,
  runOnce,
  scratchDir,
  useBackend,
  weightsBuffer,
  type GeneratedModule,
} from './testing/harness.js';
import { randomModel, tinyGraph } from './testing/tiny.js';

describe('float16 and int8 encoders', () => {
  it('writes IEEE half bits, rounding to nearest even', () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [65504, 0x7bff],
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -26, 0x0000], // underflows to zero
      [1 + 2 ** -11, 0x3c00], // halfway between 1 and the next half: even (1) wins
      [1 + 3 * 2 ** -11, 0x3c02], // halfway, odd below: rounds up
      [1 / 3, 0x3555],
    ];
    for (const [value, bits] of cases) expect([value, toFloat16Bits(value)]).toEqual([value, bits]);
  });

  it('quantises per channel on the given axis, each channel to its own max', () => {
    // Shape [1, 1, 2, 3] (HWIO): channel axis 3, channel c holds values c+1 and -(c+1)/2.
    const data = Float32Array.from([1, 2, 3, -0.5, -1, -1.5]);
    const { values, scales } = quantizeInt8(data, [1, 1, 2, 3], 3);
    expect(Array.from(scales)).toEqual([1 / 127, 2 / 127, 3 / 127].map(Math.fround));
    expect(Array.from(values)).toEqual([127, 127, 127, -64, -64, -64]);
    const zero = quantizeInt8(new Float32Array(4), [1, 1, 1, 4], 3);
    expect(Array.from(zero.values)).toEqual([0, 0, 0, 0]);
  });
});

describe('emitTfjs weightsDtype', () => {
  let float32: EmitTfjsResult;
  const model = randomModel(tinyGraph(), 3);
  beforeAll(async () => {
    await useBackend('cpu');
    float32 = emitTfjs(model);
  });

  for (const [dtype, limit, ratio] of [
    ['float16', 2e-3, 2],
    ['int8', 2e-2, 3],
  ] as const) {
    it(`${dtype}: smaller file, same module, output within ${limit} of float32`, async () => {
      const small = emitTfjs(model, { weightsDtype: dtype });
      // The same code: only MODEL_INFO's informative byte count differs.
      const code = (source: string): string => source.replace(/weightsByteLength: \d+/, '');
      expect(code(small.source)).toBe(code(float32.source));
      expect(float32.weights.byteLength / small.weights.byteLength).toBeGreaterThan(ratio * 0.9);
      const dtypes = new Set(small.manifest.tensors.map((t) => t.dtype));
      expect(dtypes.has(dtype)).toBe(true);
      if (dtype === 'int8') {
        // Vectors (biases) stay float32; every filter is int8 with scales on its channel axis.
        for (const t of small.manifest.tensors) {
          expect([t.name, t.dtype]).toEqual([t.name, t.shape.length === 4 ? 'int8' : 'float32']);
          if (t.dtype === 'int8') expect(t.scales?.axis).toBe(t.layout === 'HWIO' ? 3 : 2);
        }
      }
      const mod = await importGenerated(float32.source, `dtype-${dtype}`);
      const input = randomInput(3 * 16 * 16, 7);
      const reference = runOnce(mod, float32, input);
      const got = runOnce(mod, small, input);
      const error = relativeError(got, reference);
      expect(error).toBeGreaterThan(0); // really the quantised weights
      expect(error).toBeLessThan(limit);
    });
  }

  it('refuses a float16 file for a value beyond the half range, naming the tensor', () => {
    const big = randomModel(tinyGraph(), 3);
    const w = big.weights.get('head.weight')!;
    const data = Float32Array.from(w.data);
    data[0] = 2 * FLOAT16_MAX;
    const weights = new Map(big.weights);
    weights.set('head.weight', { ...w, data });
    const emit = (): EmitTfjsResult => emitTfjs({ ...big, weights }, { weightsDtype: 'float16' });
    expect(emit).toThrow(WeightsError);
    expect(emit).toThrow(/tensor "head\.weight": value 131008 at flat index 0 does not fit float16/);
  });

  it('the loader rejects bad int8 entries, naming the tensor, creating nothing', async () => {
    const int8 = emitTfjs(model, { weightsDtype: 'int8' });
    const mod: GeneratedModule = await importGenerated(int8.source, 'dtype-errors');
    const edit = (f: (t: WeightsManifest['tensors'][number]) => object): WeightsManifest => ({
      ...int8.manifest,
      tensors: int8.manifest.tensors.map((t) =>
        t.name === 'dw.weight' ? (f(t) as WeightsManifest['tensors'][number]) : t,
      ),
    });
    const load = (manifest: WeightsManifest) => () =>
      mod.dispose(mod.loadWeights(manifest, weightsBuffer(int8)));
    const before = tf.memory().numTensors;
    expect(load(edit((t) => ({ ...t, dtype: 'uint4' })))).toThrow(
      /tensor "dw\.weight": dtype uint4, expected float32, float16 or int8/,
    );
    expect(load(edit((t) => ({ ...t, scales: undefined })))).toThrow(
      /tensor "dw\.weight": int8 without a valid scales\.axis/,
    );
    expect(load(edit((t) => ({ ...t, scales: { axis: 2, byteOffset: int8.weights.byteLength } })))).toThrow(
      /tensor "dw\.weight": scales bytes .* outside/,
    );
    expect(load(edit((t) => ({ ...t, byteLength: t.byteLength * 4 })))).toThrow(
      /tensor "dw\.weight": \d+ bytes, shape needs \d+ as int8/,
    );
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('toJavaScript', () => {
  it('gives an ES module plain Node imports, and declarations of every export', async () => {
    await useBackend('cpu');
    const result = emitTfjs(randomModel(tinyGraph(), 1));
    const { js, dts } = toJavaScript(result.source);
    expect(js).toMatch(/^import \* as tf from '@tensorflow\/tfjs-core';$/m);
    expect(js).not.toMatch(/: tf\.Tensor4D|interface /);
    for (const name of ['MODEL_INFO', 'ModelError', 'loadWeights', 'predict', 'dispose'])
      expect(dts).toMatch(new RegExp(`export declare (const|class|function) ${name}\\b`));
    expect(dts).toMatch(/export interface Weights \{/);
    // Plain .js inside this package, so its bare tfjs-core import resolves like an app's would.
    const file = join(scratchDir(), `plain-${process.pid}.mjs`);
    writeFileSync(file, js);
    const mod = (await import(/* @vite-ignore */ pathToFileURL(file).href)) as GeneratedModule;
    const ts = await importGenerated(result.source, 'plain-ts');
    const input = randomInput(3 * 16 * 16, 2);
    expect(Array.from(runOnce(mod, result, input))).toEqual(Array.from(runOnce(ts, result, input)));
  });
});
