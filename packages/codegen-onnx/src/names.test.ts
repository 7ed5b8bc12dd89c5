// Names are data, never code: in ONNX the graph name is a protobuf string (kept exactly, as
// data); where it is shown as text (the doc string) it stays on its line, escaped.
import { GraphBuilder, GraphError, initWeights, type Graph } from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { decodeOnnx, emitOnnx, encodeOnnx } from './emit.js';
import { runOnnx } from './testing/ort.js';

const HOSTILE = [
  "x */ import('node:fs').then(f=>f.writeFileSync('PWNED','1')); /* y",
  'x\nfake second line',
  'x\r\nfake',
  'x\u2028fake',
  'x\'\'\'""" \\ ${process.exit(1)}',
];

function tiny(name: string): Graph {
  const g = new GraphBuilder(name);
  const x = g.input('input', [1, 3, 8, 8]);
  g.output('depth', g.relu('r', g.conv2d('conv0', x, { outChannels: 2, kernel: 3, pads: 1 })));
  return g.build();
}

describe('hostile names in the ONNX model', () => {
  it('keeps a hostile graph name exactly as data, one doc string line, and onnxruntime runs the model', async () => {
    const weights = initWeights(tiny('tiny'), 3);
    const input = { shape: [1, 3, 8, 8], data: Float32Array.from({ length: 192 }, (_, i) => (i % 7) / 7) };
    const plain = await runOnnx(encodeOnnx({ graph: tiny('tiny'), weights }), input);
    for (const name of HOSTILE) {
      const m = decodeOnnx(encodeOnnx({ graph: tiny(name), weights }, { docString: 'first line' }));
      expect(m.graph?.name).toBe(name);
      expect(m.metadataProps.find((p) => p.key === 'arch')?.value).toBe(name);
      const lines = m.docString.split(/\r\n|\r|\n|\u2028/);
      expect(lines).toHaveLength(2);
      expect(lines[0]).toBe('first line');
      expect(lines[1]).toMatch(/^[\x20-\x7e]+: exported by fastdepth-toolkit /);
      expect(lines[1]).not.toContain('*/');
      const out = await runOnnx(encodeOnnx({ graph: tiny(name), weights }), input);
      expect(out.data).toEqual(plain.data);
    }
  });

  it('refuses a hostile layer name with one line', () => {
    const graph = tiny('tiny');
    const weights = initWeights(graph, 3);
    for (const name of HOSTILE) {
      const nodes = graph.nodes.map((n) =>
        n.name === 'conv0'
          ? { ...n, name }
          : { ...n, inputs: n.inputs.map((i) => (i === 'conv0' ? name : i)) },
      );
      const run = (): unknown => emitOnnx({ graph: { ...graph, nodes }, weights });
      expect(run).toThrow(GraphError);
      expect(run).toThrow(/^layer ".*": layer names must be identifiers/);
      expect(run).not.toThrow(/[\n\r\u2028]/);
    }
  });
});
