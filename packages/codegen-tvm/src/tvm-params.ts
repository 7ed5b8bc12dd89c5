/**
 * TVM's own parameter file: what `tvm.runtime.save_param_dict` writes and
 * `tvm.runtime.load_param_dict` reads (TVM `src/runtime/file_utils.cc` SaveParams and
 * `NDArray::Save`). Little-endian throughout:
 *
 *   u64 kTVMNDArrayListMagic, u64 reserved = 0,
 *   u64 name count, then per name: u64 byte length + UTF-8 bytes,
 *   u64 array count, then per array:
 *     u64 kTVMNDArrayMagic, u64 reserved = 0,
 *     i32 device_type = 1 (kDLCPU), i32 device_id = 0,
 *     i32 ndim, u8 type code = 2 (kDLFloat), u8 bits = 32, u16 lanes = 1,
 *     i64 shape[ndim], i64 data byte size, data.
 */
import { numel, type TensorF32, WeightsError } from '@fastdepth/graph-dsl';

export const TVM_NDARRAY_LIST_MAGIC = 0xf7e58d4f05049cb7n;
export const TVM_NDARRAY_MAGIC = 0xdd5e40f096b4a13fn;
export const DL_CPU = 1;
export const DL_FLOAT = 2;

/** Grows as it is written; avoids computing the file size twice. */
class Writer {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): void {
    this.reserve(1);
    this.view.setUint8(this.length, v);
    this.length += 1;
  }
  u16(v: number): void {
    this.reserve(2);
    this.view.setUint16(this.length, v, true);
    this.length += 2;
  }
  i32(v: number): void {
    this.reserve(4);
    this.view.setInt32(this.length, v, true);
    this.length += 4;
  }
  u64(v: bigint | number): void {
    this.reserve(8);
    this.view.setBigUint64(this.length, BigInt(v), true);
    this.length += 8;
  }
  i64(v: number): void {
    this.reserve(8);
    this.view.setBigInt64(this.length, BigInt(v), true);
    this.length += 8;
  }
  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  /** float32 values, little-endian whatever the host order. */
  f32s(data: Float32Array): void {
    this.reserve(data.length * 4);
    for (let i = 0; i < data.length; i++) this.view.setFloat32(this.length + i * 4, data[i]!, true);
    this.length += data.length * 4;
  }
  finish(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/**
 * Encodes float32 tensors as a TVM parameter file. Names are written as given (use Relay
 * parameter names, without `%`), in iteration order.
 */
export function encodeTvmParams(params: ReadonlyMap<string, TensorF32>): Uint8Array {
  const w = new Writer();
  const utf8 = new TextEncoder();
  w.u64(TVM_NDARRAY_LIST_MAGIC);
  w.u64(0);
  w.u64(params.size);
  for (const name of params.keys()) {
    const b = utf8.encode(name);
    w.u64(b.length);
    w.bytes(b);
  }
  w.u64(params.size);
  for (const [name, t] of params) {
    if (t.data.length !== numel(t.shape)) {
      throw new WeightsError(
        name,
        `holds ${t.data.length} values but shape [${t.shape.join(', ')}] needs ${numel(t.shape)}`,
      );
    }
    w.u64(TVM_NDARRAY_MAGIC);
    w.u64(0);
    w.i32(DL_CPU);
    w.i32(0);
    w.i32(t.shape.length);
    w.u8(DL_FLOAT);
    w.u8(32);
    w.u16(1);
    for (const d of t.shape) w.i64(d);
    w.i64(t.data.length * 4);
    w.f32s(t.data);
  }
  return w.finish();
}
