/**
 * Building networks by name: `buildArch('fastdepth')`, `buildArch('resnet50-upproj-skipconcat')`,
 * and `fastdepth({ widths })` for any channel widths (what NetAdapt produces). Every network is
 * an encoder + a decoder declared through the same blocks, so `fastdepth` and
 * `mobilenet-nnconv5dw-skipadd` are one graph.
 */
import { FastDepthError, GraphBuilder, type Graph, type Tensor } from '@fastdepth/graph-dsl';
import { DECODER_WIDTHS, decoder } from './decoders.js';
import { MOBILENET_WIDTHS, mobilenet, resnet, type EncoderOutput } from './encoders.js';
import { FASTDEPTH_SPEC, formatArchName, parseArchName, type ArchSpec } from './names.js';

/** Options every architecture accepts. */
export interface ArchOptions {
  /** Input height and width (a number = square). Each a positive multiple of 32. Default 224. */
  readonly inputSize?: number | readonly [number, number];
}

/** Channel widths of FastDepth: what NetAdapt prunes. */
export interface FastDepthWidths {
  /** 14 output widths, conv0..conv13. */
  readonly encoder: readonly number[];
  /** 5 output widths, decode_conv1..decode_conv5. */
  readonly decoder: readonly number[];
}

/** The unpruned network (MobileNet-v1 1.0 + NNConv5dw 512..32). */
export const FASTDEPTH_WIDTHS: FastDepthWidths = { encoder: MOBILENET_WIDTHS, decoder: DECODER_WIDTHS };

/** The authors' NetAdapt-pruned network, as recovered from their TVM tuning logs. */
export const FASTDEPTH_PRUNED_WIDTHS: FastDepthWidths = {
  encoder: [16, 56, 88, 120, 144, 256, 408, 376, 272, 288, 296, 328, 480, 512],
  decoder: [200, 256, 120, 56, 16],
};

/** Layer whose width each entry of `FastDepthWidths.encoder` / `.decoder` sets. */
export const FASTDEPTH_ENCODER_LAYERS: readonly string[] = Array.from({ length: 14 }, (_, i) => `conv${i}`);
export const FASTDEPTH_DECODER_LAYERS: readonly string[] = Array.from(
  { length: 5 },
  (_, i) => `decode_conv${i + 1}`,
);

/** A skip add that ties an encoder width to a decoder width (both sides must stay equal and aligned). */
export interface SkipTie {
  /** The add layer, e.g. `skip2_add`. */
  readonly add: string;
  /** Encoder block and its index in `FastDepthWidths.encoder`. */
  readonly encoder: string;
  readonly encoderIndex: number;
  /** Decoder block and its index in `FastDepthWidths.decoder`. */
  readonly decoder: string;
  readonly decoderIndex: number;
}

/** The three skip adds of FastDepth: conv5 = decode_conv2, conv3 = decode_conv3, conv1 = decode_conv4. */
export const FASTDEPTH_SKIP_TIES: readonly SkipTie[] = [
  { add: 'skip2_add', encoder: 'conv5', encoderIndex: 5, decoder: 'decode_conv2', decoderIndex: 1 },
  { add: 'skip3_add', encoder: 'conv3', encoderIndex: 3, decoder: 'decode_conv3', decoderIndex: 2 },
  { add: 'skip4_add', encoder: 'conv1', encoderIndex: 1, decoder: 'decode_conv4', decoderIndex: 3 },
];

/** The input size as [height, width]; throws `FastDepthError` unless each is a positive multiple of 32. */
export function resolveInputSize(inputSize: ArchOptions['inputSize'] = 224): readonly [number, number] {
  const pair: readonly unknown[] = typeof inputSize === 'number' ? [inputSize, inputSize] : inputSize;
  const ok =
    Array.isArray(pair) &&
    pair.length === 2 &&
    pair.every((v) => typeof v === 'number' && Number.isInteger(v) && v > 0 && v % 32 === 0);
  if (!ok) {
    throw new FastDepthError(
      `inputSize: height and width must each be a positive multiple of 32 (the encoder halves the size 5 times), found ${JSON.stringify(inputSize)}`,
    );
  }
  return [pair[0] as number, pair[1] as number];
}

function checkWidthList(side: 'encoder' | 'decoder', values: unknown, layers: readonly string[]): void {
  if (!Array.isArray(values) || values.length !== layers.length) {
    const found = Array.isArray(values) ? `${values.length} entries` : JSON.stringify(values);
    throw new FastDepthError(
      `widths.${side} must list ${layers.length} widths (${layers[0]}..${layers.at(-1)}), found ${found}`,
    );
  }
  values.forEach((v: unknown, i) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new FastDepthError(
        `widths.${side}[${i}] (${layers[i]}) must be a positive integer, found ${JSON.stringify(v)}`,
      );
    }
  });
}

/**
 * Checks a width vector before anything is declared: lengths, positive integers, then the
 * skip ties (so the error names both layers rather than an add's shape mismatch).
 */
export function checkFastDepthWidths(widths: FastDepthWidths): void {
  checkWidthList('encoder', widths.encoder, FASTDEPTH_ENCODER_LAYERS);
  checkWidthList('decoder', widths.decoder, FASTDEPTH_DECODER_LAYERS);
  for (const t of FASTDEPTH_SKIP_TIES) {
    const e = widths.encoder[t.encoderIndex]!;
    const d = widths.decoder[t.decoderIndex]!;
    if (e !== d) {
      throw new FastDepthError(
        `widths: ${t.encoder} (${e}) and ${t.decoder} (${d}) are tied by skip add ${t.add} and must be equal`,
      );
    }
  }
}

interface BuildParams {
  readonly spec: ArchSpec;
  readonly arch: string;
  readonly graphName: string;
  readonly size: readonly [number, number];
  readonly widths?: FastDepthWidths;
}

function encode(
  g: GraphBuilder,
  spec: ArchSpec,
  x: Tensor,
  widths: FastDepthWidths | undefined,
): EncoderOutput {
  switch (spec.encoder) {
    case 'mobilenet':
      return mobilenet(g, x, widths?.encoder);
    case 'resnet18':
      return resnet(g, x, 18);
    case 'resnet34':
      return resnet(g, x, 34);
    case 'resnet50':
      return resnet(g, x, 50);
  }
}

/** The one place a network is declared: input, encoder, decoder + head, output `depth`. */
function declare(p: BuildParams): Graph {
  const [h, w] = p.size;
  const meta: Record<string, string | number> = {
    arch: p.arch,
    inputSize: `${h}x${w}`,
    inputHeight: h,
    inputWidth: w,
  };
  if (p.widths) meta.widths = JSON.stringify({ encoder: p.widths.encoder, decoder: p.widths.decoder });
  const g = new GraphBuilder(p.graphName, meta);
  const x = g.input('input', [1, 3, h, w]);
  const enc = encode(g, p.spec, x, p.widths);
  const head = decoder(g, p.spec.decoder, p.spec.skip, enc.features, enc.skips, p.widths?.decoder);
  g.output('depth', head);
  return g.build();
}

export interface FastDepthOptions extends ArchOptions {
  /** Channel widths; default `FASTDEPTH_WIDTHS` (unpruned). */
  readonly widths?: FastDepthWidths;
  /** Graph name; default `mobilenet-nnconv5dw-skipadd`. Also recorded as `meta.arch`. */
  readonly name?: string;
}

const FASTDEPTH_CANONICAL = formatArchName(FASTDEPTH_SPEC);

/**
 * FastDepth (MobileNet-NNConv5dw, additive skips) with any channel widths. Widths are checked
 * first (lengths, positive integers, skip ties); `meta.widths` records them as JSON.
 */
export function fastdepth(options: FastDepthOptions = {}): Graph {
  const widths = options.widths ?? FASTDEPTH_WIDTHS;
  checkFastDepthWidths(widths);
  return declare({
    spec: FASTDEPTH_SPEC,
    arch: options.name ?? 'fastdepth',
    graphName: options.name ?? FASTDEPTH_CANONICAL,
    size: resolveInputSize(options.inputSize),
    widths,
  });
}

/**
 * Builds a network by name (`ARCH_NAMES`). The graph's name and `meta.arch` are the name as
 * given (so emitted artifacts say `fastdepth-pruned`, not the family name); the layers of
 * `fastdepth` and `mobilenet-nnconv5dw-skipadd` are identical. Unknown names throw
 * `FastDepthError` with close matches.
 */
export function buildArch(name: string, options: ArchOptions = {}): Graph {
  const spec = parseArchName(name);
  const size = resolveInputSize(options.inputSize);
  const canonical = formatArchName(spec);
  const widths =
    name === 'fastdepth-pruned'
      ? FASTDEPTH_PRUNED_WIDTHS
      : canonical === FASTDEPTH_CANONICAL
        ? FASTDEPTH_WIDTHS
        : undefined;
  return declare({ spec, arch: name, graphName: name, size, ...(widths ? { widths } : {}) });
}
