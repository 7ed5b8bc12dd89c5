import { initWeights, type TensorF32 } from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { relayParams } from './emit-relay.js';
import { OP_GRAPHS } from './testing/graphs.js';
import { readTvmParams } from './testing/tvm-params-reader.js';
import { encodeTvmParams } from './tvm-params.js';

describe('encodeTvmParams', () => {
  it('round-trips through a reader written from the format description', () => {
    const graph = OP_GRAPHS.deconv_bn_relu!;
    const params = relayParams({ graph, weights: initWeights(graph, 7) });
    const back = readTvmParams(encodeTvmParams(params));
    expect([...back.keys()]).toEqual([...params.keys()]);
    for (const [name, t] of params) {
      const r = back.get(name)!;
      expect(r.shape).toEqual(t.shape);
      expect(r.deviceType).toBe(1);
      expect(r.deviceId).toBe(0);
      expect(r.dtype).toEqual({ code: 2, bits: 32, lanes: 1 });
      expect(r.data).toEqual(t.data);
    }
  });

  it('lays out the bytes exactly as NDArray::Save does', () => {
    const t: TensorF32 = { shape: [2], data: Float32Array.from([1.5, -2]) };
    const b = encodeTvmParams(new Map([['ab', t]]));
    const v = new DataView(b.buffer);
    expect(v.getBigUint64(0, true)).toBe(0xf7e58d4f05049cb7n);
    expect(v.getBigUint64(8, true)).toBe(0n);
    expect(v.getBigUint64(16, true)).toBe(1n); // names
    expect(v.getBigUint64(24, true)).toBe(2n); // name length
    expect(String.fromCharCode(b[32]!, b[33]!)).toBe('ab');
    expect(v.getBigUint64(34, true)).toBe(1n); // arrays
    expect(v.getBigUint64(42, true)).toBe(0xdd5e40f096b4a13fn);
    expect(v.getBigUint64(50, true)).toBe(0n);
    expect([v.getInt32(58, true), v.getInt32(62, true), v.getInt32(66, true)]).toEqual([1, 0, 1]); // cpu, id 0, ndim 1
    expect([b[70], b[71], v.getUint16(72, true)]).toEqual([2, 32, 1]); // float, 32 bits, 1 lane
    expect(v.getBigInt64(74, true)).toBe(2n); // shape
    expect(v.getBigInt64(82, true)).toBe(8n); // data bytes
    expect([v.getFloat32(90, true), v.getFloat32(94, true)]).toEqual([1.5, -2]);
    expect(b.length).toBe(98);
  });

  it('rejects a tensor whose data does not fit its shape, naming it', () => {
    expect(() => encodeTvmParams(new Map([['w', { shape: [3], data: new Float32Array(2) }]]))).toThrow(
      /"w".*3/,
    );
  });
});
