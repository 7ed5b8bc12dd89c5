/**
 * Test-only: reads a TVM parameter file, written from the format description (TVM
 * `file_utils.cc` LoadParams / `NDArray::Load`), independently of the encoder.
 */
export interface ReadTensor {
  readonly shape: number[];
  readonly deviceType: number;
  readonly deviceId: number;
  readonly dtype: { code: number; bits: number; lanes: number };
  readonly data: Float32Array;
}

export function readTvmParams(bytes: Uint8Array): Map<string, ReadTensor> {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 0;
  const u64 = (): bigint => {
    const x = v.getBigUint64(p, true);
    p += 8;
    return x;
  };
  const num = (): number => Number(u64());
  const i32 = (): number => {
    const x = v.getInt32(p, true);
    p += 4;
    return x;
  };
  if (u64() !== 0xf7e58d4f05049cb7n) throw new Error('not a TVM parameter file (list magic)');
  if (u64() !== 0n) throw new Error('reserved field is not 0');
  const names: string[] = [];
  const count = num();
  for (let i = 0; i < count; i++) {
    const len = num();
    names.push(new TextDecoder().decode(bytes.subarray(p, p + len)));
    p += len;
  }
  const arrays = num();
  if (arrays !== count) throw new Error(`${count} names but ${arrays} arrays`);
  const out = new Map<string, ReadTensor>();
  for (const name of names) {
    if (u64() !== 0xdd5e40f096b4a13fn) throw new Error(`${name}: bad NDArray magic`);
    if (u64() !== 0n) throw new Error(`${name}: reserved field is not 0`);
    const deviceType = i32();
    const deviceId = i32();
    const ndim = i32();
    const dtype = { code: v.getUint8(p), bits: v.getUint8(p + 1), lanes: v.getUint16(p + 2, true) };
    p += 4;
    const shape: number[] = [];
    for (let d = 0; d < ndim; d++) {
      shape.push(Number(v.getBigInt64(p, true)));
      p += 8;
    }
    const size = Number(v.getBigInt64(p, true));
    p += 8;
    const n = shape.reduce((a, b) => a * b, 1);
    if (size !== n * (dtype.bits / 8) * dtype.lanes)
      throw new Error(`${name}: data size ${size} does not match shape`);
    const data = new Float32Array(n);
    for (let k = 0; k < n; k++) data[k] = v.getFloat32(p + 4 * k, true);
    p += size;
    out.set(name, { shape, deviceType, deviceId, dtype, data });
  }
  if (p !== bytes.length) throw new Error(`${bytes.length - p} trailing bytes`);
  return out;
}
