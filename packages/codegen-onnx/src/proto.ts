/**
 * Thin, typed constructors for the ONNX protobuf messages this emitter writes. `onnx-proto` is
 * a CommonJS module whose only runtime export is its default (`module.exports = $root`), so
 * the value comes from the default import and the types from the `onnx` namespace.
 */
import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';

/** The runtime `onnx` namespace of `onnx-proto` (message classes and enums). */
export const proto: typeof onnx = onnxProto.onnx;

const DataType = proto.TensorProto.DataType;
const AttributeType = proto.AttributeProto.AttributeType;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Little-endian bytes of a typed array (ONNX `raw_data` is little-endian), always a copy. */
function rawBytes(data: Float32Array | BigInt64Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
  const out = new Uint8Array(data.byteLength);
  const view = new DataView(out.buffer);
  if (data instanceof Float32Array) data.forEach((v, i) => view.setFloat32(i * 4, v, true));
  else data.forEach((v, i) => view.setBigInt64(i * 8, v, true));
  return out;
}

/** A float32 initializer. */
export function floatTensor(name: string, dims: readonly number[], data: Float32Array): onnx.TensorProto {
  return proto.TensorProto.create({
    name,
    dims: [...dims],
    dataType: DataType.FLOAT,
    rawData: rawBytes(data),
  });
}

/** An int64 initializer (axes, pads, shapes: the inputs ONNX >= 13 takes as tensors). */
export function int64Tensor(
  name: string,
  dims: readonly number[],
  values: readonly number[],
): onnx.TensorProto {
  const data = BigInt64Array.from(values, (v) => BigInt(v));
  return proto.TensorProto.create({
    name,
    dims: [...dims],
    dataType: DataType.INT64,
    rawData: rawBytes(data),
  });
}

export function attrInt(name: string, value: number): onnx.AttributeProto {
  return proto.AttributeProto.create({ name, type: AttributeType.INT, i: value });
}

export function attrInts(name: string, values: readonly number[]): onnx.AttributeProto {
  return proto.AttributeProto.create({ name, type: AttributeType.INTS, ints: [...values] });
}

export function attrFloat(name: string, value: number): onnx.AttributeProto {
  return proto.AttributeProto.create({ name, type: AttributeType.FLOAT, f: value });
}

export function attrString(name: string, value: string): onnx.AttributeProto {
  return proto.AttributeProto.create({
    name,
    type: AttributeType.STRING,
    s: new TextEncoder().encode(value),
  });
}

/** A float32 value with a fully static shape (graph inputs, outputs, intermediate shapes). */
export function floatValueInfo(name: string, shape: readonly number[]): onnx.ValueInfoProto {
  return proto.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: DataType.FLOAT,
        shape: { dim: shape.map((d) => ({ dimValue: d })) },
      },
    },
  });
}

/**
 * Reads an int64 field: `Long` objects once decoded (protobufjs 6), plain numbers when built
 * here. Everything this package writes fits a double. (`unknown` because onnx-proto's typings
 * name a global `Long` type that is not declared anywhere.)
 */
export function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (value === null || value === undefined) return 0;
  if (isLongLike(value)) return value.toNumber();
  throw new TypeError(`not an int64 value: ${typeof value}`);
}

function isLongLike(value: unknown): value is { toNumber(): number } {
  return (
    typeof value === 'object' && value !== null && 'toNumber' in value && typeof value.toNumber === 'function'
  );
}
