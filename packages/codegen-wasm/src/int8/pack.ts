/**
 * The int8 weight packer: integer weights in the order the int8 kernels stream them, biases with
 * the input zero point folded in, requantisation tables and displacement tables, in one
 * little-endian blob (16-byte aligned parts).
 *
 * - pointwise (1x1): blocks of 8 output channels; inside a block [input pair k/2][2 x 4 outputs]
 *   [2 inputs]: each step loads 16 bytes (`v128.load8x8_s` twice) that `i32x4.dot_i16x8_s`
 *   pairs with a broadcast (x[k], x[k+1]);
 * - dense convs: blocks of 8 outputs, [(tap, input channel)][8];
 * - depthwise: [channel/8][kernel row][tap pair][8 channels][2 taps] (`packDepthwise`);
 * - heads (one output channel): the input channels, padded to 8.
 */
import type { ConvGeom } from '../plan.js';
import { pad8 } from './plan.js';

export class BlobPacker {
  private readonly parts: Uint8Array[] = [];
  private length = 0;

  /** Appends bytes at a 16-byte boundary; returns their offset in the blob. */
  private push(bytes: Uint8Array): number {
    const padding = (16 - (this.length % 16)) % 16;
    if (padding) this.parts.push(new Uint8Array(padding));
    this.length += padding;
    const at = this.length;
    this.parts.push(bytes);
    this.length += bytes.length;
    return at;
  }

  int8(values: Int8Array): number {
    return this.push(new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice());
  }

  int32(values: Int32Array): number {
    const bytes = new Uint8Array(values.length * 4);
    const view = new DataView(bytes.buffer);
    values.forEach((v, i) => view.setInt32(i * 4, v, true));
    return this.push(bytes);
  }

  bytes(): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

/** w[o][ci][tap] of an OIHW (or depthwise C x 1 x kh x kw) tensor. */
const at = (g: ConvGeom, w: Int8Array, o: number, ci: number, t: number): number =>
  w[(o * g.cin + ci) * g.kh * g.kw + t]!;

export function packPointwise(g: ConvGeom, w: Int8Array): Int8Array {
  const coutP = pad8(g.cout);
  const k = pad8(g.cin);
  const out = new Int8Array(coutP * k);
  let i = 0;
  for (let c0 = 0; c0 < coutP; c0 += 8)
    for (let kp = 0; kp < k; kp += 2)
      for (let j = 0; j < 8; j++)
        for (let d = 0; d < 2; d++) {
          const o = c0 + j;
          const ci = kp + d;
          out[i++] = o < g.cout && ci < g.cin ? at(g, w, o, ci, 0) : 0;
        }
  return out;
}

export function packDense(g: ConvGeom, w: Int8Array, cinEff: number): Int8Array {
  const coutP = pad8(g.cout);
  const taps = g.kh * g.kw;
  const out = new Int8Array(coutP * taps * cinEff);
  let i = 0;
  for (let c0 = 0; c0 < coutP; c0 += 8)
    for (let t = 0; t < taps; t++)
      for (let ci = 0; ci < cinEff; ci++)
        for (let j = 0; j < 8; j++) {
          const o = c0 + j;
          out[i++] = o < g.cout && ci < g.cin ? at(g, w, o, ci, t) : 0;
        }
  return out;
}

/**
 * Depthwise weights as tap pairs for `i32x4.dot_i16x8_s`: [channel/8][kernel row][pair]
 * [2 halves of 4 channels][channel][kx, kx + 1] (a missing kx + 1 of an odd width is 0).
 */
export function packDepthwise(g: ConvGeom, w: Int8Array): Int8Array {
  const cp = pad8(g.cin);
  const taps = g.kh * g.kw;
  const pairs = Math.ceil(g.kw / 2);
  const out = new Int8Array(cp * g.kh * pairs * 2);
  let i = 0;
  for (let cv = 0; cv < cp; cv += 8)
    for (let ky = 0; ky < g.kh; ky++)
      for (let j = 0; j < pairs; j++)
        for (let l = 0; l < 8; l++)
          for (let d = 0; d < 2; d++) {
            const c = cv + l;
            const kx = 2 * j + d;
            out[i++] = c < g.cin && kx < g.kw ? w[c * taps + ky * g.kw + kx]! : 0;
          }
  return out;
}

/** `bias - 128 * sum(w)` per output channel: the bias of a usdot conv, whose inputs are x + 128. */
export function unsignedBias(bias: Int32Array, w: Int8Array, perOut: number, channels: number): Int32Array {
  return bias.map((b, o) => {
    let sum = 0;
    if (o < channels) for (let i = 0; i < perOut; i++) sum += w[o * perOut + i]!;
    return (b - 128 * sum) | 0;
  });
}

export function packHead(g: ConvGeom, w: Int8Array): Int8Array {
  const out = new Int8Array(pad8(g.cin));
  out.set(w.subarray(0, g.cin));
  return out;
}

/**
 * Bias with the input zero point folded in, padded to `padded` channels: `bias - zp * sum(w)`
 * over each output channel's taps (padding reads zp, so every tap counts). Also returns a bound
 * on TFLite's |acc| per channel (`|bias| + 255 * sum|w|`).
 */
export function foldBias(
  g: ConvGeom,
  w: Int8Array,
  bias: Int32Array,
  zpIn: number,
  padded: number,
  depthwise: boolean,
): { bias: Int32Array; bound: number[] } {
  const perOut = depthwise ? g.kh * g.kw : g.cin * g.kh * g.kw;
  const out = new Int32Array(padded);
  const bound: number[] = [];
  for (let o = 0; o < g.cout; o++) {
    let sum = 0;
    let abs = 0;
    for (let i = 0; i < perOut; i++) {
      const v = w[o * perOut + i]!;
      sum += v;
      abs += Math.abs(v);
    }
    out[o] = (bias[o]! - zpIn * sum) | 0;
    bound.push(Math.abs(bias[o]!) + 255 * abs);
  }
  return { bias: out, bound };
}
