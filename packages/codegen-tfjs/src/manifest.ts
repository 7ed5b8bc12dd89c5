/**
 * The weights file format: little-endian tensors concatenated, described by a JSON manifest
 * written next to it. Each tensor has its own dtype: float32, float16, or int8 with one float32
 * scale per output channel (symmetric, stored after the tensor's bytes); the generated loader
 * turns every one back into float32 when it creates the tensors. The generated module declares
 * the same interfaces, so the module needs nothing from this package at run time.
 */
import { WeightsError } from '@fastdepth/graph-dsl';
import type { WeightLayout } from './emitters.js';
import type { LaidOut } from './layout.js';

export const WEIGHTS_FORMAT = 'fastdepth-tfjs-weights';
export const WEIGHTS_FORMAT_VERSION = 1;
/** The generator name and version written into every generated header and manifest. */
export const GENERATOR_NAME = '@fastdepth/codegen-tfjs';
export const GENERATOR_VERSION = '0.1.0';

/** How the weights are stored on disk (in memory they are always float32). */
export const WEIGHTS_DTYPES = ['float32', 'float16', 'int8'] as const;
export type WeightsDtype = (typeof WEIGHTS_DTYPES)[number];

/** Per-channel scales of an int8 tensor: `shape[axis]` float32 values at `byteOffset`. */
export interface WeightsScales {
  /** The output-channel axis: 3 for HWIO, 2 for HWCM and HWOI. */
  readonly axis: number;
  readonly byteOffset: number;
}

/** One tensor of the weights file, in the layout the generated code feeds to tfjs. */
export interface WeightsManifestEntry {
  /** `${layer}.${suffix}` (plus `.group${g}` for per-group weights of grouped convs). */
  readonly name: string;
  readonly shape: readonly number[];
  /** Storage type; `int8` only for 4-D filters (vectors stay float32). */
  readonly dtype: WeightsDtype;
  /** HWIO (conv2d), HWCM (depthwise), HWOI (conv2dTranspose), C (vectors). */
  readonly layout: WeightLayout;
  readonly byteOffset: number;
  /** Bytes of the values alone (the int8 scales are not counted). */
  readonly byteLength: number;
  /** int8 only: value = int8 x scales[channel along `axis`]. */
  readonly scales?: WeightsScales;
}

/** The JSON manifest written next to the weights file. */
export interface WeightsManifest {
  readonly format: typeof WEIGHTS_FORMAT;
  readonly version: typeof WEIGHTS_FORMAT_VERSION;
  /** Graph (architecture) name; `loadWeights` rejects a manifest for another arch. */
  readonly arch: string;
  readonly generator: string;
  /** Name of the binary file this manifest describes. */
  readonly weightsFile: string;
  readonly byteLength: number;
  readonly tensors: readonly WeightsManifestEntry[];
}

export interface PackedWeight {
  readonly name: string;
  readonly layout: WeightLayout;
  readonly tensor: LaidOut;
}

/** The axis of the output channel in each filter layout (one int8 scale per index on it). */
const CHANNEL_AXIS: Readonly<Record<WeightLayout, number | undefined>> = {
  HWIO: 3,
  HWCM: 2,
  HWOI: 2,
  C: undefined,
};

/** The largest finite half-precision value. */
export const FLOAT16_MAX = 65504;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 half-precision bits of `value`, rounded to nearest even (overflow -> infinity). */
export function toFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): shift the implicit 1 in, round to nearest even.
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mantissa & ((1 << shift) - 1);
    let bits = mantissa >>> shift;
    if (rest > half || (rest === half && (bits & 1) === 1)) bits++;
    return sign | bits;
  }
  let bits = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (bits & 1) === 1)) bits++; // may carry into the exponent: still right
  return sign | bits;
}

/** Symmetric per-channel int8: `q = round(w / s)` with `s = max |w| / 127` of the channel. */
export function quantizeInt8(
  data: Float32Array,
  shape: readonly number[],
  axis: number,
): { readonly values: Int8Array; readonly scales: Float32Array } {
  const channels = shape[axis]!;
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const channelOf = (i: number): number => Math.floor(i / inner) % channels;
  const max = new Float32Array(channels);
  for (let i = 0; i < data.length; i++) {
    const c = channelOf(i);
    max[c] = Math.max(max[c]!, Math.abs(data[i]!));
  }
  const scales = max.map((m) => m / 127);
  const values = new Int8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const s = scales[channelOf(i)]!;
    values[i] = s === 0 ? 0 : Math.max(-127, Math.min(127, Math.round(data[i]! / s)));
  }
  return { values, scales };
}

/** Concatenates `weights` little-endian (whatever the host's byte order) in `dtype`. */
export function packWeights(
  arch: string,
  weightsFile: string,
  weights: readonly PackedWeight[],
  dtype: WeightsDtype = 'float32',
): { readonly bytes: Uint8Array; readonly manifest: WeightsManifest } {
  const chunks: Uint8Array[] = [];
  const tensors: WeightsManifestEntry[] = [];
  let offset = 0;
  const push = (chunk: Uint8Array): number => {
    const at = offset;
    chunks.push(chunk);
    offset += chunk.byteLength;
    return at;
  };
  const float32Bytes = (data: Float32Array): Uint8Array => {
    const bytes = new Uint8Array(data.length * 4);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i]!, true);
    return bytes;
  };
  for (const w of weights) {
    const { data, shape } = w.tensor;
    const axis = CHANNEL_AXIS[w.layout];
    const base = { name: w.name, shape: [...shape], layout: w.layout };
    if (dtype === 'int8' && axis !== undefined) {
      const { values, scales } = quantizeInt8(data, shape, axis);
      const byteOffset = push(new Uint8Array(values.buffer));
      const scalesOffset = push(float32Bytes(scales));
      tensors.push({
        ...base,
        dtype: 'int8',
        byteOffset,
        byteLength: values.byteLength,
        scales: { axis, byteOffset: scalesOffset },
      });
    } else if (dtype === 'float16') {
      const bytes = new Uint8Array(data.length * 2);
      const view = new DataView(bytes.buffer);
      for (let i = 0; i < data.length; i++) {
        if (Math.abs(data[i]!) > FLOAT16_MAX)
          throw new WeightsError(
            w.name,
            `value ${data[i]} at flat index ${i} does not fit float16 (|x| <= ${FLOAT16_MAX}); use float32 or int8`,
          );
        view.setUint16(i * 2, toFloat16Bits(data[i]!), true);
      }
      tensors.push({ ...base, dtype: 'float16', byteOffset: push(bytes), byteLength: bytes.byteLength });
    } else {
      const bytes = float32Bytes(data);
      tensors.push({ ...base, dtype: 'float32', byteOffset: push(bytes), byteLength: bytes.byteLength });
    }
  }
  const bytes = new Uint8Array(offset);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  const manifest: WeightsManifest = {
    format: WEIGHTS_FORMAT,
    version: WEIGHTS_FORMAT_VERSION,
    arch,
    generator: `${GENERATOR_NAME} ${GENERATOR_VERSION}`,
    weightsFile,
    byteLength: offset,
    tensors,
  };
  return { bytes, manifest };
}
