/**
 * Prepares the demo's model files in `tmp/generated/demo-model/`: emitted once (tfjs module + weights,
 * ONNX, compiled wasm), from the paper's trained TFLite weights when `@fastdepth/importers` can read them,
 * else from seeded weights; re-emitted when trained weights become available.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildArch } from '@fastdepth/fastdepth-arch';
import {
  emitModel,
  GENERATED_DIR,
  seededModel,
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
}

function existing(): DemoModelInfo | undefined {
  if (!existsSync(INFO_FILE)) return undefined;
  const info = JSON.parse(readFileSync(INFO_FILE, 'utf8')) as DemoModelInfo;
  // A model emitted before the wasm target existed lacks its manifest: emitted again.
  const stems = ['.ts', '.weights.json', '.weights.bin', '.onnx', '.wasm-manifest.json'].map((ext) =>
    join(DEMO_MODEL_DIR, ext.startsWith('.wasm') ? 'wasm' : '', info.name + ext),
  );
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
  const info: DemoModelInfo = { name, arch: model.graph.name, origin };
  writeFileSync(INFO_FILE, JSON.stringify(info, null, 1));
  return info;
}
