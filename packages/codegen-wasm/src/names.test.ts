// Names are data, never code: the artifact name becomes file names, so it must be a plain file
// name (one-line error otherwise); the graph name itself goes into no file.
import { FastDepthError, GraphBuilder, GraphError, type Graph } from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { emitWasm, wasmArtifactFiles } from './emit.js';
import { seededWeights } from './testing/harness.js';

const HOSTILE = [
  "x */ import('node:fs').then(f=>f.writeFileSync('PWNED','1')); /* y",
  '../../outside',
  '/etc/passwd',
  'x\nfake',
  'x\u2028fake',
  'x\'\'\'""" \\ ${process.exit(1)}',
];

function tiny(name: string, meta?: Record<string, string>): Graph {
  const g = new GraphBuilder(name, meta);
  const x = g.input('input', [1, 3, 8, 8]);
  g.output('depth', g.relu('r', g.conv2d('c', x, { outChannels: 1, kernel: 3, pads: 1, bias: true })));
  return g.build();
}

const weights = seededWeights(tiny('tiny'), 1);

describe('hostile names in the wasm artifact', () => {
  it('refuses an artifact name that is not a plain file name, in one line naming where it came from', () => {
    for (const name of HOSTILE) {
      const cases: [() => unknown, string][] = [
        [() => emitWasm({ graph: tiny(name), weights }), 'the graph name'],
        [() => emitWasm({ graph: tiny('tiny', { arch: name }), weights }), "the graph's meta.arch"],
        [() => emitWasm({ graph: tiny('tiny'), weights }, { arch: name }), 'option "arch"'],
      ];
      for (const [run, where] of cases) {
        expect(run).toThrow(FastDepthError);
        expect(run).toThrow(`wasm target: the artifact name (${where}) must be a plain file name`);
        expect(run).toThrow(`found ${JSON.stringify(name).replace('\u2028', '\\u2028')}`);
        expect(run).not.toThrow(/[\n\r\u2028]/);
      }
    }
  });

  it('a hostile graph name reaches neither file names nor the manifest when the artifact is named plainly', () => {
    for (const name of HOSTILE) {
      const artifact = emitWasm({ graph: tiny(name), weights }, { arch: 'tiny' });
      const files = wasmArtifactFiles(artifact);
      expect(files.map((f) => f.path).every((p) => /^tiny\.[a-z.-]+$/.test(p))).toBe(true);
      const manifest = new TextDecoder().decode(files[0]!.data);
      expect(JSON.parse(manifest)).toEqual(artifact.manifest);
      expect(manifest).not.toContain(name);
    }
  });

  it('refuses a hostile layer name with one line', () => {
    const graph = tiny('tiny');
    for (const name of HOSTILE) {
      const nodes = graph.nodes.map((n) =>
        n.name === 'c' ? { ...n, name } : { ...n, inputs: n.inputs.map((i) => (i === 'c' ? name : i)) },
      );
      const run = (): unknown => emitWasm({ graph: { ...graph, nodes }, weights });
      expect(run).toThrow(GraphError);
      expect(run).toThrow(/^layer ".*": layer names must be identifiers/);
      expect(run).not.toThrow(/[\n\r\u2028]/);
    }
  });
});
