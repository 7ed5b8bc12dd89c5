import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';
import { encodeOnnx } from '@fastdepth/codegen-onnx';
import { execute, initWeights, type Graph, type Model } from '@fastdepth/graph-dsl';
import { buildArch as arch, fastdepth } from '@fastdepth/fastdepth-arch';
import { describe, expect, it } from 'vitest';
import { importOnnx } from './import.js';

const proto: typeof onnx = onnxProto.onnx;
const SMALL = {
  encoder: [8, 16, 16, 8, 16, 24, 16, 16, 16, 16, 16, 16, 24, 32],
  decoder: [16, 24, 8, 16, 8],
};

/** Weights with non-trivial BN statistics, so that a mix-up of BN tensors shows. */
function randomModel(graph: Graph, seed: number): Model {
  const weights = initWeights(graph, seed);
  let s = seed;
  const next = (): number => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (const [name, t] of weights) {
    if (name.endsWith('.running_var')) t.data.forEach((_, i) => (t.data[i] = 0.5 + next()));
    else if (name.endsWith('.running_mean') || (name.endsWith('.bias') && !name.includes('bn')))
      t.data.forEach((_, i) => (t.data[i] = next() - 0.5));
    else if (name.endsWith('_bn.weight') || name.endsWith('_bn.bias'))
      t.data.forEach((_, i) => (t.data[i] = next() + 0.25));
  }
  return { graph, weights };
}

function expectSameWeights(got: Model, want: Model): void {
  expect([...got.weights.keys()].sort()).toEqual([...want.weights.keys()].sort());
  for (const [name, t] of want.weights) {
    const g = got.weights.get(name)!;
    expect(g.shape, name).toEqual(t.shape);
    // A plain loop: deep equality on megabyte arrays is slow.
    const bad = t.data.findIndex((v, i) => !Object.is(v, g.data[i]));
    expect(bad, `${name} differs at ${bad}`).toBe(-1);
  }
}

function expectSameOutput(got: Model, want: Model, size: number): void {
  const input = {
    shape: [1, 3, size, size],
    data: Float64Array.from({ length: 3 * size * size }, (_, i) => ((i * 37) % 101) / 101),
  };
  // Compare before the final ReLU, which may zero everything for random weights.
  const a = execute(want.graph, want.weights, { input }, { keepIntermediates: true }).decode_conv6_bn!.data;
  const b = execute(got.graph, got.weights, { input }, { keepIntermediates: true }).decode_conv6_bn!.data;
  const scale = Math.max(...a.map(Math.abs));
  expect(scale).toBeGreaterThan(0);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-5 * scale);
}

/** Renames every initializer `onnx::Conv_<n>` and every value `/<n>`, as the PyTorch exporter does. */
function pytorchNames(bytes: Uint8Array): Uint8Array {
  const m = proto.ModelProto.decode(bytes);
  const g = m.graph as onnx.GraphProto;
  // Decoded messages are class instances; the generated typings only promise the interfaces.
  const initializers = g.initializer as unknown as onnx.TensorProto[];
  const nodes = g.node as unknown as onnx.NodeProto[];
  const outputs = new Set(g.output.map((x) => x.name ?? ''));
  const rename = new Map<string, string>();
  initializers.forEach((t, i) => rename.set(t.name, `onnx::Conv_${100 + i}`));
  nodes.forEach((n, i) => {
    for (const o of n.output) if (!outputs.has(o)) rename.set(o, `/${i}/Out`);
  });
  const r = (s: string): string => rename.get(s) ?? s;
  for (const t of initializers) t.name = r(t.name);
  for (const n of nodes) {
    n.input = n.input.map(r);
    n.output = n.output.map(r);
    n.name = `/node_${n.opType}_${n.name.length}`;
  }
  // Clip bounds as Constant nodes, as some exporter versions write them.
  for (const n of nodes.filter((x) => x.opType === 'Clip')) {
    for (const input of n.input.slice(1)) {
      const [t] = initializers.splice(
        initializers.findIndex((x) => x.name === input),
        1,
      );
      nodes.unshift(
        proto.NodeProto.create({
          opType: 'Constant',
          output: [input],
          attribute: [{ name: 'value', type: proto.AttributeProto.AttributeType.TENSOR, t: t ?? null }],
        }),
      );
    }
  }
  g.valueInfo = [];
  // Reverse the node list: the importer must sort it topologically itself.
  nodes.reverse();
  return proto.ModelProto.encode(m).finish();
}

describe('importOnnx', () => {
  it("imports our emitter's FastDepth (BN kept) with exactly the original weights", () => {
    const original = randomModel(fastdepth({ widths: SMALL, inputSize: 32 }), 11);
    const imported = importOnnx(encodeOnnx(original), 'small.onnx');
    expect(imported.archName).toBe('fastdepth');
    expect(imported.foldedBatchNorm).toBe(false);
    expect(imported.model.graph.meta?.widths).toBe(JSON.stringify(SMALL));
    expectSameWeights(imported.model, original);
  });

  it('matches by structure, not by names or node order', () => {
    const original = randomModel(fastdepth({ widths: SMALL, inputSize: 32 }), 12);
    const imported = importOnnx(pytorchNames(encodeOnnx(original)), 'renamed.onnx');
    expectSameWeights(imported.model, original);
  });

  it('imports a BN-folded file through identity BatchNorms', () => {
    const original = randomModel(fastdepth({ widths: SMALL, inputSize: 32 }), 13);
    const imported = importOnnx(encodeOnnx(original, { foldBatchNorm: true }), 'folded.onnx');
    expect(imported.foldedBatchNorm).toBe(true);
    const w = imported.model.weights;
    expect(w.get('conv0_bn.running_var')!.data.every((v) => v === Math.fround(1 - 1e-5))).toBe(true);
    expect(w.get('conv0_bn.weight')!.data.every((v) => v === 1)).toBe(true);
    expectSameOutput(imported.model, original, 32);
  });

  it('recognises the published widths as fastdepth-pruned', () => {
    const original = randomModel(arch('fastdepth-pruned', { inputSize: 32 }), 14);
    const imported = importOnnx(encodeOnnx(original), 'pruned.onnx');
    expect(imported.archName).toBe('fastdepth-pruned');
    expectSameWeights(imported.model, original);
  });

  it('matches another family network layer by layer when the arch is named', () => {
    const name = 'mobilenet-deconv3dw-skipconcat';
    const original = randomModel(arch(name, { inputSize: 32 }), 15);
    const bytes = encodeOnnx(original);
    // Without the name it is imported as a graph of its own, computing the same values.
    const standalone = importOnnx(bytes, 'nets/deconv.onnx');
    expect(standalone.standalone).toBe(true);
    expect(standalone.model.graph.name).toBe('deconv');
    const input = {
      shape: [1, 3, 32, 32],
      data: Float64Array.from({ length: 3 * 32 * 32 }, (_, i) => (i % 17) / 17),
    };
    const want = Object.values(execute(original.graph, original.weights, { input }))[0]!.data;
    const got = Object.values(execute(standalone.model.graph, standalone.model.weights, { input }))[0]!.data;
    expect(got.length).toBe(want.length);
    for (let i = 0; i < want.length; i++)
      expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-4 * (1 + Math.abs(want[i]!)));
    const imported = importOnnx(bytes, 'deconv.onnx', { arch: name });
    expect(imported.archName).toBe(name);
    expectSameWeights(imported.model, original);
    expect(() => importOnnx(bytes, 'deconv.onnx', { arch: 'mobilenet-deconv5dw-skipconcat' })).toThrow(
      /deconv\.onnx: not a mobilenet-deconv5dw-skipconcat network: at layer "decode_conv1_dw" \(transposed conv 5x5 .*\) the file has node "decode_conv1_dw" \(ConvTranspose\): transposed conv 3x3/,
    );
  });

  it('reads a PyTorch-style hand-built file: Clip bounds as initializers, Resize with scales', () => {
    // conv(3->4, no bias) -> BN -> Clip(0, 6) -> Resize x2 nearest, under onnx:: names.
    const f = (name: string, dims: number[], values: number[]): onnx.TensorProto =>
      proto.TensorProto.create({ name, dims, dataType: proto.TensorProto.DataType.FLOAT, floatData: values });
    const w = Array.from({ length: 4 * 3 * 9 }, (_, i) => Math.fround(Math.sin(i)));
    const nodes = [
      {
        opType: 'Conv',
        input: ['x', 'onnx::Conv_7'],
        output: ['/c'],
        attribute: [
          { name: 'kernel_shape', type: 7, ints: [3, 3] },
          { name: 'pads', type: 7, ints: [1, 1, 1, 1] },
          { name: 'strides', type: 7, ints: [2, 2] },
        ],
      },
      {
        opType: 'BatchNormalization',
        input: ['/c', 'onnx::BN_1', 'onnx::BN_2', 'onnx::BN_3', 'onnx::BN_4'],
        output: ['/b'],
        attribute: [{ name: 'epsilon', type: 1, f: 1e-5 }],
      },
      { opType: 'Clip', input: ['/b', 'onnx::Clip_5', 'onnx::Clip_6'], output: ['/r'] },
      {
        opType: 'Resize',
        input: ['/r', '', 'onnx::Resize_8'],
        output: ['y'],
        attribute: [
          { name: 'mode', type: 3, s: new TextEncoder().encode('nearest') },
          { name: 'coordinate_transformation_mode', type: 3, s: new TextEncoder().encode('asymmetric') },
          { name: 'nearest_mode', type: 3, s: new TextEncoder().encode('floor') },
        ],
      },
    ];
    const model = proto.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ version: 17 }],
      graph: {
        node: nodes,
        initializer: [
          f('onnx::Conv_7', [4, 3, 3, 3], w),
          f('onnx::BN_1', [4], [1, 2, 3, 4]),
          f('onnx::BN_2', [4], [0.5, 0, -0.5, 1]),
          f('onnx::BN_3', [4], [0.1, 0.2, 0.3, 0.4]),
          f('onnx::BN_4', [4], [1, 1.5, 2, 2.5]),
          f('onnx::Clip_5', [], [0]),
          f('onnx::Clip_6', [], [6]),
          f('onnx::Resize_8', [4], [1, 1, 2, 2]),
        ],
        input: [
          {
            name: 'x',
            type: {
              tensorType: {
                elemType: 1,
                shape: { dim: [{ dimValue: 1 }, { dimValue: 3 }, { dimValue: 8 }, { dimValue: 8 }] },
              },
            },
          },
        ],
        output: [{ name: 'y' }],
      },
    });
    const bytes = proto.ModelProto.encode(model).finish();
    expect(importOnnx(bytes, 'tiny.onnx').standalone).toBe(true);
    expect(() => importOnnx(bytes, 'tiny.onnx', { arch: 'fastdepth' })).toThrow(/tiny\.onnx: inputSize/);
  });

  it('names every node it cannot import in one error, skipping what depends on them', () => {
    const node = (opType: string, input: string[], output: string, name: string): onnx.INodeProto => ({
      opType,
      input,
      output: [output],
      name,
    });
    const model = proto.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 13 }],
      graph: {
        name: 'g',
        node: [
          node('Relu', ['x'], 'a', 'relu'),
          node('Erf', ['a'], 'b', 'erf_1'),
          node('Relu', ['b'], 'c', 'after_erf'),
          node('Tanh', ['a'], 'd', 'tanh_1'),
          node('Add', ['c', 'd'], 'y', 'sum'),
        ],
        input: [
          {
            name: 'x',
            type: {
              tensorType: {
                elemType: 1,
                shape: { dim: [{ dimValue: 1 }, { dimValue: 3 }, { dimValue: 4 }, { dimValue: 4 }] },
              },
            },
          },
        ],
        output: [{ name: 'y' }],
      },
    });
    const bytes = proto.ModelProto.encode(model).finish();
    expect(() => importOnnx(bytes, 'odd.onnx')).toThrow(
      /^odd\.onnx: 2 nodes cannot be imported: node "erf_1" \(Erf\): this op has no DSL equivalent; node "tanh_1" \(Tanh\): this op has no DSL equivalent$/,
    );
  });

  describe('Resize and Upsample', () => {
    const text = (v: string) => new TextEncoder().encode(v);
    const resizeModel = (
      opset: number,
      nodes: readonly {
        name: string;
        opType?: string;
        mode: string;
        ctm?: string;
        nearest?: string;
        scale: number;
      }[],
    ): Uint8Array => {
      const initializer = nodes.map((n) =>
        proto.TensorProto.create({
          name: `${n.name}_scales`,
          dims: [4],
          dataType: proto.TensorProto.DataType.FLOAT,
          floatData: [1, 1, n.scale, n.scale],
        }),
      );
      const modern = opset >= 11;
      const graphNodes: onnx.INodeProto[] = nodes.map((n) => ({
        opType: n.opType ?? 'Resize',
        name: n.name,
        input: modern ? ['x', '', `${n.name}_scales`] : ['x', `${n.name}_scales`],
        output: [n.name],
        attribute: [
          { name: 'mode', type: 3, s: text(n.mode) },
          ...(n.ctm ? [{ name: 'coordinate_transformation_mode', type: 3, s: text(n.ctm) }] : []),
          ...(n.nearest ? [{ name: 'nearest_mode', type: 3, s: text(n.nearest) }] : []),
        ],
      }));
      // The first is the output; the others are recovered all the same (and reported).
      return proto.ModelProto.encode(
        proto.ModelProto.create({
          irVersion: 8,
          opsetImport: [{ domain: '', version: opset }],
          graph: {
            name: 'g',
            node: graphNodes,
            initializer,
            input: [
              {
                name: 'x',
                type: {
                  tensorType: {
                    elemType: 1,
                    shape: { dim: [{ dimValue: 1 }, { dimValue: 2 }, { dimValue: 4 }, { dimValue: 4 }] },
                  },
                },
              },
            ],
            output: [{ name: nodes[0]!.name }],
          },
        }),
      ).finish();
    };

    it('takes every nearest mapping that reads PyTorch rows, and x3 both ways', () => {
      const { model } = importOnnx(
        resizeModel(13, [
          { name: 'torch', mode: 'nearest', ctm: 'asymmetric', nearest: 'floor', scale: 3 },
          // (dst + 0.5) / 3 - 0.5 rounds to floor(dst / 3) at every integer scale.
          { name: 'half', mode: 'nearest', ctm: 'half_pixel', nearest: 'round_prefer_floor', scale: 3 },
          { name: 'lin', mode: 'linear', ctm: 'half_pixel', scale: 3 },
          { name: 'down', mode: 'linear', ctm: 'pytorch_half_pixel', scale: 0.5 },
        ]),
        'ok.onnx',
      );
      const resizes = model.graph.nodes.filter((n) => n.op === 'resize');
      expect(resizes.map((n) => [n.name, n.attrs])).toEqual([
        ['torch', { mode: 'nearest', scale: [3, 3] }],
        ['half', { mode: 'nearest', scale: [3, 3] }],
        ['lin', { mode: 'bilinear', scale: [3, 3] }],
        ['down', { mode: 'bilinear', size: [2, 2] }],
      ]);
    });

    it("names every resize that is not PyTorch's in one error, with its op type", () => {
      const bytes = resizeModel(13, [
        { name: 'ceil', mode: 'nearest', ctm: 'asymmetric', nearest: 'round_prefer_ceil', scale: 3 },
        { name: 'corners', mode: 'linear', ctm: 'align_corners', scale: 3 },
        { name: 'cubic', mode: 'cubic', ctm: 'half_pixel', scale: 3 },
        { name: 'odd', mode: 'linear', ctm: 'half_pixel', scale: 1.3 },
        { name: 'fine', mode: 'nearest', ctm: 'asymmetric', nearest: 'floor', scale: 3 },
      ]);
      let message = '';
      try {
        importOnnx(bytes, 'bad.onnx');
      } catch (error) {
        message = error instanceof Error ? error.message : String(error);
      }
      expect(message.split('; ')).toEqual([
        'bad.onnx: 4 nodes cannot be imported: node "ceil" (Resize): nearest resize with asymmetric / round_prefer_ceil reads other rows than PyTorch\'s nearest (asymmetric / floor) at 4x4 to 12x12',
        'node "corners" (Resize): linear resize with align_corners is not PyTorch\'s align_corners=False (half_pixel)',
        'node "cubic" (Resize): resize mode "cubic" has no DSL equivalent (nearest and linear do)',
        `node "odd" (Resize): scale ${Math.fround(1.3)} of height 4 makes ${4 * Math.fround(1.3)} rows, not a whole number: PyTorch then maps coordinates by 1/scale, which no DSL resize does (export with size= instead)`,
      ]);
      const upsample = resizeModel(9, [{ name: 'up', opType: 'Upsample', mode: 'linear', scale: 3 }]);
      expect(() => importOnnx(upsample, 'up.onnx')).toThrow(
        /node "up" \(Upsample\): linear Upsample \(opset 9\) maps coordinates asymmetrically, unlike PyTorch's bilinear; export with opset 11 or later/,
      );
      const nearest = importOnnx(
        resizeModel(9, [{ name: 'up', opType: 'Upsample', mode: 'nearest', scale: 3 }]),
        'up.onnx',
      );
      expect(nearest.model.graph.nodes[1]).toMatchObject({
        op: 'resize',
        attrs: { mode: 'nearest', scale: [3, 3] },
      });
    });
  });

  it('rejects bytes that are not ONNX', () => {
    expect(() => importOnnx(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]), 'junk.onnx')).toThrow(
      /junk\.onnx: not an ONNX model/,
    );
  });
});
