/**
 * A depth map as a NumPy `.npy` file (v1, little-endian float32, C order), the format the
 * authors' Python tools and `numpy.load` read. Pure bytes, so the browser can offer a download
 * and Node can write it (`writeDepthNpy` in `@fastdepth/runtime-web/node`).
 */
import { DepthEstimatorError } from './errors.js';

/** `values` (row-major) with `shape` (e.g. `[height, width]`) -> the bytes of a `.npy` file. */
export function encodeNpy(values: Float32Array, shape: readonly number[]): Uint8Array<ArrayBuffer> {
  const count = shape.reduce((a, b) => a * b, 1);
  if (!shape.every((d) => Number.isInteger(d) && d >= 0) || count !== values.length)
    throw new DepthEstimatorError(
      `encodeNpy: shape [${shape.join(', ')}] does not hold ${values.length} values`,
      'BAD_INPUT',
    );
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }`;
  // numpy pads the header with spaces and a newline so the data starts on a 64-byte boundary.
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + values.length * 4);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  const data = new DataView(out.buffer, 10 + header.length);
  for (let i = 0; i < values.length; i++) data.setFloat32(i * 4, values[i]!, true);
  return out;
}
