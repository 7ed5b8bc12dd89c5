/**
 * The wasm engine running an int8 build (`emitWasmInt8` of the paper's trained TFLite model,
 * imported with its own quantisation): picked through the float manifest's `int8Manifest` link
 * unless `precision: 'float32'`, at 1 and 2 threads, with the dequantised int8 reference's depth
 * exactly; a precision that the folder cannot give is a DepthEstimatorError naming the file.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  emitWasm,
  emitWasmInt8,
  linkInt8Build,
  wasmArtifactFiles,
  wasmInt8ArtifactFiles,
  type WasmArtifact,
} from '@fastdepth/codegen-wasm';
import { executeQuantized, type Model, type QuantizedModel } from '@fastdepth/graph-dsl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDepthEstimator, DepthEstimatorError } from './index.js';
import { GENERATED_DIR, TFLITE_WEIGHTS } from './testing/models.js';
import { relaxedDotExact } from './wasm-model.js';

const DIR = join(GENERATED_DIR, `wasm-int8-test-${process.pid}`);
const W = 224;
const H = 224;

interface QuantizedImporter {
  importTfliteQuantized(bytes: Uint8Array, source: string): { model: Model; quantized: QuantizedModel };
}

let quantized: QuantizedModel;
let floatManifest: string;
let unlinkedManifest: string;

beforeAll(async () => {
  const specifier = '@fastdepth/importers';
  const importers = (await import(/* @vite-ignore */ specifier)) as QuantizedImporter;
  const imported = importers.importTfliteQuantized(
    new Uint8Array(readFileSync(TFLITE_WEIGHTS)),
    TFLITE_WEIGHTS,
  );
  quantized = imported.quantized;
  mkdirSync(DIR, { recursive: true });
  const int8 = emitWasmInt8(quantized, { arch: 'trained' });
  const float: WasmArtifact = emitWasm(imported.model, { arch: 'trained' });
  for (const file of [...wasmInt8ArtifactFiles(int8), ...wasmArtifactFiles(float)])
    writeFileSync(join(DIR, file.path), file.data);
  floatManifest = join(DIR, 'trained.wasm-manifest.json');
  unlinkedManifest = join(DIR, 'unlinked.wasm-manifest.json');
  writeFileSync(unlinkedManifest, readFileSync(floatManifest));
  writeFileSync(floatManifest, JSON.stringify(linkInt8Build(float.manifest)));
}, 600_000);

afterAll(() => {
  rmSync(DIR, { recursive: true, force: true });
});

/** A deterministic HWC image in [0, 1] (values k / 255, as a u8 photo gives). */
const rgb = {
  data: Float32Array.from({ length: W * H * 3 }, (_, i) => ((i * 7919) % 256) / 255),
  width: W,
  height: H,
};

function expectedDepth(): Float32Array {
  const chw = new Float32Array(W * H * 3);
  for (let p = 0; p < W * H; p++) for (let c = 0; c < 3; c++) chw[c * W * H + p] = rgb.data[p * 3 + c]!;
  const inName = quantized.graph.nodes.find((n) => n.op === 'input')!.name;
  const outName = quantized.graph.nodes.find((n) => n.op === 'output')!.name;
  const out = executeQuantized(quantized, { [inName]: { shape: [1, 3, H, W], data: chw } })[outName]!;
  return Float32Array.from(out.data, (q) => out.params.scale * (q - out.params.zeroPoint));
}

describe('wasm engine, int8 build', () => {
  it('the float manifest links the int8 build: estimate gives the int8 reference depth at 1 and 2 threads', async () => {
    const want = expectedDepth();
    for (const threads of [1, 2]) {
      const estimator = await createDepthEstimator({
        model: { engine: 'wasm', model: { manifestUrl: floatManifest } },
        numThreads: threads,
      });
      // The relaxed build only where the relaxed integer dot is exact (not Node 20: no relaxed SIMD).
      const build = relaxedDotExact() ? 'relaxed' : 'simd';
      expect(estimator.backendReason).toContain(
        threads === 1 ? `int8 ${build} build, 1 thread` : `int8 ${build}-threads build, 2 threads`,
      );
      for (let run = 0; run < 2; run++) expect((await estimator.estimateRgb(rgb)).depth).toEqual(want);
      await estimator.dispose();
    }
  });

  it('the int8 relaxed module runs exactly where the host probe says the relaxed dot is exact', async () => {
    // Its start function checks the same property and traps otherwise: host and module agree.
    const manifest = JSON.parse(readFileSync(join(DIR, 'trained.int8.wasm-manifest.json'), 'utf8')) as {
      modules: Record<string, string>;
      memory: { initialPages: number; maximumPages: number };
    };
    const bytes = readFileSync(join(DIR, manifest.modules['relaxed']!));
    const memory = new WebAssembly.Memory({
      initial: manifest.memory.initialPages,
      maximum: manifest.memory.maximumPages,
    });
    let runs = true;
    try {
      await WebAssembly.instantiate(bytes, { env: { memory } });
    } catch {
      runs = false;
    }
    expect(runs).toBe(relaxedDotExact());
  });

  it('precision float32 runs the float build of the same folder', async () => {
    const estimator = await createDepthEstimator({
      model: { engine: 'wasm', model: { manifestUrl: floatManifest, precision: 'float32' } },
    });
    expect(estimator.backendReason).not.toMatch(/int8/);
    const depth = (await estimator.estimateRgb(rgb)).depth;
    // The float engine is a dequantised approximation of the int8 model: close, not equal.
    const want = expectedDepth();
    let sum = 0;
    for (let i = 0; i < want.length; i++) sum += Math.abs(depth[i]! - want[i]!) / Math.max(want[i]!, 1e-3);
    expect(sum / want.length).toBeLessThan(0.05);
    await estimator.dispose();
  });

  it('an int8 manifest declaring an unknown integer arithmetic: an error naming the field', async () => {
    const int8 = JSON.parse(readFileSync(join(DIR, 'trained.int8.wasm-manifest.json'), 'utf8')) as {
      quantization: { arithmetic?: string };
    };
    expect(int8.quantization.arithmetic).toBe('tflite');
    int8.quantization.arithmetic = 'fast';
    const bad = join(DIR, 'bad-arithmetic.int8.wasm-manifest.json');
    writeFileSync(bad, JSON.stringify(int8));
    const attempt = createDepthEstimator({ model: { engine: 'wasm', model: { manifestUrl: bad } } });
    await expect(attempt).rejects.toThrow(DepthEstimatorError);
    await expect(attempt).rejects.toThrow(
      /"quantization\.arithmetic" is "fast", expected "tflite" or "xnnpack"/,
    );
  });

  it('precision int8 on a folder without an int8 build: an error naming the manifest', async () => {
    const attempt = createDepthEstimator({
      model: { engine: 'wasm', model: { manifestUrl: unlinkedManifest, precision: 'int8' } },
    });
    await expect(attempt).rejects.toThrow(DepthEstimatorError);
    await expect(attempt).rejects.toThrow(/unlinked\.wasm-manifest\.json.*int8/);
  });
});
