/**
 * How well the latency table's sum predicts the measured whole network (fastdepth and
 * fastdepth-pruned, 224x224, random weights), on tfjs-wasm and onnxruntime-node (1 thread).
 * Run: npx tsx --conditions=@fastdepth/source packages/latency/bench/latency-check.ts
 * Env: BACKENDS (default wasm,onnx), LAYERS=1 prints per-layer estimates, FRESH=1 ignores the cache.
 */
import { buildArch } from '@fastdepth/fastdepth-arch';
import { initWeights, randomizeBatchNorm, type Model } from '@fastdepth/graph-dsl';
import { checkLatencyTable, LatencyTable, latencyLayers, onnxRunner, tfjsRunner } from '../src/index.js';

const backends = (process.env.BACKENDS ?? 'wasm,onnx').split(',');
const fresh = process.env.FRESH === '1';
console.log('| runtime | network | table sum ms | measured ms | ratio |\n|---|---|---|---|---|');
for (const backend of backends) {
  const runner = backend === 'onnx' ? onnxRunner({ runs: 9 }) : tfjsRunner({ backend: 'wasm', runs: 9 });
  const table = new LatencyTable(runner, fresh ? { cacheFile: false } : {});
  for (const arch of ['fastdepth', 'fastdepth-pruned']) {
    const graph = buildArch(arch, { inputSize: 224 });
    const model: Model = { graph, weights: randomizeBatchNorm(graph, initWeights(graph, 1), 2) };
    const c = await checkLatencyTable(model, table);
    console.log(
      `| ${runner.backend} | ${arch} | ${c.estimated.toFixed(1)} | ${c.measured.toFixed(1)} | ${c.ratio.toFixed(3)} |`,
    );
    if (process.env.LAYERS === '1')
      for (const layer of latencyLayers(graph))
        console.log(`    ${layer.name.padEnd(18)} ${(await table.layerLatency(layer)).toFixed(2)} ms`);
  }
}
