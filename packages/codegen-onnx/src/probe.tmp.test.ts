import { buildArch } from '@fastdepth/fastdepth-arch';
import { execute, initWeights, analyze } from '@fastdepth/graph-dsl';
import { it } from 'vitest';
it('probe', () => {
  for (const name of ['fastdepth', 'fastdepth-pruned']) {
    const g = buildArch(name);
    const s = analyze(g);
    console.log(name, g.nodes.length, JSON.stringify(s).slice(0, 200));
    const w = initWeights(g, 1);
    const t0 = performance.now();
    const x = { shape: [1, 3, 224, 224], data: new Float32Array(3 * 224 * 224).fill(0.5) };
    execute(g, w, { input: x });
    console.log('exec ms', performance.now() - t0);
  }
});
