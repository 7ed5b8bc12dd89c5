/**
 * Weight layout conversions from the DSL's PyTorch layouts to what tfjs kernels read. All of
 * this happens at emit time, so the generated `predict` never transposes a weight.
 */

/** A float32 tensor in a tfjs layout, ready to be written into the weights file. */
export interface LaidOut {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/**
 * conv2d weight (out, in, kh, kw) -> tfjs conv2d filter [kh, kw, in, out] (HWIO), keeping the
 * output channels `[outBegin, outBegin + outCount)` (one group of a grouped conv).
 */
export function oihwToHwio(
  data: Float32Array,
  shape: readonly number[],
  outBegin = 0,
  outCount = shape[0]!,
): LaidOut {
  const [, cin, kh, kw] = shape as [number, number, number, number];
  const out = new Float32Array(kh * kw * cin * outCount);
  for (let o = 0; o < outCount; o++) {
    for (let i = 0; i < cin; i++) {
      for (let y = 0; y < kh; y++) {
        for (let x = 0; x < kw; x++) {
          out[((y * kw + x) * cin + i) * outCount + o] =
            data[(((outBegin + o) * cin + i) * kh + y) * kw + x]!;
        }
      }
    }
  }
  return { shape: [kh, kw, cin, outCount], data: out };
}

/**
 * Depthwise conv2d weight (C * m, 1, kh, kw) -> tfjs depthwise filter [kh, kw, C, m]. PyTorch's
 * output channel `c * m + q` and tfjs's (channel c, multiplier q) are the same channel.
 */
export function depthwiseToHwcm(data: Float32Array, shape: readonly number[], channels: number): LaidOut {
  const [cout, , kh, kw] = shape as [number, number, number, number];
  const m = cout / channels;
  const out = new Float32Array(kh * kw * cout);
  for (let c = 0; c < channels; c++) {
    for (let q = 0; q < m; q++) {
      for (let y = 0; y < kh; y++) {
        for (let x = 0; x < kw; x++)
          out[((y * kw + x) * channels + c) * m + q] = data[((c * m + q) * kh + y) * kw + x]!;
      }
    }
  }
  return { shape: [kh, kw, channels, m], data: out };
}

/**
 * convTranspose2d weight (in, out/groups, kh, kw) -> tfjs `conv2dTranspose` filter
 * [kh, kw, out, in], keeping input channels `[inBegin, inBegin + inCount)` (one group).
 * tfjs computes the input gradient of a conv whose filter is [kh, kw, out, in]; that gradient
 * is PyTorch's transposed conv with the same (unflipped) taps.
 */
export function iohwToHwoi(
  data: Float32Array,
  shape: readonly number[],
  inBegin = 0,
  inCount = shape[0]!,
): LaidOut {
  const [, cout, kh, kw] = shape as [number, number, number, number];
  const out = new Float32Array(kh * kw * cout * inCount);
  for (let i = 0; i < inCount; i++) {
    for (let o = 0; o < cout; o++) {
      for (let y = 0; y < kh; y++) {
        for (let x = 0; x < kw; x++)
          out[((y * kw + x) * cout + o) * inCount + i] =
            data[(((inBegin + i) * cout + o) * kh + y) * kw + x]!;
      }
    }
  }
  return { shape: [kh, kw, cout, inCount], data: out };
}

/**
 * Depthwise convTranspose2d weight (C, m, kh, kw) -> a depthwise filter [kh, kw, C, m] with
 * the taps flipped: a transposed conv equals a plain conv over the zero-inserted input with
 * the kernel rotated by 180 degrees.
 */
export function transposedDepthwiseToFlippedHwcm(data: Float32Array, shape: readonly number[]): LaidOut {
  const [channels, m, kh, kw] = shape as [number, number, number, number];
  const out = new Float32Array(kh * kw * channels * m);
  for (let c = 0; c < channels; c++) {
    for (let q = 0; q < m; q++) {
      for (let y = 0; y < kh; y++) {
        for (let x = 0; x < kw; x++) {
          out[((y * kw + x) * channels + c) * m + q] =
            data[((c * m + q) * kh + (kh - 1 - y)) * kw + (kw - 1 - x)]!;
        }
      }
    }
  }
  return { shape: [kh, kw, channels, m], data: out };
}

/**
 * Channel order that turns PyTorch PixelShuffle (CRD: input channel c*r*r + i*r + j) into tfjs
 * `depthToSpace` (DCR: input channel (i*r + j)*C + c). `perm[k]` = the CRD channel that must
 * sit at DCR position k.
 */
export function crdToDcrPermutation(channels: number, blockSize: number): number[] {
  const r2 = blockSize * blockSize;
  const outChannels = channels / r2;
  const perm = new Array<number>(channels);
  for (let k = 0; k < r2; k++) for (let c = 0; c < outChannels; c++) perm[k * outChannels + c] = c * r2 + k;
  return perm;
}

/** Reorders the last axis of a tensor: out[..., k] = in[..., perm[k]]. */
export function permuteLastAxis(t: LaidOut, perm: readonly number[]): LaidOut {
  const n = perm.length;
  if (t.shape[t.shape.length - 1] !== n)
    throw new Error(`permutation of length ${n} does not fit shape [${t.shape.join(', ')}]`);
  const out = new Float32Array(t.data.length);
  for (let base = 0; base < t.data.length; base += n) {
    for (let k = 0; k < n; k++) out[base + k] = t.data[base + perm[k]!]!;
  }
  return { shape: t.shape, data: out };
}

/**
 * Reorders axis 2 of a rank-4 tensor (the `out` axis of a [kh, kw, out, in] transposed-conv
 * filter).
 */
export function permuteAxis2(t: LaidOut, perm: readonly number[]): LaidOut {
  const [a, b, n, d] = t.shape as [number, number, number, number];
  if (n !== perm.length)
    throw new Error(`permutation of length ${perm.length} does not fit shape [${t.shape.join(', ')}]`);
  const out = new Float32Array(t.data.length);
  for (let p = 0; p < a * b; p++) {
    for (let k = 0; k < n; k++)
      out.set(t.data.subarray((p * n + perm[k]!) * d, (p * n + perm[k]! + 1) * d), (p * n + k) * d);
  }
  return { shape: t.shape, data: out };
}
