import { GraphBuilder, initWeights } from '@fastdepth/graph-dsl';
import { emitOnnx, proto } from './src/index.js';
import { createSession } from './src/testing/ort.js';
const g = new GraphBuilder('t');
const x = g.input('input', [1, 2, 4, 4]);
g.output('out', g.relu('r', x));
const graph = g.build();
for (const [opset, ir] of [[17, 7], [17, 6], [13, 6], [13, 7], [17, 8]] as const) {
  const m = emitOnnx({ graph, weights: initWeights(graph) }, { opset });
  m.irVersion = ir;
  try { await createSession(proto.ModelProto.encode(m).finish()); console.log(opset, ir, 'ok'); } catch (e) { console.log(opset, ir, 'ERR', (e as Error).message.slice(0, 150)); }
}
