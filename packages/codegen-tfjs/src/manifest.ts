/**
 * The weights file format: float32 little-endian tensors concatenated, described by a JSON
 * manifest written next to it. The generated module declares the same interfaces, so the
 * module needs nothing from this package at run time.
 */
import type { WeightLayout } from './emitters.js';
import type { LaidOut } from './layout.js';

export const WEIGHTS_FORMAT = 'fastdepth-tfjs-weights';
export const WEIGHTS_FORMAT_VERSION = 1;
/** The generator name and version written into every generated header and manifest. */
export const GENERATOR_NAME = '@fastdepth/codegen-tfjs';
export const GENERATOR_VERSION = '0.1.0';

/** One tensor of the weights file, in the layout the generated code feeds to tfjs. */
export interface WeightsManifestEntry {
  /** `${layer}.${suffix}` (plus `.group${g}` for per-group weights of grouped convs). */
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: 'float32';
  /** HWIO (conv2d), HWCM (depthwise), HWOI (conv2dTranspose), C (vectors). */
  readonly layout: WeightLayout;
  readonly byteOffset: number;
  readonly byteLength: number;
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

/** Concatenates `weights` as float32 little-endian (whatever the host's byte order). */
export function packWeights(
  arch: string,
  weightsFile: string,
  weights: readonly PackedWeight[],
): { readonly bytes: Uint8Array; readonly manifest: WeightsManifest } {
  const byteLength = weights.reduce((a, w) => a + w.tensor.data.length * 4, 0);
  const bytes = new Uint8Array(byteLength);
  const view = new DataView(bytes.buffer);
  const tensors: WeightsManifestEntry[] = [];
  let offset = 0;
  for (const w of weights) {
    const { data, shape } = w.tensor;
    for (let i = 0; i < data.length; i++) view.setFloat32(offset + i * 4, data[i]!, true);
    tensors.push({
      name: w.name,
      shape: [...shape],
      dtype: 'float32',
      layout: w.layout,
      byteOffset: offset,
      byteLength: data.length * 4,
    });
    offset += data.length * 4;
  }
  const manifest: WeightsManifest = {
    format: WEIGHTS_FORMAT,
    version: WEIGHTS_FORMAT_VERSION,
    arch,
    generator: `${GENERATOR_NAME} ${GENERATOR_VERSION}`,
    weightsFile,
    byteLength,
    tensors,
  };
  return { bytes, manifest };
}
