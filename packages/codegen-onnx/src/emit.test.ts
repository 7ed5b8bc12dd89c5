/** The emitted model's metadata, names and error handling (decoded back from its bytes). */
import {
  FastDepthError,
  FormatError,
  GraphBuilder,
  initWeights,
  paramSpecs,
  WeightsError,
  type Graph,
  type Model,
} from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import {
  checkOpset,
  decodeOnnx,
  DEFAULT_OPSET,
  emitOnnx,
  encodeOnnx,
  irVersionForOpset,
  PRODUCER_NAME,
  SUPPORTED_OPSETS,
  type OnnxEmitOptions,
} from './emit.js';
import { proto, toNumber } from './proto.js';
import { floatData, viewGraph, type GraphView } from './testing/view.js';
import { PACKAGE_VERSION } from './version.js';

function tinyGraph(): Graph {
  const g = new GraphBuilder('tiny-net', { width: 0.5 });
  const x = g.input('input', [1, 3, 8, 8]);
  const c = g.relu6(
    'conv0_relu',
    g.batchNorm('conv0_bn', g.conv2d('conv0', x, { outChannels: 4, kernel: 3, pads: 1, stride: 2 })),
  );
  const u = g.upsample('up', c, 'nearest');
  const p = g.unpool('unpool', g.conv2d('head', u, { outChannels: 1, kernel: 1, bias: true }));
  g.output('depth', p);
  return g.build();
}

/** The graph as it reads back from the encoded bytes. */
function decodedGraph(model: Model, options: OnnxEmitOptions = {}): GraphView {
  return viewGraph(decodeOnnx(encodeOnnx(model, options)));
}

describe('emitted model metadata', () => {
  const graph = tinyGraph();
  const weights = initWeights(graph, 7);

  it('opset, IR version, producer and doc string survive encoding', () => {
    expect(SUPPORTED_OPSETS).toEqual([13, 14, 15, 16, 17]);
    expect(DEFAULT_OPSET).toBe(13);
    for (const opset of SUPPORTED_OPSETS) {
      const m = decodeOnnx(encodeOnnx({ graph, weights }, { opset }));
      expect(m.opsetImport.map((o) => [o.domain, toNumber(o.version)])).toEqual([['', opset]]);
      expect(toNumber(m.irVersion)).toBe(opset <= 14 ? 7 : 8);
      expect(toNumber(m.irVersion)).toBe(irVersionForOpset(opset));
      expect(m.producerName).toBe(PRODUCER_NAME);
      expect(m.producerName).toBe('fastdepth-toolkit');
      expect(m.producerVersion).toBe(PACKAGE_VERSION);
      expect(m.docString).toContain('tiny-net');
      expect(m.docString).toContain(`opset ${opset}`);
    }
    const m = decodeOnnx(encodeOnnx({ graph, weights }));
    expect(toNumber(m.opsetImport[0]!.version)).toBe(13);
    expect(toNumber(m.irVersion)).toBe(7);
  });

  it('doc string and metadata say whether BatchNorm is kept or folded; a given doc string comes first', () => {
    const kept = emitOnnx({ graph, weights });
    const folded = emitOnnx({ graph, weights }, { foldBatchNorm: true });
    expect(kept.docString).toContain('BatchNorm kept');
    expect(folded.docString).toContain('BatchNorm folded');
    const props = (m: typeof kept): Record<string, string> =>
      Object.fromEntries(m.metadataProps.map((p): [string, string] => [p.key ?? '', p.value ?? '']));
    expect(props(kept)).toEqual({ arch: 'tiny-net', batch_norm: 'kept', 'meta.width': '0.5' });
    expect(props(folded)['batch_norm']).toBe('folded');
    const custom = emitOnnx({ graph, weights }, { docString: 'custom' }).docString.split('\n');
    expect(custom).toEqual(['custom', kept.docString]);
  });

  it('graph, inputs, outputs, initializers and nodes carry the DSL names', () => {
    const g = decodedGraph({ graph, weights });
    expect(g.name).toBe('tiny-net');
    const FLOAT = proto.TensorProto.DataType.FLOAT;
    expect(g.inputs).toEqual([{ name: 'input', elemType: FLOAT, dims: [1, 3, 8, 8] }]);
    expect(g.outputs).toEqual([{ name: 'depth', elemType: FLOAT, dims: [1, 1, 16, 16] }]);

    const initNames = g.initializers.map((t) => t.name);
    const weightNames = paramSpecs(graph).map((p) => p.name);
    expect(weightNames).toEqual([
      'conv0.weight',
      'conv0_bn.weight',
      'conv0_bn.bias',
      'conv0_bn.running_mean',
      'conv0_bn.running_var',
      'head.weight',
      'head.bias',
    ]);
    expect(initNames.filter((n) => weightNames.includes(n))).toEqual(weightNames);
    // The other initializers are op constants, named after their layer.
    expect(initNames.filter((n) => !weightNames.includes(n)).sort()).toEqual(
      ['conv0_relu.max', 'conv0_relu.min', 'up.scales', 'unpool.axes', 'unpool.pads', 'unpool.shape'].sort(),
    );
    const w = g.initializers.find((t) => t.name === 'conv0.weight')!;
    expect(w.dims).toEqual([4, 3, 3, 3]);
    expect(w.dataType).toBe(FLOAT);
    expect(floatData(w)).toEqual(weights.get('conv0.weight')!.data);

    expect(g.nodes.map((n) => [n.name, n.opType])).toEqual([
      ['conv0', 'Conv'],
      ['conv0_bn', 'BatchNormalization'],
      ['conv0_relu', 'Clip'],
      ['up', 'Resize'],
      ['head', 'Conv'],
      ['unpool/unsqueeze', 'Unsqueeze'],
      ['unpool/pad', 'Pad'],
      ['unpool', 'Reshape'],
    ]);
    // The last layer writes the graph output directly; no Identity.
    expect(g.nodes.at(-1)!.output).toEqual(['depth']);
    expect(g.valueInfo.map((v) => [v.name, v.dims])).toEqual([
      ['conv0', [1, 4, 4, 4]],
      ['conv0_bn', [1, 4, 4, 4]],
      ['conv0_relu', [1, 4, 4, 4]],
      ['up', [1, 4, 8, 8]],
      ['head', [1, 1, 8, 8]],
    ]);
  });

  it('writes the attributes the traps are about', () => {
    const g = decodedGraph({ graph, weights });
    const attrs = (name: string): Record<string, unknown> => g.nodes.find((n) => n.name === name)!.attrs;
    expect(attrs('conv0')).toEqual({
      kernel_shape: [3, 3],
      strides: [2, 2],
      pads: [1, 1, 1, 1],
      dilations: [1, 1],
      group: 1,
    });
    expect(attrs('up')).toEqual({
      mode: 'nearest',
      coordinate_transformation_mode: 'asymmetric',
      nearest_mode: 'floor',
    });
    expect(g.nodes.find((n) => n.name === 'up')!.input).toEqual(['conv0_relu', '', 'up.scales']);
    expect(g.nodes.find((n) => n.name === 'conv0_relu')!.input).toEqual([
      'conv0_bn',
      'conv0_relu.min',
      'conv0_relu.max',
    ]);
    expect(attrs('conv0_bn')['epsilon']).toBeCloseTo(1e-5, 10);
  });

  it('folding removes the BN node and its tensors and gives the conv a bias', () => {
    const g = decodedGraph({ graph, weights }, { foldBatchNorm: true });
    expect(g.nodes.map((n) => n.name)).not.toContain('conv0_bn');
    const names = g.initializers.map((t) => t.name);
    expect(names).toContain('conv0.bias');
    expect(names.filter((n) => n.startsWith('conv0_bn.'))).toEqual([]);
    expect(g.nodes.find((n) => n.name === 'conv0')!.input).toEqual(['input', 'conv0.weight', 'conv0.bias']);
    expect(g.nodes.find((n) => n.name === 'conv0_relu')!.input[0]).toBe('conv0');
  });
});

describe('bad input', () => {
  const graph = tinyGraph();
  const weights = initWeights(graph, 7);

  it('rejects opsets outside 13..17, naming the value and the range', () => {
    for (const opset of [12, 18, 13.5, Number.NaN]) {
      expect(() => emitOnnx({ graph, weights }, { opset })).toThrow(FastDepthError);
      expect(() => emitOnnx({ graph, weights }, { opset })).toThrow(
        new RegExp(`opset ${String(opset)} .*13 to 17`),
      );
    }
    expect(() => checkOpset(12)).toThrow('ONNX opset 12 is not supported: choose an integer from 13 to 17');
    expect(checkOpset(17)).toBe(17);
  });

  it('rejects weights missing a tensor, naming it', () => {
    const missing = new Map(weights);
    missing.delete('conv0_bn.running_var');
    for (const foldBatchNorm of [false, true]) {
      expect(() => emitOnnx({ graph, weights: missing }, { foldBatchNorm })).toThrow(WeightsError);
      expect(() => emitOnnx({ graph, weights: missing }, { foldBatchNorm })).toThrow('conv0_bn.running_var');
    }
  });

  it('rejects weights of the wrong shape or with NaN, naming the tensor', () => {
    const wrong = new Map(weights);
    wrong.set('head.weight', { shape: [1, 4, 1, 2], data: new Float32Array(8) });
    expect(() => emitOnnx({ graph, weights: wrong })).toThrow(/head\.weight.*1x4x1x2/);
    const nan = new Map(weights);
    nan.set('head.bias', { shape: [1], data: Float32Array.of(Number.NaN) });
    expect(() => emitOnnx({ graph, weights: nan })).toThrow(/head\.bias.*not finite/);
  });

  it('rejects a broken graph naming the layer', () => {
    const broken: Graph = {
      ...graph,
      nodes: graph.nodes.map((n) => (n.name === 'up' ? { ...n, inputs: ['nowhere'] } : n)),
    };
    expect(() => emitOnnx({ graph: broken, weights })).toThrow(/layer "up".*nowhere/);
  });

  it('decodeOnnx rejects bytes that are not a model, naming the file', () => {
    expect(() => decodeOnnx(Uint8Array.of(0xff, 0xff, 0xff), 'x.onnx')).toThrow(FormatError);
    expect(() => decodeOnnx(Uint8Array.of(0xff, 0xff, 0xff), 'x.onnx')).toThrow(
      /^x\.onnx: not an ONNX model/,
    );
    expect(() => decodeOnnx(new Uint8Array(0), 'empty.onnx')).toThrow(
      'empty.onnx: not an ONNX model (no graph)',
    );
  });
});
