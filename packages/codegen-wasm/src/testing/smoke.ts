import { buildArch } from '@fastdepth/fastdepth-arch';
import { emitWasm } from '/work/wt-wasm-core/packages/codegen-wasm/src/emit.ts';
import {
  instantiate,
  randomInput,
  reference,
  relativeError,
  seededWeights,
} from '/work/wt-wasm-core/packages/codegen-wasm/src/testing/harness.ts';
const arch = process.argv[2] ?? 'fastdepth-pruned';
const size = Number(process.argv[3] ?? 224);
const graph = buildArch(arch, { inputSize: size });
const weights = seededWeights(graph, 3);
let t = performance.now();
const art = emitWasm({ graph, weights });
console.log(
  'emit ms',
  (performance.now() - t).toFixed(0),
  'sizes',
  Object.values(art.modules).map((b) => b.length),
  'pages',
  art.manifest.memory.initialPages,
);
console.log(art.manifest.stages.map((s) => `${s.kind}:${s.layers.join('+')}`).join('\n'));
const inst = await instantiate(art);
const x = randomInput([1, 3, size, size], 5);
t = performance.now();
const out = inst.runSingleThread(x);
console.log('first run ms', (performance.now() - t).toFixed(1));
const times: number[] = [];
for (let i = 0; i < 10; i++) {
  const t0 = performance.now();
  inst.exports.run(0, 1);
  times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
console.log('median ms', times[5]!.toFixed(2));
const ref = reference(graph, weights, x);
console.log(relativeError(out, ref));
