import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import {
  foldBatchNorm,
  GraphBuilder,
  GraphError,
  initWeights,
  type Graph,
  type Model,
} from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { emitRelay, relayParams, RELAY_VERSION_HEADER } from './emit-relay.js';
import { OP_GRAPHS } from './testing/graphs.js';
import { parseRelay, relayToGraph, typeMismatches } from './testing/relay-parser.js';

const GOLDEN_DIR = new URL('./__golden__/', import.meta.url);
const UPDATE = process.env.UPDATE_GOLDEN === '1';

function model(graph: Graph, seed = 1): Model {
  return { graph, weights: initWeights(graph, seed) };
}

function golden(file: string, actual: string): void {
  const url = new URL(file, GOLDEN_DIR);
  if (UPDATE || !existsSync(url)) {
    if (!UPDATE) throw new Error(`golden ${file} is missing; run with UPDATE_GOLDEN=1 to create it`);
    mkdirSync(GOLDEN_DIR, { recursive: true });
    writeFileSync(url, actual);
  }
  expect(actual).toBe(readFileSync(url, 'utf8'));
}

/** Variable names (`%x`, not `%3`) appearing anywhere in the text. */
function variables(text: string): string[] {
  return [...text.matchAll(/%([A-Za-z_][A-Za-z0-9_.]*)/g)].map((m) => m[1]!);
}

describe('emitRelay goldens', () => {
  for (const [name, graph] of Object.entries(OP_GRAPHS)) {
    it(`${name} matches its golden`, () => golden(`${name}.relay`, emitRelay(model(graph))));
    if (graph.nodes.some((n) => n.op === 'batchNorm')) {
      it(`${name} with folded BN matches its golden`, () =>
        golden(`${name}.folded.relay`, emitRelay(model(graph), { foldBatchNorm: true })));
    }
  }
});

describe('Relay text traps (FASTDEPTH.md section 6)', () => {
  const texts = Object.values(OP_GRAPHS).flatMap((g) => [
    emitRelay(model(g)),
    emitRelay(model(g), { foldBatchNorm: true }),
  ]);

  it('starts with the version header', () => {
    for (const t of texts) expect(t.split('\n')[0]).toBe(RELAY_VERSION_HEADER);
  });

  it('has no . in variable names', () => {
    for (const t of texts) for (const v of variables(t)) expect(v).not.toContain('.');
  });

  it('writes every float with an f suffix and every attribute the reader requires', () => {
    // The strict reader rejects a missing or extra attribute and an int where a float belongs.
    for (const t of texts) expect(() => relayToGraph(parseRelay(t))).not.toThrow();
    const all = texts.join('\n');
    expect(all).toMatch(/clip\(%\d+, a_min=0f, a_max=6f\)/);
    expect(all).toMatch(/epsilon=1e-05f|epsilon=0\.00001f/);
    expect(all).toContain('scale_h=2f, scale_w=2f');
    expect(all).not.toMatch(/=\d+\.\d+(?!f|\d)/);
  });

  it('types every parameter and the result', () => {
    for (const t of texts) {
      const head = t.split('\n')[2]!;
      expect(head).toMatch(
        /^def @main\((%[A-Za-z0-9_]+: Tensor\[\([0-9, ]+\), float32\](, )?)+\) -> Tensor\[\([0-9, ]+\), float32\] \{$/,
      );
    }
  });

  it('the strict reader rejects an omitted attribute and an unsuffixed float', () => {
    const t = emitRelay(model(OP_GRAPHS.conv_bn_relu6!));
    expect(() => relayToGraph(parseRelay(t.replace(', dilation=[1, 1]', '')))).toThrow(/dilation/);
    expect(() => parseRelay(t.replace('a_max=6f', 'a_max=6.0'))).toThrow(/f suffix/);
    expect(() => relayToGraph(parseRelay(t.replace('a_max=6f', 'a_max=6')))).toThrow(/float literal/);
  });
});

describe('emitRelay round trip through the test reader', () => {
  for (const [name, graph] of Object.entries(OP_GRAPHS)) {
    it(`${name}: structure, attributes and shapes`, () => {
      const m = parseRelay(emitRelay(model(graph)));
      const lifted = relayToGraph(m);
      expect(lifted.graph).toEqual(graph);
      expect(typeMismatches(m, lifted)).toEqual([]);
    });
    it(`${name}: folded BN equals foldBatchNorm's graph`, () => {
      const mdl = model(graph);
      const m = parseRelay(emitRelay(mdl, { foldBatchNorm: true }));
      const lifted = relayToGraph(m);
      expect(lifted.graph).toEqual(foldBatchNorm(mdl).graph);
      expect(typeMismatches(m, lifted)).toEqual([]);
    });
  }
});

describe('relayParams', () => {
  it('names weights like the Relay parameters, in @main order', () => {
    const mdl = model(OP_GRAPHS.conv_bn_relu6!);
    const params = relayParams(mdl);
    expect([...params.keys()]).toEqual([
      'conv0_weight',
      'conv0_bn_weight',
      'conv0_bn_bias',
      'conv0_bn_running_mean',
      'conv0_bn_running_var',
    ]);
    expect(params.get('conv0_weight')).toBe(mdl.weights.get('conv0.weight'));
    const head = emitRelay(mdl).split('\n')[2]!;
    expect([...head.matchAll(/%([a-z0-9_]+):/g)].map((x) => x[1])).toEqual(['input', ...params.keys()]);
  });

  it('folded: conv weight and bias only', () => {
    expect([...relayParams(model(OP_GRAPHS.conv_bn_relu6!), { foldBatchNorm: true }).keys()]).toEqual([
      'conv0_weight',
      'conv0_bias',
    ]);
  });
});

describe('name errors name the layer', () => {
  it('rejects a layer named like a Relay keyword', () => {
    const b = new GraphBuilder('kw');
    b.output('out', b.relu('fn', b.input('input', [1, 1, 2, 2])));
    const g = b.build();
    const renamed: Graph = {
      ...g,
      nodes: g.nodes.map((n) =>
        n.name === 'input'
          ? { ...n, name: 'match' }
          : n.inputs[0] === 'input'
            ? { ...n, inputs: ['match'] }
            : n,
      ),
    };
    expect(() => emitRelay({ graph: renamed, weights: new Map() })).toThrow(GraphError);
    expect(() => emitRelay({ graph: renamed, weights: new Map() })).toThrow(/layer "match".*keyword/);
  });

  it('rejects two tensors mapping to one Relay name', () => {
    const b = new GraphBuilder('clash');
    const x = b.input('conv_weight', [1, 1, 4, 4]);
    b.output('out', b.conv2d('conv', x, { outChannels: 1, kernel: 1 }));
    expect(() => emitRelay(model(b.build()))).toThrow(/%conv_weight would also name conv_weight/);
  });
});

describe('Relay for the mobile-network ops', () => {
  it('sigmoid, hard sigmoid/swish, clip, squeeze-excite mul and both pools parse with every attribute', () => {
    const g = new GraphBuilder('mobile_ops');
    const x = g.input('input', [1, 8, 6, 6]);
    const act = g.clip('cl', g.hardSwish('hw', g.sigmoid('sg', x)), -1, 2.5);
    const gate = g.hardSigmoid(
      'hs',
      g.conv2d('excite', g.globalAvgPool('gap', act), { outChannels: 8, kernel: 1 }),
    );
    g.output(
      'out',
      g.avgPool2d('ap', g.mul('m', act, gate), { kernel: 3, stride: 1, pads: 1, countIncludePad: false }),
    );
    const text = emitRelay(model(g.build()));
    const mod = parseRelay(text);
    const calls = mod.bindings.map((b) => (b.expr.kind === 'call' ? b.expr.op : b.expr.kind));
    expect(calls).toEqual([
      'sigmoid',
      // hard swish: x * relu6(x + 3) / 6
      'add',
      'clip',
      'divide',
      'multiply',
      'clip',
      'nn.global_avg_pool2d',
      'nn.conv2d',
      // hard sigmoid
      'add',
      'clip',
      'divide',
      'multiply',
      'nn.avg_pool2d',
    ]);
    const pool = mod.bindings.at(-1)!.expr;
    expect(pool.kind === 'call' && pool.attrs.get('count_include_pad')).toEqual({
      kind: 'bool',
      value: false,
    });
    const clip = mod.bindings[5]!.expr;
    expect(clip.kind === 'call' && [clip.attrs.get('a_min'), clip.attrs.get('a_max')]).toEqual([
      { kind: 'float', value: -1 },
      { kind: 'float', value: 2.5 },
    ]);
    expect(text).toMatch(/add\(%\d+, 3f\)/);
  });
});

describe('Relay for resize', () => {
  it('the scale form writes the size it makes, and reads back as that size', () => {
    const text = (
      o: { scale: [number, number] } | { size: [number, number] },
      mode: 'nearest' | 'bilinear',
    ) => {
      const g = new GraphBuilder('r');
      g.output('out', g.resize('r', g.input('input', [1, 2, 3, 5]), mode, o));
      return emitRelay(model(g.build()));
    };
    for (const mode of ['nearest', 'bilinear'] as const) {
      const t = text({ scale: [3, 2] }, mode);
      expect(t).toBe(text({ size: [9, 10] }, mode));
      expect(t).toContain('size=[9, 10]');
      expect(t).toContain(
        mode === 'nearest'
          ? 'method="nearest_neighbor", coordinate_transformation_mode="asymmetric", rounding_method="floor"'
          : 'method="linear", coordinate_transformation_mode="half_pixel", rounding_method=""',
      );
      const lifted = relayToGraph(parseRelay(t)).graph.nodes[1]!;
      expect(lifted).toEqual({ op: 'resize', name: 'r', inputs: ['input'], attrs: { mode, size: [9, 10] } });
    }
  });
});
