import { Builder } from 'flatbuffers';
import {
  FormatError,
  GraphBuilder,
  execute,
  foldBatchNorm,
  initWeights,
  inferShapes,
  type Graph,
  type Model,
  type Node,
} from '@fastdepth/graph-dsl';
import { fastdepth } from '@fastdepth/fastdepth-arch';
import { describe, expect, it } from 'vitest';
import { importTflite, importTfliteQuantized } from './import.js';
import { BuiltinOperator, BuiltinOptions, Padding, TensorType } from './schema.js';

/**
 * A float32 TFLite writer for BN-folded DSL graphs (conv with bias, relu, relu6, upsample,
 * add), test-only: it lets us round-trip networks through the importer. Stride-1 convs with
 * centred pads use SAME padding; the others an explicit PAD + VALID, as the TF converter does.
 */
function writeTflite(model: Model, description = 'test'): Uint8Array {
  const b = new Builder(1024);
  const shapes = inferShapes(model.graph);
  const buffers: (Uint8Array | null)[] = [null];
  const tensors: { name: string; shape: number[]; type: number; buffer: number }[] = [];
  const codes: number[] = [];
  const ops: { code: number; inputs: number[]; outputs: number[]; options?: () => [number, number] }[] = [];
  const ids = new Map<string, number>();
  const nhwc = (name: string): number[] => {
    const [n, c, h, w] = shapes.get(name)!;
    return [n, h, w, c];
  };
  const tensor = (
    name: string,
    shape: number[],
    type: number = TensorType.FLOAT32,
    data?: Uint8Array,
  ): number => {
    let buffer = 0;
    if (data) {
      buffer = buffers.length;
      buffers.push(data);
    }
    tensors.push({ name, shape, type, buffer });
    return tensors.length - 1;
  };
  const f32 = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const i32 = (a: number[]): Uint8Array => new Uint8Array(Int32Array.from(a).buffer);
  const op = (code: number, inputs: number[], outputs: number[], options?: () => [number, number]): void => {
    if (!codes.includes(code)) codes.push(code);
    ops.push({ code, inputs, outputs, ...(options ? { options } : {}) });
  };
  let graphIn = -1;
  let graphOut = -1;
  for (const node of model.graph.nodes) {
    switch (node.op) {
      case 'input':
        graphIn = tensor(node.name, nhwc(node.name));
        ids.set(node.name, graphIn);
        break;
      case 'conv2d': {
        const {
          kernel: [kh, kw],
          stride: [sh, sw],
          pads,
          groups,
          outChannels: co,
        } = node.attrs;
        const w = model.weights.get(`${node.name}.weight`)!;
        const cinG = w.shape[1]!;
        const dw = groups > 1;
        const data = new Float32Array(w.data.length);
        for (let o = 0; o < co; o++)
          for (let i = 0; i < cinG; i++)
            for (let y = 0; y < kh; y++)
              for (let x = 0; x < kw; x++) {
                const src = w.data[((o * cinG + i) * kh + y) * kw + x]!;
                data[dw ? (y * kw + x) * co + o : ((o * kh + y) * kw + x) * cinG + i] = src;
              }
        const wt = tensor(
          `${node.name}/w`,
          dw ? [1, kh, kw, co] : [co, kh, kw, cinG],
          TensorType.FLOAT32,
          f32(data),
        );
        const bt = tensor(
          `${node.name}/b`,
          [co],
          TensorType.FLOAT32,
          f32(model.weights.get(`${node.name}.bias`)!.data),
        );
        let x = ids.get(node.inputs[0]!)!;
        const centred = pads.every((p) => p === pads[0]) && pads[0] === (kh - 1) / 2 && kh === kw;
        const same = sh === 1 && centred && pads[0] > 0;
        if (!same && pads.some((p) => p > 0)) {
          const [n, h, wd, c] = nhwc(node.inputs[0]!) as [number, number, number, number];
          const padded = tensor(`${node.name}/pad`, [n, h + pads[0] + pads[2], wd + pads[1] + pads[3], c]);
          const p = tensor(
            `${node.name}/paddings`,
            [4, 2],
            TensorType.INT32,
            i32([0, 0, pads[0], pads[2], pads[1], pads[3], 0, 0]),
          );
          op(BuiltinOperator.PAD, [x, p], [padded]);
          x = padded;
        }
        const out = tensor(node.name, nhwc(node.name));
        const padding = same ? Padding.SAME : Padding.VALID;
        op(dw ? BuiltinOperator.DEPTHWISE_CONV_2D : BuiltinOperator.CONV_2D, [x, wt, bt], [out], () => {
          b.startObject(dw ? 7 : 6);
          b.addFieldInt8(0, padding, 0);
          b.addFieldInt32(1, sw, 0);
          b.addFieldInt32(2, sh, 0);
          if (dw) b.addFieldInt32(3, 1, 0);
          return [dw ? BuiltinOptions.DepthwiseConv2DOptions : BuiltinOptions.Conv2DOptions, b.endObject()];
        });
        ids.set(node.name, out);
        break;
      }
      case 'relu':
      case 'relu6': {
        const out = tensor(node.name, nhwc(node.name));
        op(
          node.op === 'relu' ? BuiltinOperator.RELU : BuiltinOperator.RELU6,
          [ids.get(node.inputs[0]!)!],
          [out],
        );
        ids.set(node.name, out);
        break;
      }
      case 'upsample': {
        const [, h, w] = nhwc(node.name);
        const size = tensor(`${node.name}/size`, [2], TensorType.INT32, i32([h!, w!]));
        const out = tensor(node.name, nhwc(node.name));
        op(BuiltinOperator.RESIZE_NEAREST_NEIGHBOR, [ids.get(node.inputs[0]!)!, size], [out]);
        ids.set(node.name, out);
        break;
      }
      case 'add': {
        const out = tensor(node.name, nhwc(node.name));
        // Skip first, like the TF converter's output.
        op(BuiltinOperator.ADD, node.inputs.map((i) => ids.get(i)!).reverse(), [out], () => {
          b.startObject(1);
          return [BuiltinOptions.AddOptions, b.endObject()];
        });
        ids.set(node.name, out);
        break;
      }
      case 'output':
        graphOut = ids.get(node.inputs[0]!)!;
        break;
      default:
        throw new Error(`writeTflite: ${node.op} is not supported`);
    }
  }
  const intVector = (values: number[]): number => {
    b.startVector(4, values.length, 4);
    for (let i = values.length - 1; i >= 0; i--) b.addInt32(values[i]!);
    return b.endVector();
  };
  const tableVector = (offsets: number[]): number => {
    b.startVector(4, offsets.length, 4);
    for (let i = offsets.length - 1; i >= 0; i--) b.addOffset(offsets[i]!);
    return b.endVector();
  };
  const bufferOffsets = buffers.map((data) => {
    const vec = data
      ? (b.startVector(1, data.length, 16), [...data].reverse().forEach((v) => b.addInt8(v)), b.endVector())
      : 0;
    b.startObject(3);
    if (data) b.addFieldOffset(0, vec, 0);
    return b.endObject();
  });
  const tensorOffsets = tensors.map((t) => {
    const name = b.createString(t.name);
    const shape = intVector(t.shape);
    b.startObject(5);
    b.addFieldOffset(0, shape, 0);
    b.addFieldInt8(1, t.type, 0);
    b.addFieldInt32(2, t.buffer, 0);
    b.addFieldOffset(3, name, 0);
    return b.endObject();
  });
  const opOffsets = ops.map((o) => {
    const options = o.options?.();
    const inputs = intVector(o.inputs);
    const outputs = intVector(o.outputs);
    b.startObject(5);
    b.addFieldInt32(0, codes.indexOf(o.code), 0);
    b.addFieldOffset(1, inputs, 0);
    b.addFieldOffset(2, outputs, 0);
    if (options) {
      b.addFieldInt8(3, options[0], 0);
      b.addFieldOffset(4, options[1], 0);
    }
    return b.endObject();
  });
  const codeOffsets = codes.map((code) => {
    b.startObject(4);
    b.addFieldInt8(0, Math.min(code, 127), 0);
    b.addFieldInt32(2, 1, 1);
    b.addFieldInt32(3, code, 0);
    return b.endObject();
  });
  const sgTensors = tableVector(tensorOffsets);
  const sgIn = intVector([graphIn]);
  const sgOut = intVector([graphOut]);
  const sgOps = tableVector(opOffsets);
  b.startObject(5);
  b.addFieldOffset(0, sgTensors, 0);
  b.addFieldOffset(1, sgIn, 0);
  b.addFieldOffset(2, sgOut, 0);
  b.addFieldOffset(3, sgOps, 0);
  const subgraph = b.endObject();
  const opcodes = tableVector(codeOffsets);
  const subgraphs = tableVector([subgraph]);
  const desc = b.createString(description);
  const bufs = tableVector(bufferOffsets);
  b.startObject(5);
  b.addFieldInt32(0, 3, 0);
  b.addFieldOffset(1, opcodes, 0);
  b.addFieldOffset(2, subgraphs, 0);
  b.addFieldOffset(3, desc, 0);
  b.addFieldOffset(4, bufs, 0);
  b.finish(b.endObject(), 'TFL3');
  return b.asUint8Array();
}

const SMALL = {
  encoder: [8, 16, 16, 8, 16, 24, 16, 16, 16, 16, 16, 16, 24, 32],
  decoder: [16, 24, 8, 16, 8],
};

function randomModel(graph: Graph, seed: number): Model {
  const weights = initWeights(graph, seed);
  // Non-trivial BN statistics, so that folding changes the numbers.
  let s = seed;
  const next = (): number => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (const [name, t] of weights) {
    if (name.endsWith('.running_var')) t.data.forEach((_, i) => (t.data[i] = 0.5 + next()));
    if (name.endsWith('.running_mean') || name.endsWith('.bias'))
      t.data.forEach((_, i) => (t.data[i] = next() - 0.5));
  }
  return { graph, weights };
}

describe('TFLite round trip through a float32 writer', () => {
  it('imports a folded FastDepth of other widths and computes the same depth', () => {
    const graph = fastdepth({ widths: SMALL, inputSize: 32 });
    const original = randomModel(graph, 7);
    const bytes = writeTflite(foldBatchNorm(original));
    const imported = importTflite(bytes, 'small.tflite');
    expect(imported.archName).toBe('fastdepth');
    expect(imported.report.widths).toEqual(SMALL);
    expect(imported.report.quantized).toBe(false);
    expect(imported.report.opCounts.PAD).toBeGreaterThan(0);
    const input = {
      shape: [1, 3, 32, 32],
      data: Float64Array.from({ length: 3 * 32 * 32 }, (_, i) => ((i * 37) % 101) / 101),
    };
    const want = execute(original.graph, original.weights, { input }).depth!.data;
    const got = execute(imported.model.graph, imported.model.weights, { input }).depth!.data;
    const scale = Math.max(...want.map(Math.abs));
    expect(scale).toBeGreaterThan(0);
    for (let i = 0; i < want.length; i++)
      expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-5 * scale + 1e-6);
  });

  it('refuses to import a float file as an int8 model, naming the operator and tensor', () => {
    const graph = fastdepth({ widths: SMALL, inputSize: 32 });
    const bytes = writeTflite(foldBatchNorm(randomModel(graph, 7)));
    expect(() => importTfliteQuantized(bytes, 'small.tflite')).toThrow(
      /^small\.tflite: not an int8 model in the project's scheme: operator \d+ \(\w+\): .* is not int8$/,
    );
  });

  it('rejects a network that is not FastDepth-shaped, saying so', () => {
    const g = new GraphBuilder('tiny');
    const x = g.input('input', [1, 3, 32, 32]);
    const y = g.relu6(
      'c_relu',
      g.conv2d('c', x, { outChannels: 8, kernel: 3, stride: 2, pads: 1, bias: true }),
    );
    g.output('out', y);
    const graph = g.build();
    const bytes = writeTflite({ graph, weights: initWeights(graph, 1) });
    expect(() => importTflite(bytes, 'tiny.tflite')).toThrow(FormatError);
    expect(() => importTflite(bytes, 'tiny.tflite')).toThrow(
      /tiny\.tflite: not a FastDepth-family network: it has 1 full convolutions/,
    );
  });

  it('names the layer where a 20-conv network stops matching FastDepth', () => {
    // FastDepth with ReLU6 in the decoder instead of ReLU.
    const graph = fastdepth({ widths: SMALL, inputSize: 32 });
    const folded = foldBatchNorm(randomModel(graph, 3));
    const nodes = folded.graph.nodes.map((n) =>
      n.name === 'decode_conv3_dw_relu' ? ({ ...n, op: 'relu6' } as Node) : n,
    );
    const bytes = writeTflite({ graph: { ...folded.graph, nodes }, weights: folded.weights });
    expect(() => importTflite(bytes, 'bad.tflite')).toThrow(
      /bad\.tflite: not a fastdepth network: at layer "decode_conv3_dw_relu" \(relu\) the file has operator \d+ \(RELU6\): relu6/,
    );
  });
});
