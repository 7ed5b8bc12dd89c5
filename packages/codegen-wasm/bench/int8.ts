/**
 * int8 vs float32 wasm engine (Node, one thread, plain-SIMD modules on the main thread): the
 * whole network's per-frame time, interleaved rounds so machine noise hits both, then the int8
 * build's per-stage medians. The int8 model is the paper's trained TFLite model (default,
 * `--model trained`), fastdepth-pruned with random int8 weights (`--model random`), or any
 * family member (`--arch NAME`, implies `--model ptq`) quantised from seeded weights by
 * graph-dsl's post-training quantisation on two random inputs.
 *
 *   npm run bench:int8 -w @fastdepth/codegen-wasm [-- --runs 30 --warmup 5 --arch NAME --size 224]
 */
import { cpus, loadavg } from 'node:os';
import { buildArch } from '@fastdepth/fastdepth-arch';
import { foldBatchNorm, quantizeModel, type QuantizedModel } from '@fastdepth/graph-dsl';
import { emitWasm } from '../src/emit.js';
import { emitWasmInt8 } from '../src/int8/emit.js';
import { instantiate, randomInput, seededWeights } from '../src/testing/harness.js';
import { randomQuantizedModel } from '../src/testing/int8-reference.js';
import { createWasmMemory, loadWasmModel } from '../src/testing/load.js';
import { loadTrainedInt8 } from '../src/testing/trained-int8.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}
const RUNS = Number(flag('runs', '30'));
const WARMUP = Number(flag('warmup', '5'));

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const arch = flag('arch', 'fastdepth-pruned');
const size = Number(flag('size', '224'));
const model = flag('model', arch === 'fastdepth-pruned' ? 'trained' : 'ptq');
const graph = buildArch(arch, { inputSize: size });
const floatWeights = seededWeights(graph, 1);
const x = randomInput([1, 3, size, size], 1);
let int8: QuantizedModel;
let which: string;
if (model === 'ptq') {
  const calibration = [2, 3].map((seed) => ({
    shape: [1, 3, size, size],
    data: randomInput([1, 3, size, size], seed),
  }));
  int8 = quantizeModel(graph, floatWeights, calibration);
  which = `${arch} at ${size}x${size}, seeded weights, post-training quantisation on 2 random inputs`;
} else if (model === 'trained') {
  if (arch !== 'fastdepth-pruned' || size !== 224)
    throw new Error('bench:int8: --model trained is fastdepth-pruned at 224 (the TFLite file)');
  int8 = loadTrainedInt8();
  which = 'trained TFLite int8 model (importTfliteQuantized)';
} else {
  const folded = foldBatchNorm({ graph, weights: floatWeights });
  int8 = randomQuantizedModel(folded.graph, 1, x);
  which = `${arch}, random int8 weights`;
}
const floatArt = emitWasm({ graph, weights: floatWeights });
const int8Art = emitWasmInt8(int8);
const f32 = await instantiate(floatArt, 'simd');
const memory = createWasmMemory(int8Art.manifest, false);
const i8 = await loadWasmModel(int8Art.manifest, int8Art.modules.simd, int8Art.weights, { memory });
f32.writeInput(x);
i8.writeInput(x);
const runs = { float32: () => f32.exports.run(0, 1), int8: () => i8.exports.run(0, 1) };
const times: Record<string, number[]> = { float32: [], int8: [] };
const load0 = loadavg();
for (let r = 0; r < WARMUP + RUNS; r++) {
  const order = r % 2 ? (['int8', 'float32'] as const) : (['float32', 'int8'] as const);
  for (const k of order) {
    const t = performance.now();
    runs[k]();
    if (r >= WARMUP) times[k]!.push(performance.now() - t);
  }
}
const load1 = loadavg();
console.log(
  `${cpus()[0]?.model ?? 'cpu'}; load average before ${load0.map((l) => l.toFixed(2)).join(' ')}, after ${load1.map((l) => l.toFixed(2)).join(' ')}`,
);
console.log(`int8 model: ${which}`);
console.log(
  `weights: float32 ${(floatArt.weights.byteLength / 1e6).toFixed(2)} MB, int8 ${(int8Art.weights.byteLength / 1e6).toFixed(2)} MB`,
);
const mf = median(times.float32!);
const mi = median(times.int8!);
console.log(
  `per frame, 1 thread, median of ${RUNS} (min): float32 ${mf.toFixed(2)} ms (${Math.min(...times.float32!).toFixed(2)}), int8 ${mi.toFixed(2)} ms (${Math.min(...times.int8!).toFixed(2)}); int8 / float32 = ${(mi / mf).toFixed(2)}`,
);
console.log('\nint8 per stage (run_stage alone, median of 20):');
const rows = int8Art.manifest.stages.map((s, i) => {
  const t: number[] = [];
  for (let r = 0; r < 20; r++) {
    const t0 = performance.now();
    i8.runStage(i, 0, s.rows, 0);
    t.push(performance.now() - t0);
  }
  return { name: s.name, kind: s.kind, macs: s.macs, ms: median(t) };
});
const total = rows.reduce((a, r) => a + r.ms, 0);
for (const r of [...rows].sort((a, b) => b.ms - a.ms))
  console.log(
    `${r.name.padEnd(18)} ${r.kind.padEnd(6)} ${(r.macs / 1e6).toFixed(1).padStart(6)} MMAC ${r.ms.toFixed(3).padStart(7)} ms ${((100 * r.ms) / total).toFixed(1).padStart(5)} % ${(r.macs / r.ms / 1e6).toFixed(1).padStart(6)} GMAC/s`,
  );
console.log(`stages sum ${total.toFixed(2)} ms`);
