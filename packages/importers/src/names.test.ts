// Names are data, never code: names inside a model file (graph, nodes, values, initializers,
// doc string, metadata) never become names of ours: the import takes the architecture's own
// layer names and a family name; where a file's name appears in an error, it is quoted on one line.
import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';
import { encodeOnnx } from '@fastdepth/codegen-onnx';
import { FormatError, initWeights, isGraphName, isLayerName } from '@fastdepth/graph-dsl';
import { buildArch, fastdepth } from '@fastdepth/fastdepth-arch';
import { describe, expect, it } from 'vitest';
import { importWeights } from './dispatch.js';
import { importOnnx } from './onnx/import.js';

const proto: typeof onnx = onnxProto.onnx;
const SMALL = {
  encoder: [8, 16, 16, 8, 16, 24, 16, 16, 16, 16, 16, 16, 24, 32],
  decoder: [16, 24, 8, 16, 8],
};
const HOSTILE = "x */ import('node:fs').then(f=>f.writeFileSync('PWNED','1')); /*\n'''\"\"\"\\${y}\u2028";

/** Every name in the file made hostile (each one distinct, so the graph still wires up). */
function hostileNames(bytes: Uint8Array): Uint8Array {
  const m = proto.ModelProto.decode(bytes);
  const g = m.graph as onnx.GraphProto;
  const initializers = g.initializer as unknown as onnx.TensorProto[];
  const nodes = g.node as unknown as onnx.NodeProto[];
  const rename = new Map<string, string>();
  const r = (s: string): string => {
    if (s === '') return s; // an omitted optional input
    if (!rename.has(s)) rename.set(s, `${HOSTILE}${rename.size}`);
    return rename.get(s)!;
  };
  for (const t of initializers) t.name = r(t.name);
  for (const n of nodes) {
    n.input = n.input.map(r);
    n.output = n.output.map(r);
    n.name = `${HOSTILE}node`;
  }
  for (const v of [...g.input, ...g.output, ...g.valueInfo]) v.name = r(v.name ?? '');
  g.name = HOSTILE;
  m.docString = HOSTILE;
  m.metadataProps = [{ key: 'arch', value: HOSTILE }];
  return proto.ModelProto.encode(m).finish();
}

describe('names from model files', () => {
  it('an ONNX file with hostile names everywhere imports under our names', () => {
    const original = { graph: fastdepth({ widths: SMALL, inputSize: 32 }), weights: new Map() };
    const model = { ...original, weights: initWeights(original.graph, 5) };
    const imported = importOnnx(hostileNames(encodeOnnx(model)), 'hostile.onnx');
    expect(imported.archName).toBe('fastdepth');
    expect(isGraphName(imported.model.graph.name)).toBe(true);
    expect(imported.model.graph.nodes.map((n) => n.name)).toEqual(model.graph.nodes.map((n) => n.name));
    expect(imported.model.graph.nodes.every((n) => isLayerName(n.name))).toBe(true);
    for (const [name, t] of model.weights) expect(imported.model.weights.get(name)!.data).toEqual(t.data);
  });

  it('an ONNX file that does not match says so in one line, its hostile names quoted', () => {
    const name = 'mobilenet-deconv3dw-skipconcat';
    const graph = buildArch(name, { inputSize: 32 });
    const bytes = hostileNames(encodeOnnx({ graph, weights: initWeights(graph, 1) }));
    const run = (): unknown => importOnnx(bytes, 'hostile.onnx', { arch: 'mobilenet-deconv5dw-skipconcat' });
    expect(run).toThrow(FormatError);
    expect(run).toThrow(
      /^hostile\.onnx: not a mobilenet-deconv5dw-skipconcat network: at layer "decode_conv1_dw"/,
    );
    expect(run).toThrow(JSON.stringify(`${HOSTILE}node`).replace('\u2028', '\\u2028'));
    expect(run).not.toThrow(/[\n\r\u2028]/);
  });

  it('a graph handed to the importers must have a plain name: it becomes the artifact name', () => {
    const graph = fastdepth({ widths: SMALL, inputSize: 32 });
    const bytes = encodeOnnx({ graph, weights: initWeights(graph, 2) });
    for (const bad of [
      { ...graph, name: HOSTILE, meta: {} },
      { ...graph, meta: { ...graph.meta, arch: '../x' } },
    ]) {
      for (const run of [
        () => importOnnx(bytes, 'g.onnx', { graph: bad }),
        () => importWeights(bytes, { source: 'g.onnx', graph: bad }),
      ]) {
        expect(run).toThrow(FormatError);
        expect(run).toThrow(/^g\.onnx: the architecture name ".*" must be a plain file name/);
        expect(run).not.toThrow(/[\n\r\u2028]/);
      }
    }
  });
});
