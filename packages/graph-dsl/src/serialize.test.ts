import { describe, expect, it } from 'vitest';
import { GraphBuilder } from './builder.js';
import { FormatError } from './errors.js';
import type { Graph } from './ir.js';
import { loadGraph, saveGraph } from './serialize.js';

function tiny(): Graph {
  const g = new GraphBuilder('tiny', { arch: 'tiny', inputSize: 16 });
  const x = g.input('input', [1, 3, 16, 16]);
  const c = g.conv2d('conv0', x, { outChannels: 4, kernel: 3, stride: 2, pads: 1 });
  const b = g.relu6('conv0_relu', g.batchNorm('conv0_bn', c));
  g.output('depth', g.upsample('up', b, 'bilinear'));
  return g.build();
}

const mutate = (f: (raw: Record<string, unknown> & { nodes: Record<string, unknown>[] }) => void): string => {
  const raw = JSON.parse(saveGraph(tiny())) as Record<string, unknown> & { nodes: Record<string, unknown>[] };
  f(raw);
  return JSON.stringify(raw);
};

describe('graph JSON', () => {
  it('round-trips exactly', () => {
    const graph = tiny();
    const text = saveGraph(graph);
    const back = loadGraph(text, 'tiny.json');
    expect(back).toEqual(graph);
    expect(saveGraph(back)).toBe(text);
  });

  it('rejects non-JSON and other formats, naming the file', () => {
    expect(() => loadGraph('{nope', 'g.json')).toThrow(FormatError);
    expect(() => loadGraph('{nope', 'g.json')).toThrow(/^g\.json: not valid JSON/);
    expect(() =>
      loadGraph(
        mutate((r) => (r.format = 'onnx')),
        'g.json',
      ),
    ).toThrow(/g\.json: field "format" must be "fastdepth-graph"/);
  });

  it('rejects unknown versions', () => {
    expect(() =>
      loadGraph(
        mutate((r) => (r.version = 2)),
        'g.json',
      ),
    ).toThrow(/unsupported graph format version 2/);
  });

  it('rejects unknown ops, naming the layer', () => {
    expect(() =>
      loadGraph(
        mutate((r) => (r.nodes[1]!.op = 'gelu')),
        'g.json',
      ),
    ).toThrow(/layer "conv0": unknown op "gelu"/);
  });

  it('rejects malformed nodes and attributes', () => {
    expect(() =>
      loadGraph(
        mutate((r) => delete r.nodes[1]!.attrs),
        'g.json',
      ),
    ).toThrow(/layer "conv0": field "attrs" must be an object/);
    expect(() =>
      loadGraph(
        mutate((r) => ((r.nodes[1]!.attrs as Record<string, unknown>).kernel = [3])),
        'g.json',
      ),
    ).toThrow(/layer "conv0": attribute "kernel" must be 2 positive integers/);
    expect(() =>
      loadGraph(
        mutate((r) => (r.nodes[2]!.inputs = ['nowhere'])),
        'g.json',
      ),
    ).toThrow(/layer "conv0_bn": unknown input "nowhere"/);
    expect(() =>
      loadGraph(
        mutate((r) => (r.nodes = r.nodes.filter((n) => n.op !== 'output'))),
        'g.json',
      ),
    ).toThrow(/no output layer/);
    expect(() =>
      loadGraph(
        mutate((r) => ((r.nodes[0]!.attrs as Record<string, unknown>).shape = [1, 3, 15, 16])),
        'g.json',
      ),
    ).toThrow(/layer "conv0": input 15x16 is not divisible by stride 2x2/);
  });
});
