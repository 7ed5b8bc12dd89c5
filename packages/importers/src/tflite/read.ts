/**
 * Reads a TFLite flatbuffer into plain data: tensors (shape, type, quantisation, raw bytes)
 * and operators (builtin code, tensor indices, decoded options). Every read is bounds-checked,
 * so a truncated or corrupt file becomes a `FormatError` naming the file, never a silent zero
 * (the `flatbuffers` runtime reads past the end as 0).
 */
import { ByteBuffer } from 'flatbuffers';
import { FormatError } from '@fastdepth/graph-dsl';
import {
  ActivationFunctionType,
  AddOptions,
  BuiltinOperator,
  BuiltinOptions,
  ConcatenationOptions,
  Conv2DOptions,
  DepthwiseConv2DOptions,
  Model,
  Padding,
  Pool2DOptions,
  ResizeBilinearOptions,
  ResizeNearestNeighborOptions,
  TFLITE_FILE_IDENTIFIER,
  TensorType,
  type Operator,
  type Tensor,
} from './schema.js';

/** Thrown by `CheckedByteBuffer` on a read outside the file; turned into a `FormatError`. */
class OutOfBounds extends Error {}

/** A ByteBuffer whose every primitive read checks the file's bounds. */
class CheckedByteBuffer extends ByteBuffer {
  private check(offset: number, size: number): void {
    if (!Number.isInteger(offset) || offset < 0 || offset + size > this.capacity()) {
      throw new OutOfBounds(
        `read of ${size} bytes at offset ${offset} is outside the ${this.capacity()}-byte file`,
      );
    }
  }
  override readUint8(offset: number): number {
    this.check(offset, 1);
    return super.readUint8(offset);
  }
  override readUint16(offset: number): number {
    this.check(offset, 2);
    return super.readUint16(offset);
  }
  override readInt32(offset: number): number {
    this.check(offset, 4);
    return super.readInt32(offset);
  }
  /** The bytes [start, start + length), checked. */
  slice(start: number, length: number): Uint8Array {
    this.check(start, length);
    return this.bytes().subarray(start, start + length);
  }
}

export type Activation = 'none' | 'relu' | 'relu6';
export type TflitePadding = 'same' | 'valid';

export interface Quantization {
  readonly scale: readonly number[];
  readonly zeroPoint: readonly number[];
  readonly dimension: number;
}

export interface TfliteTensor {
  readonly index: number;
  readonly name: string;
  readonly shape: readonly number[];
  /** `TensorType` code (see schema.ts). */
  readonly type: number;
  /** Constant data (little-endian), or null for activations. */
  readonly data: Uint8Array | null;
  readonly quantization: Quantization | null;
}

export interface ConvOptions {
  readonly padding: TflitePadding;
  readonly stride: readonly [number, number];
  readonly dilation: readonly [number, number];
  readonly activation: Activation;
  readonly depthMultiplier?: number;
}

export type OperatorOptions =
  | { readonly kind: 'conv'; readonly conv: ConvOptions }
  | { readonly kind: 'add'; readonly activation: Activation }
  | {
      readonly kind: 'pool';
      readonly padding: TflitePadding;
      readonly stride: readonly [number, number];
      readonly filter: readonly [number, number];
      readonly activation: Activation;
    }
  | { readonly kind: 'concat'; readonly axis: number; readonly activation: Activation }
  | { readonly kind: 'resize'; readonly alignCorners: boolean; readonly halfPixelCenters: boolean }
  | { readonly kind: 'none' };

export interface TfliteOperator {
  readonly index: number;
  /** Builtin operator code (`BuiltinOperator`), or -1 for a custom op. */
  readonly code: number;
  /** Readable op name (`CONV_2D`, or the custom code). */
  readonly opName: string;
  readonly inputs: readonly number[];
  readonly outputs: readonly number[];
  readonly options: OperatorOptions;
}

export interface TfliteFile {
  readonly version: number;
  readonly description: string;
  readonly tensors: readonly TfliteTensor[];
  readonly operators: readonly TfliteOperator[];
  readonly inputs: readonly number[];
  readonly outputs: readonly number[];
  readonly subgraphCount: number;
}

const OP_NAMES = new Map<number, string>(Object.entries(BuiltinOperator).map(([k, v]) => [v, k]));

/** Readable name of a builtin code. */
export function builtinName(code: number): string {
  return OP_NAMES.get(code) ?? `BUILTIN_${code}`;
}

function activation(code: number, where: string, source: string): Activation {
  switch (code) {
    case ActivationFunctionType.NONE:
      return 'none';
    case ActivationFunctionType.RELU:
      return 'relu';
    case ActivationFunctionType.RELU6:
      return 'relu6';
    default:
      throw new FormatError(
        source,
        `${where}: fused activation ${code} is not supported (NONE, RELU, RELU6 are)`,
      );
  }
}

function padding(code: number, where: string, source: string): TflitePadding {
  if (code === Padding.SAME) return 'same';
  if (code === Padding.VALID) return 'valid';
  throw new FormatError(source, `${where}: unknown padding ${code}`);
}

function readOptions(op: Operator, code: number, where: string, source: string): OperatorOptions {
  const tag = op.builtinOptionsType();
  const expect = (wanted: number, table: string): void => {
    if (tag !== wanted)
      throw new FormatError(source, `${where}: builtin_options holds union member ${tag}, expected ${table}`);
  };
  switch (code) {
    case BuiltinOperator.CONV_2D: {
      expect(BuiltinOptions.Conv2DOptions, 'Conv2DOptions');
      const o = op.builtinOptions(new Conv2DOptions())!;
      return {
        kind: 'conv',
        conv: {
          padding: padding(o.padding(), where, source),
          stride: [o.strideH(), o.strideW()],
          dilation: [o.dilationHFactor(), o.dilationWFactor()],
          activation: activation(o.fusedActivationFunction(), where, source),
        },
      };
    }
    case BuiltinOperator.DEPTHWISE_CONV_2D: {
      expect(BuiltinOptions.DepthwiseConv2DOptions, 'DepthwiseConv2DOptions');
      const o = op.builtinOptions(new DepthwiseConv2DOptions())!;
      return {
        kind: 'conv',
        conv: {
          padding: padding(o.padding(), where, source),
          stride: [o.strideH(), o.strideW()],
          dilation: [o.dilationHFactor(), o.dilationWFactor()],
          activation: activation(o.fusedActivationFunction(), where, source),
          depthMultiplier: o.depthMultiplier(),
        },
      };
    }
    case BuiltinOperator.ADD: {
      if (tag === BuiltinOptions.NONE) return { kind: 'add', activation: 'none' };
      expect(BuiltinOptions.AddOptions, 'AddOptions');
      return {
        kind: 'add',
        activation: activation(op.builtinOptions(new AddOptions())!.fusedActivationFunction(), where, source),
      };
    }
    case BuiltinOperator.MAX_POOL_2D: {
      expect(BuiltinOptions.Pool2DOptions, 'Pool2DOptions');
      const o = op.builtinOptions(new Pool2DOptions())!;
      return {
        kind: 'pool',
        padding: padding(o.padding(), where, source),
        stride: [o.strideH(), o.strideW()],
        filter: [o.filterHeight(), o.filterWidth()],
        activation: activation(o.fusedActivationFunction(), where, source),
      };
    }
    case BuiltinOperator.CONCATENATION: {
      expect(BuiltinOptions.ConcatenationOptions, 'ConcatenationOptions');
      const o = op.builtinOptions(new ConcatenationOptions())!;
      return {
        kind: 'concat',
        axis: o.axis(),
        activation: activation(o.fusedActivationFunction(), where, source),
      };
    }
    case BuiltinOperator.RESIZE_NEAREST_NEIGHBOR: {
      if (tag === BuiltinOptions.NONE)
        return { kind: 'resize', alignCorners: false, halfPixelCenters: false };
      expect(BuiltinOptions.ResizeNearestNeighborOptions, 'ResizeNearestNeighborOptions');
      const o = op.builtinOptions(new ResizeNearestNeighborOptions())!;
      return { kind: 'resize', alignCorners: o.alignCorners(), halfPixelCenters: o.halfPixelCenters() };
    }
    case BuiltinOperator.RESIZE_BILINEAR: {
      if (tag === BuiltinOptions.NONE)
        return { kind: 'resize', alignCorners: false, halfPixelCenters: false };
      expect(BuiltinOptions.ResizeBilinearOptions, 'ResizeBilinearOptions');
      const o = op.builtinOptions(new ResizeBilinearOptions())!;
      return { kind: 'resize', alignCorners: o.alignCorners(), halfPixelCenters: o.halfPixelCenters() };
    }
    default:
      return { kind: 'none' };
  }
}

function readTensor(
  t: Tensor,
  index: number,
  model: Model,
  bb: CheckedByteBuffer,
  source: string,
): TfliteTensor {
  const name = t.name() ?? `tensor${index}`;
  // JSON-quoted: a name is the file's data and may hold quotes or control characters.
  const where = `tensor ${index} ${JSON.stringify(name)}`;
  if (t.hasSparsity()) throw new FormatError(source, `${where}: sparse tensors are not supported`);
  const shape = Array.from({ length: t.shapeLength() }, (_, i) => t.shape(i)!);
  let data: Uint8Array | null = null;
  const bufferIndex = t.buffer();
  if (bufferIndex !== 0) {
    if (bufferIndex >= model.buffersLength()) {
      throw new FormatError(
        source,
        `${where}: buffer index ${bufferIndex} is past the ${model.buffersLength()} buffers`,
      );
    }
    const buffer = model.buffers(bufferIndex)!;
    const range = buffer.dataRange();
    const offset = buffer.offset();
    if (offset > 1n) {
      // Files over 2 GB keep buffers after the flatbuffer, addressed from the file start.
      data = bb.slice(Number(offset), Number(buffer.size()));
    } else if (range && range.length > 0) {
      data = bb.slice(range.start, range.length);
    }
  }
  let quantization: Quantization | null = null;
  const q = t.quantization();
  if (q && q.scaleLength() > 0) {
    if (q.detailsType() !== 0)
      throw new FormatError(source, `${where}: custom quantisation details are not supported`);
    const scale = Array.from({ length: q.scaleLength() }, (_, i) => q.scale(i)!);
    const zeroPoint = Array.from({ length: q.zeroPointLength() }, (_, i) => Number(q.zeroPoint(i)!));
    quantization = { scale, zeroPoint, dimension: q.quantizedDimension() };
  }
  return { index, name, shape, type: t.type(), data, quantization };
}

function readOperator(op: Operator, index: number, model: Model, source: string): TfliteOperator {
  const opcodeIndex = op.opcodeIndex();
  if (opcodeIndex >= model.operatorCodesLength()) {
    throw new FormatError(
      source,
      `operator ${index}: opcode_index ${opcodeIndex} is past the ${model.operatorCodesLength()} operator codes`,
    );
  }
  const oc = model.operatorCodes(opcodeIndex)!;
  // TFLite's own rule (schema_utils GetBuiltinCode): the larger of the two fields wins.
  const code = Math.max(oc.deprecatedBuiltinCode(), oc.builtinCode());
  const custom = oc.customCode();
  const opName = custom !== null && code === 32 ? `CUSTOM(${JSON.stringify(custom)})` : builtinName(code);
  const where = `operator ${index} (${opName})`;
  const inputs = Array.from({ length: op.inputsLength() }, (_, i) => op.inputs(i)!);
  const outputs = Array.from({ length: op.outputsLength() }, (_, i) => op.outputs(i)!);
  return { index, code, opName, inputs, outputs, options: readOptions(op, code, where, source) };
}

/**
 * Parses a TFLite file. Checks the `TFL3` identifier and the bounds of everything read;
 * reads only subgraph 0 (the main model).
 */
export function readTflite(bytes: Uint8Array, source: string): TfliteFile {
  if (bytes.length < 8)
    throw new FormatError(source, `too short to be a TFLite file (${bytes.length} bytes)`);
  const bb = new CheckedByteBuffer(bytes);
  if (!Model.bufferHasIdentifier(bb)) {
    const found = String.fromCharCode(...bytes.subarray(4, 8));
    throw new FormatError(
      source,
      `not a TFLite file: file identifier is ${JSON.stringify(found)}, expected "${TFLITE_FILE_IDENTIFIER}"`,
    );
  }
  try {
    const model = Model.getRootAsModel(bb);
    const version = model.version();
    if (version !== 3)
      throw new FormatError(source, `TFLite schema version ${version} is not supported (3 is)`);
    if (model.subgraphsLength() === 0) throw new FormatError(source, 'the model has no subgraph');
    const sg = model.subgraphs(0)!;
    const tensors = Array.from({ length: sg.tensorsLength() }, (_, i) =>
      readTensor(sg.tensors(i)!, i, model, bb, source),
    );
    const operators = Array.from({ length: sg.operatorsLength() }, (_, i) =>
      readOperator(sg.operators(i)!, i, model, source),
    );
    const checkIndex = (i: number, what: string): number => {
      if (i < -1 || i >= tensors.length)
        throw new FormatError(source, `${what} refers to tensor ${i}, but there are ${tensors.length}`);
      return i;
    };
    for (const op of operators) {
      for (const i of op.inputs) checkIndex(i, `operator ${op.index} (${op.opName}) input`);
      for (const i of op.outputs) checkIndex(i, `operator ${op.index} (${op.opName}) output`);
    }
    return {
      version,
      description: model.description() ?? '',
      tensors,
      operators,
      inputs: Array.from({ length: sg.inputsLength() }, (_, i) =>
        checkIndex(sg.inputs(i)!, 'subgraph input'),
      ),
      outputs: Array.from({ length: sg.outputsLength() }, (_, i) =>
        checkIndex(sg.outputs(i)!, 'subgraph output'),
      ),
      subgraphCount: model.subgraphsLength(),
    };
  } catch (error) {
    if (error instanceof OutOfBounds || error instanceof RangeError) {
      throw new FormatError(source, `truncated or corrupt TFLite file (${error.message})`);
    }
    throw error;
  }
}

/** Bytes per element of the tensor types the importer dequantises. */
export function elementBytes(type: number): number | undefined {
  switch (type) {
    case TensorType.FLOAT32:
    case TensorType.INT32:
      return 4;
    case TensorType.INT8:
    case TensorType.UINT8:
      return 1;
    case TensorType.INT16:
    case TensorType.FLOAT16:
      return 2;
    case TensorType.INT64:
      return 8;
    default:
      return undefined;
  }
}
