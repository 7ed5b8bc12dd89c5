/**
 * The decoder: five blocks `decode_conv1`..`decode_conv5`, each doubling the resolution, the
 * encoder skips joined after blocks 2, 3 and 4, then the head `decode_conv6` (1x1 conv to one
 * channel + BN + ReLU, so depth is non-negative).
 */
import { assertNever, type GraphBuilder, type Tensor } from '@fastdepth/graph-dsl';
import { blconv, convBn, deconv, nnconv, shuffle, upconv, upproj } from './blocks.js';
import type { DecoderSpec, SkipKind } from './names.js';

/** Output widths of decode_conv1..5 for every decoder but shuffle (1024 -> ... -> 32). */
export const DECODER_WIDTHS: readonly number[] = [512, 256, 128, 64, 32];
/** Pixel shuffle quarters the channels at each block: 1024 -> 256 -> ... -> 1. */
export const SHUFFLE_WIDTHS: readonly number[] = [256, 64, 16, 4, 1];

/** Nominal output widths of the five blocks of a decoder. */
export function decoderWidths(spec: DecoderSpec): readonly number[] {
  return spec.kind === 'shuffle' ? SHUFFLE_WIDTHS : DECODER_WIDTHS;
}

/** Which skip (index into the encoder's [x1, x2, x3]) joins after which decoder block. */
export const SKIP_AFTER_BLOCK: Readonly<Record<number, 0 | 1 | 2>> = { 2: 2, 3: 1, 4: 0 };

/** Declares one decoder block of the given kind. */
export function decoderBlock(
  g: GraphBuilder,
  spec: DecoderSpec,
  name: string,
  x: Tensor,
  outChannels: number,
): Tensor {
  const o = { outChannels, kernel: spec.kernel ?? 5, depthwise: spec.depthwise };
  switch (spec.kind) {
    case 'deconv':
      return deconv(g, name, x, o);
    case 'upconv':
      return upconv(g, name, x, o);
    case 'upproj':
      return upproj(g, name, x, o);
    case 'nnconv':
      return nnconv(g, name, x, o);
    case 'blconv':
      return blconv(g, name, x, o);
    case 'shuffle':
      return shuffle(g, name, x, o);
    default:
      return assertNever(spec.kind);
  }
}

/**
 * Joins encoder features `e` to decoder output `y` after block `k`: `skip{k}_add` (with a
 * lateral 1x1 conv + BN `skip{k}_proj` when the widths differ: our choice, not the authors')
 * or `skip{k}_concat` (decoder first, as the authors' `torch.cat((x, x1), 1)`).
 */
export function joinSkip(g: GraphBuilder, skip: SkipKind, k: number, y: Tensor, e: Tensor): Tensor {
  switch (skip) {
    case 'none':
      return y;
    case 'add': {
      const lateral =
        e.shape[1] === y.shape[1]
          ? e
          : convBn(g, `skip${k}_proj`, e, { outChannels: y.shape[1], kernel: 1, act: 'none' });
      return g.add(`skip${k}_add`, y, lateral);
    }
    case 'concat':
      return g.concat(`skip${k}_concat`, y, e);
    default:
      return assertNever(skip);
  }
}

/**
 * The whole decoder and head on `features`; `widths` are the five block output widths
 * (default: the nominal ones of the decoder kind). Returns the head's output.
 */
export function decoder(
  g: GraphBuilder,
  spec: DecoderSpec,
  skip: SkipKind,
  features: Tensor,
  skips: readonly [Tensor, Tensor, Tensor],
  widths: readonly number[] = decoderWidths(spec),
): Tensor {
  let y = features;
  for (let k = 1; k <= 5; k++) {
    y = decoderBlock(g, spec, `decode_conv${k}`, y, widths[k - 1]!);
    const s = SKIP_AFTER_BLOCK[k];
    if (s !== undefined) y = joinSkip(g, skip, k, y, skips[s]);
  }
  return convBn(g, 'decode_conv6', y, { outChannels: 1, kernel: 1, act: 'relu' });
}
