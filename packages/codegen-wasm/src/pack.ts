/**
 * The weight packer: folded weights rearranged at emit time into the exact order the kernels
 * stream them, with padded channels as zeros, so the inner loops read one contiguous stream.
 *
 * - pointwise (1x1) and dense convs: blocks of 8 output channels (a last block of 4 when the
 *   padded count is 4 mod 8); inside a block [tap][input channel][8 or 4 outputs]: each step of
 *   the inner loop broadcasts one input value and multiplies it by one or two v128 of weights;
 * - depthwise: [channel/4][tap][4];
 * - heads (one output channel): the input channels in order;
 * - every bias: padded to a multiple of 4 (zeros), read as v128.
 */
import { pad4, type ConvGeom, type ConvTGeom } from './plan.js';

/**
 * Where the packed weights of a conv lie and which output channel each value belongs to, so
 * they can be stored smaller (float16, or int8 with one scale per output channel) and unpacked
 * at load: value `i` of the segment (from `byteOffset`) is output channel
 * `floor(i / block) * lanes + (i % block) % lanes`. Biases, tables and padding are not listed
 * (they stay float32 / bit for bit).
 */
export interface WeightSegment {
  readonly byteOffset: number;
  /** Values (float32) in the segment. */
  readonly count: number;
  readonly lanes: number;
  readonly block: number;
}

export class WeightPacker {
  private readonly chunks: Float32Array[] = [];
  private floats = 0;
  readonly segments: WeightSegment[] = [];

  /** Appends `data` (16-byte aligned) and returns its byte offset from the start of the weights. */
  private push(data: Float32Array): number {
    const padding = (4 - (this.floats % 4)) % 4;
    if (padding) this.chunks.push(new Float32Array(padding));
    this.floats += padding;
    const at = this.floats * 4;
    this.chunks.push(data);
    this.floats += data.length;
    return at;
  }

  /** `push` for conv weights, with their channel layout (blocks of `lanes` channels, `block` values each). */
  private pushWeights(data: Float32Array, lanes: number, block: number, tail?: { lanes: number }): number {
    const at = this.push(data);
    const full = tail === undefined ? data.length : data.length - (block / lanes) * tail.lanes;
    if (full > 0) this.segments.push({ byteOffset: at, count: full, lanes, block });
    if (tail !== undefined && full < data.length) {
      const count = data.length - full;
      this.segments.push({ byteOffset: at + full * 4, count, lanes: tail.lanes, block: count });
    }
    return at;
  }

  bias(g: ConvGeom): number {
    const b = new Float32Array(pad4(g.cout));
    if (g.bias) b.set(g.bias);
    return this.push(b);
  }

  /**
   * Dense conv (groups 1) in blocks of output channels. `cinEff` input channels per tap: the
   * real count when the kernel unrolls them (first conv: 3), the padded count otherwise.
   */
  dense(g: ConvGeom, cinEff: number): number {
    const coutP = pad4(g.cout);
    const taps = g.kh * g.kw;
    const out = new Float32Array(coutP * taps * cinEff);
    let i = 0;
    for (let c0 = 0; c0 < coutP; c0 += 8) {
      const nb = Math.min(8, coutP - c0);
      for (let t = 0; t < taps; t++) {
        for (let ci = 0; ci < cinEff; ci++) {
          for (let j = 0; j < nb; j++) {
            const o = c0 + j;
            out[i++] = o < g.cout && ci < g.cin ? g.weight[(o * g.cin + ci) * taps + t]! : 0;
          }
        }
      }
    }
    // Blocks of 8 channels, a last block of 4 when the padded count is 4 mod 8.
    const block = 8 * taps * cinEff;
    return coutP % 8 === 0 ? this.pushWeights(out, 8, block) : this.pushWeights(out, 8, block, { lanes: 4 });
  }

  depthwise(g: ConvGeom): number {
    const cp = pad4(g.cin);
    const taps = g.kh * g.kw;
    const out = new Float32Array(cp * taps);
    let i = 0;
    for (let cv = 0; cv < cp; cv += 4)
      for (let t = 0; t < taps; t++)
        for (let l = 0; l < 4; l++) {
          const c = cv + l;
          out[i++] = c < g.cin ? g.weight[c * taps + t]! : 0;
        }
    return this.pushWeights(out, 4, 4 * taps);
  }

  /** Per-channel constants padded to `n` with zeros (a map stage's scale, then its shift). */
  channels(n: number, ...values: Float32Array[]): number {
    const out = new Float32Array(n * values.length);
    values.forEach((v, i) => out.set(v, i * n));
    return this.push(out);
  }

  /**
   * Transposed conv: [tap][input channel, padded][output channel, padded], zero where input and
   * output channel are in different groups (PyTorch weight layout in, out / groups, kh, kw).
   */
  convT(g: ConvTGeom): number {
    const cinP = pad4(g.cin);
    const coP = pad4(g.cout);
    const taps = g.kh * g.kw;
    const cinG = g.cin / g.groups;
    const coutG = g.cout / g.groups;
    const out = new Float32Array(taps * cinP * coP);
    for (let t = 0; t < taps; t++)
      for (let ci = 0; ci < g.cin; ci++)
        for (let co = 0; co < g.cout; co++) {
          const grp = Math.floor(co / coutG);
          if (Math.floor(ci / cinG) !== grp) continue;
          out[(t * cinP + ci) * coP + co] = g.weight[(ci * coutG + (co - grp * coutG)) * taps + t]!;
        }
    return this.push(out);
  }

  /** An int32 table (stored bit for bit among the floats). */
  table(values: Int32Array): number {
    return this.push(new Float32Array(values.buffer.slice(0)));
  }

  head(g: ConvGeom): number {
    const out = new Float32Array(pad4(g.cin));
    out.set(g.weight.subarray(0, g.cin));
    return this.pushWeights(out, 1, out.length);
  }

  /** Every packed tensor, concatenated, as little-endian float32 bytes. */
  bytes(): Uint8Array<ArrayBuffer> {
    const all = new Float32Array(this.floats);
    let at = 0;
    for (const c of this.chunks) {
      all.set(c, at);
      at += c.length;
    }
    const bytes = new Uint8Array(all.buffer);
    // Float32Array is platform-endian; wasm memory is little-endian.
    if (new Uint8Array(Float32Array.of(1).buffer)[3] !== 0x3f) {
      const view = new DataView(bytes.buffer);
      for (let k = 0; k < all.length; k++) view.setFloat32(k * 4, all[k]!, true);
    }
    return bytes;
  }
}
