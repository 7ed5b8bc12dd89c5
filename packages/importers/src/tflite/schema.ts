/*
 * Read accessors for the subset of the TensorFlow Lite flatbuffer schema that the importer
 * needs, in the shape `flatc --ts` gives them (`__init`, `bb`/`bb_pos`, one method per field,
 * `xxxLength()` for vectors) on top of the maintained `flatbuffers` runtime.
 *
 * Schema: tensorflow/lite/schema/schema.fbs, Copyright 2017 The TensorFlow Authors,
 * licensed under the Apache License, Version 2.0 (http://www.apache.org/licenses/LICENSE-2.0).
 * flatc is not used: Debian bookworm ships flatc 2.0.8, three years and four major versions older
 * than the `flatbuffers` 25 runtime, and its TypeScript output predates NodeNext `.js` imports.
 * Written by hand instead, for just these tables and fields. Each accessor names its schema
 * field and id; the vtable slot is `4 + 2 * id`. Unions take two ids (type, then value).
 */
import type { ByteBuffer } from 'flatbuffers';

/** `file_identifier "TFL3"` of schema.fbs. */
export const TFLITE_FILE_IDENTIFIER = 'TFL3';

/** `enum TensorType : byte` (the values the importer reads). */
export const TensorType = {
  FLOAT32: 0,
  FLOAT16: 1,
  INT32: 2,
  UINT8: 3,
  INT64: 4,
  INT16: 7,
  INT8: 9,
} as const;

/** `enum BuiltinOperator : int32` (the values the importer recognises). */
export const BuiltinOperator = {
  ADD: 0,
  CONCATENATION: 2,
  CONV_2D: 3,
  DEPTHWISE_CONV_2D: 4,
  DEQUANTIZE: 6,
  MAX_POOL_2D: 17,
  RELU: 19,
  RELU6: 21,
  RESHAPE: 22,
  RESIZE_BILINEAR: 23,
  PAD: 34,
  TRANSPOSE_CONV: 67,
  RESIZE_NEAREST_NEIGHBOR: 97,
  QUANTIZE: 114,
} as const;

/** `union BuiltinOptions` member tags (position in the union, NONE = 0). */
export const BuiltinOptions = {
  NONE: 0,
  Conv2DOptions: 1,
  DepthwiseConv2DOptions: 2,
  Pool2DOptions: 5,
  ConcatenationOptions: 10,
  AddOptions: 11,
  ResizeBilinearOptions: 15,
  PadOptions: 22,
  TransposeConvOptions: 49,
  ResizeNearestNeighborOptions: 74,
} as const;

/** `enum Padding : byte { SAME, VALID }`. */
export const Padding = { SAME: 0, VALID: 1 } as const;

/** `enum ActivationFunctionType : byte`. */
export const ActivationFunctionType = {
  NONE: 0,
  RELU: 1,
  RELU_N1_TO_1: 2,
  RELU6: 3,
  TANH: 4,
  SIGN_BIT: 5,
} as const;

/** Vtable slot of schema field `id`. */
function slot(id: number): number {
  return 4 + 2 * id;
}

/** Base of every accessor: a position in a ByteBuffer, as flatc's generated classes hold it. */
abstract class TableAccessor {
  bb: ByteBuffer | null = null;
  bb_pos = 0;

  __init(i: number, bb: ByteBuffer): this {
    this.bb_pos = i;
    this.bb = bb;
    return this;
  }

  protected field(id: number): number {
    return this.bb!.__offset(this.bb_pos, slot(id));
  }

  /**
   * Byte position of field `id`'s entry in this table's vtable (a little-endian uint16, the
   * field's offset in the table; 0 = absent), or null when the vtable is too short to hold it
   * (the field is absent already).
   */
  vtableEntry(id: number): number | null {
    const vtable = this.bb_pos - this.bb!.readInt32(this.bb_pos);
    return slot(id) < this.bb!.readInt16(vtable) ? vtable + slot(id) : null;
  }

  protected vectorLength(id: number): number {
    const offset = this.field(id);
    return offset ? this.bb!.__vector_len(this.bb_pos + offset) : 0;
  }

  /** Byte position of element `index` of a vector field with `elementSize`-byte elements. */
  protected vectorElement(id: number, index: number, elementSize: number): number | null {
    const offset = this.field(id);
    return offset ? this.bb!.__vector(this.bb_pos + offset) + index * elementSize : null;
  }

  protected table<T extends TableAccessor>(id: number, index: number, obj: T): T | null {
    const at = this.vectorElement(id, index, 4);
    return at === null ? null : obj.__init(this.bb!.__indirect(at), this.bb!);
  }

  protected subTable<T extends TableAccessor>(id: number, obj: T): T | null {
    const offset = this.field(id);
    return offset ? obj.__init(this.bb!.__indirect(this.bb_pos + offset), this.bb!) : null;
  }

  protected string(id: number): string | null {
    const offset = this.field(id);
    return offset ? (this.bb!.__string(this.bb_pos + offset) as string) : null;
  }

  protected int8(id: number, fallback: number): number {
    const offset = this.field(id);
    return offset ? this.bb!.readInt8(this.bb_pos + offset) : fallback;
  }

  protected uint8(id: number, fallback: number): number {
    const offset = this.field(id);
    return offset ? this.bb!.readUint8(this.bb_pos + offset) : fallback;
  }

  protected int32(id: number, fallback: number): number {
    const offset = this.field(id);
    return offset ? this.bb!.readInt32(this.bb_pos + offset) : fallback;
  }

  protected uint32(id: number, fallback: number): number {
    const offset = this.field(id);
    return offset ? this.bb!.readUint32(this.bb_pos + offset) : fallback;
  }

  protected uint64(id: number): bigint {
    const offset = this.field(id);
    return offset ? this.bb!.readUint64(this.bb_pos + offset) : 0n;
  }

  protected bool(id: number): boolean {
    const offset = this.field(id);
    return offset ? this.bb!.readInt8(this.bb_pos + offset) !== 0 : false;
  }

  /** Start and length of a scalar or byte vector field, or null when absent. */
  protected vectorRange(id: number): { start: number; length: number } | null {
    const offset = this.field(id);
    if (!offset) return null;
    return {
      start: this.bb!.__vector(this.bb_pos + offset),
      length: this.bb!.__vector_len(this.bb_pos + offset),
    };
  }
}

/** `table QuantizationParameters`. */
export class QuantizationParameters extends TableAccessor {
  /** field 2 `scale:[float]` */
  scale(index: number): number | null {
    const at = this.vectorElement(2, index, 4);
    return at === null ? null : this.bb!.readFloat32(at);
  }
  scaleLength(): number {
    return this.vectorLength(2);
  }
  /** field 3 `zero_point:[long]` */
  zeroPoint(index: number): bigint | null {
    const at = this.vectorElement(3, index, 8);
    return at === null ? null : this.bb!.readInt64(at);
  }
  zeroPointLength(): number {
    return this.vectorLength(3);
  }
  /** field 4 `details_type` (union QuantizationDetails; NONE = 0 means scale/zero_point apply) */
  detailsType(): number {
    return this.uint8(4, 0);
  }
  /** field 6 `quantized_dimension:int` */
  quantizedDimension(): number {
    return this.int32(6, 0);
  }
}

/** `table Tensor`. */
export class Tensor extends TableAccessor {
  /** field 0 `shape:[int]` */
  shape(index: number): number | null {
    const at = this.vectorElement(0, index, 4);
    return at === null ? null : this.bb!.readInt32(at);
  }
  shapeLength(): number {
    return this.vectorLength(0);
  }
  /** field 1 `type:TensorType` */
  type(): number {
    return this.int8(1, TensorType.FLOAT32);
  }
  /** field 2 `buffer:uint` (0 = the empty sentinel buffer) */
  buffer(): number {
    return this.uint32(2, 0);
  }
  /** field 3 `name:string` */
  name(): string | null {
    return this.string(3);
  }
  /** field 4 `quantization:QuantizationParameters` */
  quantization(obj?: QuantizationParameters): QuantizationParameters | null {
    return this.subTable(4, obj ?? new QuantizationParameters());
  }
  /** field 6 `sparsity:SparsityParameters` (only its presence matters: we refuse sparse tensors) */
  hasSparsity(): boolean {
    return this.field(6) !== 0;
  }
}

/** `table Buffer`. */
export class Buffer extends TableAccessor {
  /** field 0 `data:[ubyte] (force_align: 16)`: where the bytes lie (start, length), or null. */
  dataRange(): { start: number; length: number } | null {
    return this.vectorRange(0);
  }
  /** field 1 `offset:ulong` (files over 2 GB keep data outside the flatbuffer; 0/1 = unused) */
  offset(): bigint {
    return this.uint64(1);
  }
  /** field 2 `size:ulong` */
  size(): bigint {
    return this.uint64(2);
  }
}

/** `table OperatorCode`. */
export class OperatorCode extends TableAccessor {
  /** field 0 `deprecated_builtin_code:byte` (the code when below 127) */
  deprecatedBuiltinCode(): number {
    return this.int8(0, 0);
  }
  /** field 1 `custom_code:string` */
  customCode(): string | null {
    return this.string(1);
  }
  /** field 2 `version:int = 1` */
  version(): number {
    return this.int32(2, 1);
  }
  /** field 3 `builtin_code:BuiltinOperator` (int32; the code when 127 or above) */
  builtinCode(): number {
    return this.int32(3, 0);
  }
}

/** `table Operator`. */
export class Operator extends TableAccessor {
  /** field 0 `opcode_index:uint` */
  opcodeIndex(): number {
    return this.uint32(0, 0);
  }
  /** field 1 `inputs:[int]` (-1 = optional input absent) */
  inputs(index: number): number | null {
    const at = this.vectorElement(1, index, 4);
    return at === null ? null : this.bb!.readInt32(at);
  }
  inputsLength(): number {
    return this.vectorLength(1);
  }
  /** field 2 `outputs:[int]` */
  outputs(index: number): number | null {
    const at = this.vectorElement(2, index, 4);
    return at === null ? null : this.bb!.readInt32(at);
  }
  outputsLength(): number {
    return this.vectorLength(2);
  }
  /** field 3 `builtin_options_type` (tag of union BuiltinOptions) */
  builtinOptionsType(): number {
    return this.uint8(3, BuiltinOptions.NONE);
  }
  /** field 4 `builtin_options:BuiltinOptions` (the union value; read as the table its tag names) */
  builtinOptions<T extends TableAccessor>(obj: T): T | null {
    const offset = this.field(4);
    // What `bb.__union` does, without its `Table` type (whose `bb` may not be null).
    return offset ? obj.__init(this.bb!.__indirect(this.bb_pos + offset), this.bb!) : null;
  }
}

/** `table SubGraph`. */
export class SubGraph extends TableAccessor {
  /** field 0 `tensors:[Tensor]` */
  tensors(index: number, obj?: Tensor): Tensor | null {
    return this.table(0, index, obj ?? new Tensor());
  }
  tensorsLength(): number {
    return this.vectorLength(0);
  }
  /** field 1 `inputs:[int]` */
  inputs(index: number): number | null {
    const at = this.vectorElement(1, index, 4);
    return at === null ? null : this.bb!.readInt32(at);
  }
  inputsLength(): number {
    return this.vectorLength(1);
  }
  /** field 2 `outputs:[int]` */
  outputs(index: number): number | null {
    const at = this.vectorElement(2, index, 4);
    return at === null ? null : this.bb!.readInt32(at);
  }
  outputsLength(): number {
    return this.vectorLength(2);
  }
  /** field 3 `operators:[Operator]` (in execution order) */
  operators(index: number, obj?: Operator): Operator | null {
    return this.table(3, index, obj ?? new Operator());
  }
  operatorsLength(): number {
    return this.vectorLength(3);
  }
  /** field 4 `name:string` */
  name(): string | null {
    return this.string(4);
  }
}

/** `table Model` (`root_type Model`). */
export class Model extends TableAccessor {
  static getRootAsModel(bb: ByteBuffer, obj?: Model): Model {
    return (obj ?? new Model()).__init(bb.readInt32(bb.position()) + bb.position(), bb);
  }
  static bufferHasIdentifier(bb: ByteBuffer): boolean {
    return bb.__has_identifier(TFLITE_FILE_IDENTIFIER);
  }
  /** field 0 `version:uint` (schema version; 3 for every current file) */
  version(): number {
    return this.uint32(0, 0);
  }
  /** field 1 `operator_codes:[OperatorCode]` */
  operatorCodes(index: number, obj?: OperatorCode): OperatorCode | null {
    return this.table(1, index, obj ?? new OperatorCode());
  }
  operatorCodesLength(): number {
    return this.vectorLength(1);
  }
  /** field 2 `subgraphs:[SubGraph]` (the 0th is the main model) */
  subgraphs(index: number, obj?: SubGraph): SubGraph | null {
    return this.table(2, index, obj ?? new SubGraph());
  }
  subgraphsLength(): number {
    return this.vectorLength(2);
  }
  /** field 3 `description:string` */
  description(): string | null {
    return this.string(3);
  }
  /** field 4 `buffers:[Buffer]` (the 0th is an empty sentinel) */
  buffers(index: number, obj?: Buffer): Buffer | null {
    return this.table(4, index, obj ?? new Buffer());
  }
  buffersLength(): number {
    return this.vectorLength(4);
  }
  /** field 7 `signature_defs:[SignatureDef]` */
  static readonly SIGNATURE_DEFS = 7;
  signatureDefs(index: number, obj?: SignatureDef): SignatureDef | null {
    return this.table(Model.SIGNATURE_DEFS, index, obj ?? new SignatureDef());
  }
  signatureDefsLength(): number {
    return this.vectorLength(Model.SIGNATURE_DEFS);
  }
}

/** `table TensorMap` (a SignatureDef's name -> tensor entry). */
export class TensorMap extends TableAccessor {
  /** field 0 `name:string` */
  name(): string | null {
    return this.string(0);
  }
  /** field 1 `tensor_index:uint` */
  tensorIndex(): number {
    return this.uint32(1, 0);
  }
}

/** `table SignatureDef`. */
export class SignatureDef extends TableAccessor {
  /** field 0 `inputs:[TensorMap]` */
  inputs(index: number, obj?: TensorMap): TensorMap | null {
    return this.table(0, index, obj ?? new TensorMap());
  }
  inputsLength(): number {
    return this.vectorLength(0);
  }
  /** field 1 `outputs:[TensorMap]` */
  outputs(index: number, obj?: TensorMap): TensorMap | null {
    return this.table(1, index, obj ?? new TensorMap());
  }
  outputsLength(): number {
    return this.vectorLength(1);
  }
  /** field 2 `signature_key:string` */
  signatureKey(): string | null {
    return this.string(2);
  }
  /** field 4 `subgraph_index:uint` */
  subgraphIndex(): number {
    return this.uint32(4, 0);
  }
}

/** `table Conv2DOptions`. */
export class Conv2DOptions extends TableAccessor {
  /** field 0 `padding:Padding` */
  padding(): number {
    return this.int8(0, Padding.SAME);
  }
  /** field 1 `stride_w:int` */
  strideW(): number {
    return this.int32(1, 0);
  }
  /** field 2 `stride_h:int` */
  strideH(): number {
    return this.int32(2, 0);
  }
  /** field 3 `fused_activation_function:ActivationFunctionType` */
  fusedActivationFunction(): number {
    return this.int8(3, ActivationFunctionType.NONE);
  }
  /** field 4 `dilation_w_factor:int = 1` */
  dilationWFactor(): number {
    return this.int32(4, 1);
  }
  /** field 5 `dilation_h_factor:int = 1` */
  dilationHFactor(): number {
    return this.int32(5, 1);
  }
}

/** `table DepthwiseConv2DOptions`. */
export class DepthwiseConv2DOptions extends TableAccessor {
  /** field 0 `padding:Padding` */
  padding(): number {
    return this.int8(0, Padding.SAME);
  }
  /** field 1 `stride_w:int` */
  strideW(): number {
    return this.int32(1, 0);
  }
  /** field 2 `stride_h:int` */
  strideH(): number {
    return this.int32(2, 0);
  }
  /** field 3 `depth_multiplier:int` */
  depthMultiplier(): number {
    return this.int32(3, 0);
  }
  /** field 4 `fused_activation_function:ActivationFunctionType` */
  fusedActivationFunction(): number {
    return this.int8(4, ActivationFunctionType.NONE);
  }
  /** field 5 `dilation_w_factor:int = 1` */
  dilationWFactor(): number {
    return this.int32(5, 1);
  }
  /** field 6 `dilation_h_factor:int = 1` */
  dilationHFactor(): number {
    return this.int32(6, 1);
  }
}

/** `table Pool2DOptions`. */
export class Pool2DOptions extends TableAccessor {
  /** field 0 `padding:Padding` */
  padding(): number {
    return this.int8(0, Padding.SAME);
  }
  /** field 1 `stride_w:int` */
  strideW(): number {
    return this.int32(1, 0);
  }
  /** field 2 `stride_h:int` */
  strideH(): number {
    return this.int32(2, 0);
  }
  /** field 3 `filter_width:int` */
  filterWidth(): number {
    return this.int32(3, 0);
  }
  /** field 4 `filter_height:int` */
  filterHeight(): number {
    return this.int32(4, 0);
  }
  /** field 5 `fused_activation_function:ActivationFunctionType` */
  fusedActivationFunction(): number {
    return this.int8(5, ActivationFunctionType.NONE);
  }
}

/** `table AddOptions`. */
export class AddOptions extends TableAccessor {
  /** field 0 `fused_activation_function:ActivationFunctionType` */
  fusedActivationFunction(): number {
    return this.int8(0, ActivationFunctionType.NONE);
  }
}

/** `table ConcatenationOptions`. */
export class ConcatenationOptions extends TableAccessor {
  /** field 0 `axis:int` */
  axis(): number {
    return this.int32(0, 0);
  }
  /** field 1 `fused_activation_function:ActivationFunctionType` */
  fusedActivationFunction(): number {
    return this.int8(1, ActivationFunctionType.NONE);
  }
}

/** `table ResizeNearestNeighborOptions`. */
export class ResizeNearestNeighborOptions extends TableAccessor {
  /** field 0 `align_corners:bool` */
  alignCorners(): boolean {
    return this.bool(0);
  }
  /** field 1 `half_pixel_centers:bool` */
  halfPixelCenters(): boolean {
    return this.bool(1);
  }
}

/** `table ResizeBilinearOptions` (fields 0, 1 `new_height`, `new_width` are deprecated). */
export class ResizeBilinearOptions extends TableAccessor {
  /** field 2 `align_corners:bool` */
  alignCorners(): boolean {
    return this.bool(2);
  }
  /** field 3 `half_pixel_centers:bool` */
  halfPixelCenters(): boolean {
    return this.bool(3);
  }
}
