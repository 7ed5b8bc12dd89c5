import { buildArch } from '@fastdepth/fastdepth-arch';
import { GraphBuilder, inferShapes, initWeights, randomizeBatchNorm, type Model } from '@fastdepth/graph-dsl';
import { latencyLayers, onnxRunner, tfjsRunner } from './src/index.js';
const which = process.argv[2] ?? 'wasm';
const runner =
  which === 'wasm' ? tfjsRunner({ runs: 15 }) : onnxRunner({ runs: 15, optimization: which as 'all' });
const graph = buildArch('fastdepth', { inputSize: 224 });
let raw = 0,
  idOut = 0,
  idTiny = 0;
const tinyG = new GraphBuilder('t');
tinyG.output('out', tinyG.input('input', [1, 1, 1, 1]));
const tiny = await runner.measure({ graph: tinyG.build(), weights: new Map() });
const layers = latencyLayers(graph);
for (const l of layers) {
  const g = l.build(l.inChannels, l.outChannels);
  const m: Model = { graph: g, weights: randomizeBatchNorm(g, initWeights(g, 1), 2) };
  raw += await runner.measure(m);
  const s = inferShapes(g).get('out')!;
  const ig = new GraphBuilder('i');
  ig.output('out', ig.input('input', [...s] as [number, number, number, number]));
  idOut += await runner.measure({ graph: ig.build(), weights: new Map() });
}
const full = await runner.measure({ graph, weights: randomizeBatchNorm(graph, initWeights(graph, 1), 2) });
console.log({
  which,
  layers: layers.length,
  raw,
  idOut,
  tiny,
  full,
  rawMinusId: raw - idOut,
  rawMinusTiny: raw - layers.length * tiny,
});
