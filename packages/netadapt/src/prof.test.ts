import { buildArch } from '@fastdepth/fastdepth-arch';
import { initWeights, randomTensor } from '@fastdepth/graph-dsl';
import { it } from 'vitest';
import { tf, useTfBackend } from './tf-backend.js';
import { nchwToNhwcTensor, TfGraph } from './tf-graph.js';
it('prof', async () => {
  await useTfBackend('cpu');
  const graph = buildArch('fastdepth', { inputSize: 32 });
  let t = performance.now();
  const weights = initWeights(graph, 5);
  console.log('init', performance.now() - t); t = performance.now();
  const net = new TfGraph({ graph, weights });
  console.log('create', performance.now() - t); t = performance.now();
  const input = randomTensor([1,3,32,32], 2);
  for (let i = 0; i < 3; i++) {
    const y = tf.tidy(() => net.forward(nchwToNhwcTensor(input.data, [1,3,32,32])));
    await y.data(); y.dispose();
    console.log('fwd', performance.now() - t); t = performance.now();
  }
  net.toWeights();
  console.log('back', performance.now() - t); t = performance.now();
});
