// Micro-benchmarks of single kernels (development aid).
import { GraphBuilder } from '@fastdepth/graph-dsl';
import { emitWasm } from '../emit.js';
import { instantiate, randomInput, seededWeights } from './harness.js';
const cases: [string, (g: GraphBuilder) => void][] = [];
const add = (
  name: string,
  h: number,
  c: number,
  build: (g: GraphBuilder, x: ReturnType<GraphBuilder['input']>) => ReturnType<GraphBuilder['input']>,
): void => {
  cases.push([
    name,
    (g) => {
      const x = g.input('input', [1, c, h, h]);
      g.output('depth', build(g, x));
    },
  ]);
};
const variant = (process.env.VARIANT ?? 'simd') as 'simd' | 'relaxed';
add('conv0 224 3->16', 224, 3, (g, x) =>
  g.relu6('r', g.conv2d('c', x, { outChannels: 16, kernel: 3, stride: 2, pads: 1, bias: true })),
);
add('dw5 56x56x120', 56, 120, (g, x) =>
  g.conv2d('dw', x, { outChannels: 120, kernel: 5, pads: 2, groups: 120, bias: true }),
);
add('dw3 14x14x376', 14, 376, (g, x) =>
  g.conv2d('dw', x, { outChannels: 376, kernel: 3, pads: 1, groups: 376, bias: true }),
);
add('pw 56x56 120->56', 56, 120, (g, x) => g.conv2d('pw', x, { outChannels: 56, kernel: 1, bias: true }));
add('pw 14x14 376->272', 14, 376, (g, x) => g.conv2d('pw', x, { outChannels: 272, kernel: 1, bias: true }));
add('pw 56x56 120->56 +relu', 56, 120, (g, x) =>
  g.relu('r', g.conv2d('pw', x, { outChannels: 56, kernel: 1, bias: true })),
);
for (const [name, build] of cases) {
  const g = new GraphBuilder('m');
  build(g);
  const graph = g.build();
  const weights = seededWeights(graph, 1);
  const art = emitWasm({ graph, weights });
  const inst = await instantiate(art, variant);
  inst.writeInput(randomInput(art.manifest.input.shape, 1));
  const s = art.manifest.stages;
  const times: number[] = [];
  for (let r = 0; r < 30; r++) {
    const t = performance.now();
    inst.runStage(1, 0, s[1]!.rows, 0);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const ms = times[15]!;
  console.log(
    name.padEnd(28),
    s[1]!.kind,
    ms.toFixed(3),
    'ms',
    ((2 * s[1]!.macs) / ms / 1e6).toFixed(1),
    'GFLOP/s',
  );
}
