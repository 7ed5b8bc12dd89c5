// Runs an artifact's relaxed-SIMD modules in a child Node started with
// --experimental-wasm-relaxed-simd (Node 20 does not enable relaxed SIMD by default):
//   node --experimental-wasm-relaxed-simd --import tsx run-relaxed.ts DIR
// DIR holds manifest.json, relaxed.wasm, relaxed-threads.wasm, weights.bin, input.bin; writes
// DIR/relaxed.out and DIR/relaxed-threads.out (float32 NCHW), each run on one thread.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WasmManifest, WasmModelExports } from '../manifest.js';

const dir = process.argv[2]!;
const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as WasmManifest;
const weights = readFileSync(join(dir, 'weights.bin'));
const input = new Float32Array(new Uint8Array(readFileSync(join(dir, 'input.bin'))).buffer);
for (const variant of ['relaxed', 'relaxed-threads']) {
  const bytes = readFileSync(join(dir, `${variant}.wasm`));
  if (!WebAssembly.validate(bytes)) throw new Error(`${variant}.wasm does not validate`);
  const { initialPages, maximumPages } = manifest.memory;
  const memory = new WebAssembly.Memory({
    initial: initialPages,
    maximum: maximumPages,
    shared: variant.endsWith('-threads'),
  });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
  new Uint8Array(memory.buffer, manifest.weights.byteOffset, weights.length).set(weights);
  new Float32Array(memory.buffer, manifest.input.byteOffset, input.length).set(input);
  (instance.exports as unknown as WasmModelExports).run(0, 1);
  const n = manifest.output.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(memory.buffer, manifest.output.byteOffset, n).slice();
  writeFileSync(join(dir, `${variant}.out`), new Uint8Array(out.buffer));
}
