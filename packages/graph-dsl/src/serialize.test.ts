import { describe, expect, it } from 'vitest';
import { GraphBuilder } from './builder.js';
import { FormatError } from './errors.js';
import type { Graph } from './ir.js';
import { commentText, quote } from './names.js';
import { loadGraph, saveGraph } from './serialize.js';

function tiny(): Graph {
  const g = new GraphBuilder('tiny', { arch: 'tiny', inputSize: 16 });
  const x = g.input('input', [1, 3, 16, 16]);
  const c = g.conv2d('conv0', x, { outChannels: 4, kernel: 3, stride: 2, pads: 1 });
  const b = g.relu6('conv0_relu', g.batchNorm('conv0_bn', c));
  g.output('depth', g.upsample('up', b, 'bilinear'));
  return g.build();
}

type RawGraph = Record<string, unknown> & { nodes: Record<string, unknown>[] };

const mutate = (f: (raw: RawGraph) => void): string => {
  const raw = JSON.parse(saveGraph(tiny())) as RawGraph;
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

/** Names that would end a comment, a line or a string literal in some emitted language. */
const HOSTILE = [
  "x */ import('node:fs').then(f=>f.writeFileSync('PWNED','1')); /* y",
  'two\nlines',
  'say "hi"',
  "it's",
  'back\\slash',
  'tmpl${process.exit(1)}',
  "py'''",
  'py"""',
  'sep\u2028line',
  '../escape',
  '-option',
  '',
];

describe('names are data, never code', () => {
  it('refuses a hostile graph name with one line naming the field and the value, escaped', () => {
    for (const name of HOSTILE) {
      const text = mutate((r) => (r.name = name));
      let message = '';
      try {
        loadGraph(text, 'g.json');
      } catch (e) {
        expect(e).toBeInstanceOf(FormatError);
        message = (e as Error).message;
      }
      expect(message).toMatch(/^g\.json: field "name"(: graph names)? must be /);
      expect(message).not.toMatch(/[\n\r\u2028\u2029]/);
      if (name !== '') expect(message).toContain(`found ${quote(name)}`);
    }
  });

  it('refuses a hostile layer name (declared or used as an input) and a hostile meta.arch', () => {
    for (const name of HOSTILE) {
      const messages: string[] = [];
      for (const edit of [
        (r: RawGraph): unknown => (r.nodes[1]!.name = name),
        (r: RawGraph): unknown => (r.nodes[2]!.inputs = [name]),
        (r: RawGraph): unknown => (r.meta = { arch: name }),
      ]) {
        try {
          loadGraph(mutate(edit), 'g.json');
          messages.push('loaded');
        } catch (e) {
          expect(e).toBeInstanceOf(FormatError);
          messages.push((e as Error).message);
        }
      }
      const [declared, input, arch] = messages as [string, string, string];
      expect(declared).toMatch(/^g\.json: nodes\[1\]: field "name"(: layer names)? must be /);
      expect(input).toMatch(/^g\.json: layer "conv0_bn": unknown input /);
      expect(arch).toMatch(/^g\.json: field "meta\.arch": graph names must be plain file names/);
      for (const m of messages) expect(m).not.toMatch(/[\n\r\u2028\u2029]/);
      if (name !== '') {
        expect(declared).toContain(`found ${quote(name)}`);
        expect(input).toContain(quote(name));
      }
    }
  });

  it('accepts the names the family and saved variants use', () => {
    for (const name of [
      'fastdepth-pruned',
      'mobilenet-nnconv5dw-skipadd',
      'fastdepth-pruned.iter-003',
      'tiny_2',
    ]) {
      const g = loadGraph(
        mutate((r) => {
          r.name = name;
          r.meta = { arch: name };
        }),
        'g.json',
      );
      expect(g.name).toBe(name);
    }
  });

  it('quote and commentText keep plain names as they are and escape everything else', () => {
    expect(quote('conv0')).toBe('"conv0"');
    expect(commentText('fastdepth-pruned')).toBe('fastdepth-pruned');
    for (const name of HOSTILE) {
      expect(JSON.parse(quote(name))).toBe(name);
      expect(quote(name)).not.toMatch(/[\n\r\u2028\u2029]/);
      const c = commentText(name);
      expect(c).toMatch(/^[\x20-\x7e]*$/);
      expect(c).not.toContain('*/');
    }
  });
});
