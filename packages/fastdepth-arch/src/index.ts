/**
 * @fastdepth/fastdepth-arch — FastDepth and the authors' ablation family (MobileNet/ResNet
 * encoders x DeConv/UpConv/UpProj/NNConv/BLConv/Shuffle decoders x none/add/concat skips),
 * declared once in the graph DSL with a stable name on every layer.
 */
export {
  buildArch,
  fastdepth,
  checkFastDepthWidths,
  resolveInputSize,
  FASTDEPTH_WIDTHS,
  FASTDEPTH_PRUNED_WIDTHS,
  FASTDEPTH_ENCODER_LAYERS,
  FASTDEPTH_DECODER_LAYERS,
  FASTDEPTH_SKIP_TIES,
  type ArchOptions,
  type FastDepthOptions,
  type FastDepthWidths,
  type SkipTie,
} from './arch.js';
export {
  ARCH_NAMES,
  ARCH_ALIASES,
  ENCODERS,
  DECODER_KERNELS,
  FASTDEPTH_SPEC,
  parseArchName,
  formatArchName,
  describeArch,
  suggestArchNames,
  editDistance,
  unknownArchError,
  type ArchSpec,
  type DecoderSpec,
  type DecoderKind,
  type DecoderKernel,
  type EncoderKind,
  type SkipKind,
} from './names.js';
export {
  convBn,
  separable,
  decoderConv,
  nnconv,
  blconv,
  deconv,
  upconv,
  upproj,
  shuffle,
  basicBlock,
  bottleneck,
  type Activation,
  type ConvBnOptions,
  type SeparableOptions,
  type DecoderBlockOptions,
} from './blocks.js';
export {
  mobilenet,
  resnet,
  MOBILENET_WIDTHS,
  MOBILENET_STRIDES,
  ENCODER_OUT_CHANNELS,
  type EncoderOutput,
  type ResNetDepth,
} from './encoders.js';
export {
  decoder,
  decoderBlock,
  decoderWidths,
  joinSkip,
  DECODER_WIDTHS,
  SHUFFLE_WIDTHS,
  SKIP_AFTER_BLOCK,
} from './decoders.js';
