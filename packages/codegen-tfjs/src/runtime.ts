/**
 * The model-independent part of every generated module: manifest types, the error class, the
 * weights reader and the input check. Kept as source text (not imported at run time) so a
 * generated module depends on `@tensorflow/tfjs-core` alone.
 */
export const RUNTIME_DECLARATIONS = String.raw`
/**
 * One tensor of the weights file (little-endian, in the layout tfjs reads): float32, float16, or
 * int8 with one float32 scale per channel along scales.axis (value = int8 x scale).
 */
export interface WeightsManifestEntry {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: string;
  readonly layout: string;
  readonly byteOffset: number;
  readonly byteLength: number;
  readonly scales?: { readonly axis: number; readonly byteOffset: number };
}

/** The JSON manifest written next to the weights file. */
export interface WeightsManifest {
  readonly format: string;
  readonly version: number;
  readonly arch: string;
  readonly generator?: string;
  readonly weightsFile?: string;
  readonly byteLength: number;
  readonly tensors: readonly WeightsManifestEntry[];
}

/** Bad weights or a bad input; the message names the tensor and what was expected. */
export class ModelError extends Error {
  override readonly name = 'ModelError';
}

interface WeightSpec {
  readonly name: keyof Weights;
  readonly shape: readonly number[];
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

const BYTES_PER_VALUE: Readonly<Record<string, number>> = { float32: 4, float16: 2, int8: 1 };

function float16ToFloat32(bits: number): number {
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  const magnitude =
    exponent === 0 ? mantissa * 2 ** -24 : exponent === 0x1f ? (mantissa === 0 ? Infinity : NaN) : (1024 + mantissa) * 2 ** (exponent - 25);
  return bits & 0x8000 ? -magnitude : magnitude;
}

function checkRange(name: string, what: string, begin: number, byteLength: number, buffer: ArrayBuffer): void {
  if (!Number.isInteger(begin) || begin < 0 || begin + byteLength > buffer.byteLength) {
    throw new ModelError(
      'tensor "' + name + '": ' + what + 'bytes ' + String(begin) + '..' + String(begin + byteLength) + ' lie outside the ' + String(buffer.byteLength) + '-byte buffer',
    );
  }
}

/** The tensor's values as float32, whatever its stored dtype (copies: aligned, and independent of the buffer). */
function decode(entry: WeightsManifestEntry, shape: readonly number[], count: number, buffer: ArrayBuffer): Float32Array {
  const begin = entry.byteOffset;
  const bytes = buffer.slice(begin, begin + entry.byteLength);
  if (entry.dtype === 'float32') return new Float32Array(bytes);
  if (entry.dtype === 'float16') return Float32Array.from(new Uint16Array(bytes), float16ToFloat32);
  const scales = entry.scales;
  if (scales === undefined || !Number.isInteger(scales.axis) || scales.axis < 0 || scales.axis >= shape.length) {
    throw new ModelError('tensor "' + entry.name + '": int8 without a valid scales.axis (0..' + String(shape.length - 1) + ')');
  }
  const channels = shape[scales.axis] ?? 1;
  checkRange(entry.name, 'scales ', scales.byteOffset, channels * 4, buffer);
  const scale = new Float32Array(buffer.slice(scales.byteOffset, scales.byteOffset + channels * 4));
  const inner = shape.slice(scales.axis + 1).reduce((a, b) => a * b, 1);
  const values = new Int8Array(bytes);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = (values[i] ?? 0) * (scale[Math.floor(i / inner) % channels] ?? 0);
  return out;
}

function readWeights(manifest: WeightsManifest, buffer: ArrayBuffer): Map<string, Float32Array> {
  if (manifest.format !== MODEL_INFO.weightsFormat || manifest.version !== MODEL_INFO.weightsFormatVersion) {
    throw new ModelError(
      'weights manifest: format ' + JSON.stringify(manifest.format) + ' version ' + String(manifest.version) +
        ', expected ' + MODEL_INFO.weightsFormat + ' version ' + String(MODEL_INFO.weightsFormatVersion),
    );
  }
  if (manifest.arch !== MODEL_INFO.arch) {
    throw new ModelError('weights manifest is for arch "' + manifest.arch + '", this module runs "' + MODEL_INFO.arch + '"');
  }
  if (buffer.byteLength !== manifest.byteLength) {
    throw new ModelError(
      'weights buffer holds ' + String(buffer.byteLength) + ' bytes, the manifest says ' + String(manifest.byteLength) + ' (truncated or wrong file?)',
    );
  }
  const entries = new Map<string, WeightsManifestEntry>();
  for (const entry of manifest.tensors) {
    if (entries.has(entry.name)) throw new ModelError('tensor "' + entry.name + '": listed twice in the weights manifest');
    entries.set(entry.name, entry);
  }
  const expected = new Set<string>(WEIGHT_SPECS.map((spec) => spec.name));
  for (const name of entries.keys()) {
    if (!expected.has(name)) throw new ModelError('tensor "' + name + '": not a weight of "' + MODEL_INFO.arch + '"');
  }
  const data = new Map<string, Float32Array>();
  for (const spec of WEIGHT_SPECS) {
    const entry = entries.get(spec.name);
    if (entry === undefined) throw new ModelError('tensor "' + spec.name + '": missing from the weights manifest');
    const size = BYTES_PER_VALUE[entry.dtype];
    if (size === undefined) throw new ModelError('tensor "' + spec.name + '": dtype ' + entry.dtype + ', expected float32, float16 or int8');
    if (!sameShape(entry.shape, spec.shape)) {
      throw new ModelError('tensor "' + spec.name + '": shape [' + entry.shape.join(', ') + '], expected [' + spec.shape.join(', ') + ']');
    }
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const byteLength = count * size;
    if (entry.byteLength !== byteLength) {
      throw new ModelError('tensor "' + spec.name + '": ' + String(entry.byteLength) + ' bytes, shape needs ' + String(byteLength) + ' as ' + entry.dtype);
    }
    checkRange(spec.name, '', entry.byteOffset, byteLength, buffer);
    const values = decode(entry, spec.shape, count, buffer);
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new ModelError('tensor "' + spec.name + '": value ' + String(values[bad]) + ' at flat index ' + String(bad) + ' is not finite');
    data.set(spec.name, values);
  }
  return data;
}

function checkInput(input: tf.Tensor4D): void {
  if (input.dtype !== 'float32') throw new ModelError('predict: input dtype ' + input.dtype + ', expected float32');
  if (!sameShape(input.shape, MODEL_INFO.inputShape)) {
    throw new ModelError('predict: input shape [' + input.shape.join(', ') + '], expected [' + MODEL_INFO.inputShape.join(', ') + '] (NHWC)');
  }
}
`;
