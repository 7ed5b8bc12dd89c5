/**
 * `.npz`: a zip of `.npy` members, stored uncompressed, as `numpy.savez` writes it, so
 * `np.load(f)[name]` works. The zip container comes from fflate; the `.npy` members from
 * graph-dsl's writer.
 */
import { zipSync } from 'fflate';
import { encodeNpy, type TensorF32 } from '@fastdepth/graph-dsl';

/** `.npy` bytes of one float32 tensor. */
export function encodeTensorNpy(t: TensorF32): Uint8Array {
  return encodeNpy(t.shape, t.data);
}

/** `numpy.savez`-style archive: member `<name>.npy` per tensor. */
export function encodeNpz(tensors: ReadonlyMap<string, TensorF32>): Uint8Array {
  const members: Record<string, [Uint8Array, { level: 0 }]> = {};
  for (const [name, t] of tensors) members[`${name}.npy`] = [encodeTensorNpy(t), { level: 0 }];
  return zipSync(members);
}
