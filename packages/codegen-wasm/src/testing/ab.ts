// Development aid: upsample + skip add fused into the producer's writes vs the consumer's reads.
import { buildArch } from '@fastdepth/fastdepth-arch';
import { emitWasm } from '../emit.js';
import { instantiate, randomInput, seededWeights } from './harness.js';
const arch = process.argv[2] ?? 'fastdepth-pruned';
const graph = buildArch(arch, { inputSize: 224 });
const weights = seededWeights(graph, 1);
const x = randomInput([1, 3, 224, 224], 1);
const runs: Record<string, () => void> = {};
for (const reads of [false, true]) {
  const m = await instantiate(emitWasm({ graph, weights }, { upsampleInReads: reads }));
  m.writeInput(x);
  runs[reads ? 'reads' : 'writes'] = () => m.exports.run(0, 1);
}
const t: Record<string, number[]> = { reads: [], writes: [] };
for (let r = 0; r < 40; r++)
  for (const [k, f] of Object.entries(runs)) {
    const t0 = performance.now();
    f();
    if (r >= 5) t[k]!.push(performance.now() - t0);
  }
for (const [k, v] of Object.entries(t)) console.log(arch, k, [...v].sort((a, b) => a - b)[17]!.toFixed(2));
