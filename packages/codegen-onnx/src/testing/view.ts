/** A plain, fully-defaulted view of a (decoded) ONNX graph, so tests need no null checks. */
import type { onnx } from 'onnx-proto';
import { proto, toNumber } from '../proto.js';

export type AttrValue = number | string | number[];

export interface NodeView {
  readonly name: string;
  readonly opType: string;
  readonly input: string[];
  readonly output: string[];
  readonly attrs: Record<string, AttrValue>;
}

export interface TensorView {
  readonly name: string;
  readonly dims: number[];
  readonly dataType: number;
  readonly raw: Uint8Array;
}

export interface ValueView {
  readonly name: string;
  readonly elemType: number;
  readonly dims: number[];
}

export interface GraphView {
  readonly name: string;
  readonly inputs: ValueView[];
  readonly outputs: ValueView[];
  readonly valueInfo: ValueView[];
  readonly initializers: TensorView[];
  readonly nodes: NodeView[];
}

function attrValue(a: onnx.IAttributeProto): AttrValue {
  if (a.ints && a.ints.length > 0) return a.ints.map(toNumber);
  if (a.s && a.s.length > 0) return new TextDecoder().decode(a.s);
  if (a.type === proto.AttributeProto.AttributeType.FLOAT) return a.f ?? 0;
  return toNumber(a.i);
}

function valueView(v: onnx.IValueInfoProto): ValueView {
  const t = v.type?.tensorType;
  return {
    name: v.name ?? '',
    elemType: t?.elemType ?? 0,
    dims: (t?.shape?.dim ?? []).map((d) => toNumber(d.dimValue)),
  };
}

export function viewGraph(model: onnx.IModelProto): GraphView {
  const g = model.graph ?? {};
  return {
    name: g.name ?? '',
    inputs: (g.input ?? []).map(valueView),
    outputs: (g.output ?? []).map(valueView),
    valueInfo: (g.valueInfo ?? []).map(valueView),
    initializers: (g.initializer ?? []).map((t) => ({
      name: t.name ?? '',
      dims: (t.dims ?? []).map(toNumber),
      dataType: t.dataType ?? 0,
      raw: t.rawData ?? new Uint8Array(0),
    })),
    nodes: (g.node ?? []).map((n) => ({
      name: n.name ?? '',
      opType: n.opType ?? '',
      input: n.input ?? [],
      output: n.output ?? [],
      attrs: Object.fromEntries((n.attribute ?? []).map((a) => [a.name ?? '', attrValue(a)])),
    })),
  };
}

/** The float32 values of a raw-data tensor. */
export function floatData(t: TensorView): Float32Array {
  return new Float32Array(t.raw.buffer.slice(t.raw.byteOffset, t.raw.byteOffset + t.raw.byteLength));
}
