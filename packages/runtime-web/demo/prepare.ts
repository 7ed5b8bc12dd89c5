/**
 * Prepares the demo's model files in `tmp/generated/demo-model/`: emitted once (tfjs module + weights,
 * ONNX, compiled wasm), from the paper's trained TFLite weights when `@fastdepth/importers` can read them,
 * else from seeded weights; re-emitted when trained weights become available.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { emitWasmInt8, int8ManifestFile, wasmInt8ArtifactFiles } from '@fastdepth/codegen-wasm';
import { buildArch } from '@fastdepth/fastdepth-arch';
import type { QuantizedModel } from '@fastdepth/graph-dsl';
import {
  emitModel,
  GENERATED_DIR,
  seededModel,
  TFLITE_WEIGHTS,
  trainedModel,
  type WeightsOrigin,
} from '../src/testing/models.js';

export const DEMO_MODEL_DIR = join(GENERATED_DIR, 'demo-model');
const INFO_FILE = join(DEMO_MODEL_DIR, 'demo-model.json');

/** What the page is told about its model. */
export interface DemoModelInfo {
  /** File stem: `<name>.ts`, `<name>.weights.json`, `<name>.weights.bin`, `<name>.onnx`, `wasm/<name>.wasm-manifest.json`. */
  readonly name: string;
  readonly arch: string;
  readonly origin: WeightsOrigin;
  /**
   * With trained weights: the int8 wasm build of the file's own int8 model, in XNNPACK's
   * arithmetic (LiteRT.js's integers), at `wasm/<name>.int8.wasm-manifest.json`.
   */
  readonly int8?: boolean;
}

/** The paper's int8 model in XNNPACK's arithmetic, when the importer can read it. */
async function trainedInt8(): Promise<QuantizedModel | undefined> {
  const specifier = '@fastdepth/importers';
  try {
    const importers = (await import(/* @vite-ignore */ specifier)) as {
      importTfliteQuantized?: (bytes: Uint8Array, source: string) => { quantized: QuantizedModel };
    };
    if (typeof importers.importTfliteQuantized !== 'function') return undefined;
    const { quantized } = importers.importTfliteQuantized(
      new Uint8Array(readFileSync(TFLITE_WEIGHTS)),
      TFLITE_WEIGHTS,
    );
    const { graph } = quantized;
    return {
      ...quantized,
      graph: { ...graph, quantization: { ...graph.quantization, arithmetic: 'xnnpack' } },
    };
  } catch {
    return undefined;
  }
}

function existing(): DemoModelInfo | undefined {
  if (!existsSync(INFO_FILE)) return undefined;
  const info = JSON.parse(readFileSync(INFO_FILE, 'utf8')) as DemoModelInfo;
  // A model emitted before the wasm target existed lacks its manifest: emitted again.
  const stems = ['.ts', '.weights.json', '.weights.bin', '.onnx', '.wasm-manifest.json'].map((ext) =>
    join(DEMO_MODEL_DIR, ext.startsWith('.wasm') ? 'wasm' : '', info.name + ext),
  );
  // A trained model prepared before the demo offered the int8 build: emitted again.
  if (info.origin === 'trained' && info.int8 !== true) return undefined;
  return stems.every((f) => existsSync(f)) ? info : undefined;
}

/** Emits the demo model if it is missing (or seeded while trained weights are now available). */
export async function prepareDemoModel(log: (line: string) => void = console.log): Promise<DemoModelInfo> {
  const have = existing();
  if (have?.origin === 'trained') return have;
  const trained = await trainedModel();
  if (have !== undefined && trained === undefined) return have;
  const model = trained ?? seededModel(buildArch('fastdepth-pruned', { inputSize: 224 }), 1);
  const origin: WeightsOrigin = trained === undefined ? 'seeded' : 'trained';
  const name = model.graph.name;
  log(`demo: emitting ${name} (${origin} weights) into ${DEMO_MODEL_DIR}`);
  emitModel(model, name, DEMO_MODEL_DIR, origin, { wasm: true });
  const int8 = origin === 'trained' ? await trainedInt8() : undefined;
  if (int8 !== undefined) {
    const artifact = emitWasmInt8(int8, { arch: name });
    for (const file of wasmInt8ArtifactFiles(artifact))
      writeFileSync(join(DEMO_MODEL_DIR, 'wasm', file.path), file.data);
    if (!existsSync(join(DEMO_MODEL_DIR, 'wasm', int8ManifestFile(name))))
      throw new Error('demo: the int8 wasm build was not written');
  }
  const info: DemoModelInfo = { name, arch: model.graph.name, origin, int8: int8 !== undefined };
  writeFileSync(INFO_FILE, JSON.stringify(info, null, 1));
  return info;
}
