/**
 * Encoders: MobileNet-v1 (layers conv0..conv13, no pooling or classifier) and ResNet-18/34/50
 * in the torchvision layout followed by the authors' 1x1 conv to 1024 channels. Each returns
 * its deepest features (at H/32) and the three skip features at H/2, H/4 and H/8.
 */
import type { GraphBuilder, Tensor } from '@fastdepth/graph-dsl';
import { basicBlock, bottleneck, convBn, separable } from './blocks.js';

export interface EncoderOutput {
  /** Deepest features, at H/32 x W/32. */
  readonly features: Tensor;
  /** Skip features x1, x2, x3 at H/2, H/4 and H/8. */
  readonly skips: readonly [x1: Tensor, x2: Tensor, x3: Tensor];
}

/** Output widths of MobileNet-v1 1.0, conv0..conv13. */
export const MOBILENET_WIDTHS: readonly number[] = [
  32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024,
];
/** Stride of conv0..conv13 (on the depthwise conv for conv1..13). */
export const MOBILENET_STRIDES: readonly number[] = [2, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1];
/** Layers whose outputs are the skips x1, x2, x3. */
const MOBILENET_SKIP_LAYERS = [1, 3, 5] as const;

/**
 * MobileNet-v1: `conv0` (3x3 s2 + BN + ReLU6), then separable `conv1`..`conv13` (ReLU6).
 * `widths` are the 14 output widths; skips are the outputs of conv1, conv3 and conv5.
 */
export function mobilenet(
  g: GraphBuilder,
  x: Tensor,
  widths: readonly number[] = MOBILENET_WIDTHS,
): EncoderOutput {
  let y = convBn(g, 'conv0', x, { outChannels: widths[0]!, kernel: 3, stride: 2, act: 'relu6' });
  const outputs = [y];
  for (let i = 1; i < MOBILENET_STRIDES.length; i++) {
    y = separable(g, `conv${i}`, y, { outChannels: widths[i]!, stride: MOBILENET_STRIDES[i]!, act: 'relu6' });
    outputs.push(y);
  }
  const [a, b, c] = MOBILENET_SKIP_LAYERS.map((i) => outputs[i]!);
  return { features: y, skips: [a!, b!, c!] };
}

/** ResNet depths the family uses. */
export type ResNetDepth = 18 | 34 | 50;

const RESNET_LAYOUT: Readonly<Record<ResNetDepth, { blocks: readonly number[]; bottleneck: boolean }>> = {
  18: { blocks: [2, 2, 2, 2], bottleneck: false },
  34: { blocks: [3, 4, 6, 3], bottleneck: false },
  50: { blocks: [3, 4, 6, 3], bottleneck: true },
};

/** Width the encoder hands the decoder (the authors' `conv2` maps layer4 to it). */
export const ENCODER_OUT_CHANNELS = 1024;

/**
 * ResNet in torchvision's layout (`conv1` 7x7 s2 + `bn1` + `relu`, `maxpool` 3x3 s2, `layer1`..
 * `layer4`), then the authors' `conv2` 1x1 to 1024 + `bn2` (no ReLU there, as in their
 * `forward`). Skips: the stem `relu` (H/2), `layer1` (H/4) and `layer2` (H/8).
 */
export function resnet(g: GraphBuilder, x: Tensor, depth: ResNetDepth): EncoderOutput {
  const layout = RESNET_LAYOUT[depth];
  const block = layout.bottleneck ? bottleneck : basicBlock;
  const stem = g.relu(
    'relu',
    g.batchNorm('bn1', g.conv2d('conv1', x, { outChannels: 64, kernel: 7, stride: 2, pads: 3 })),
  );
  let y = g.maxPool('maxpool', stem, { kernel: 3, stride: 2, pads: 1 });
  const stages: Tensor[] = [];
  layout.blocks.forEach((count, stage) => {
    const planes = 64 * 2 ** stage;
    for (let i = 0; i < count; i++) {
      y = block(g, `layer${stage + 1}_${i}`, y, planes, i === 0 && stage > 0 ? 2 : 1);
    }
    stages.push(y);
  });
  const features = g.batchNorm('bn2', g.conv2d('conv2', y, { outChannels: ENCODER_OUT_CHANNELS, kernel: 1 }));
  return { features, skips: [stem, stages[0]!, stages[1]!] };
}
