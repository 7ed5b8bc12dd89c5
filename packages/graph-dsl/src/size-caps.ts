/**
 * Size caps every graph is checked against where its shapes are inferred (loading JSON,
 * imports, the builder): a declared 1e9-channel conv or a 1048576x1048576 input is a mistake
 * to name, not an allocation to try ("Invalid typed array length" deep inside an executor).
 * Generous: every family network passes at the CLI's largest input size (4096x4096, where the
 * resnet50 skip-concat decoders hold 2^31 values in one tensor), so only nonsense is refused.
 */
import { GraphError } from './errors.js';
import type { OpAttrMap, OpKind, Shape } from './ir.js';
import { fmt, OPS, type OpDef } from './ops.js';

/**
 * Limits on declared sizes, checked at every declaration and load, so a mistyped or hostile
 * graph is refused by name before anything allocates.
 */
export const SIZE_CAPS = {
  /** Channels of any tensor (the family's widest is 2048). */
  channels: 65536,
  /** Height and width of any tensor. */
  spatial: 16384,
  /** Values in one activation tensor, batch included. */
  elements: 2 ** 31,
  /** Values in one parameter tensor (the family's largest holds 13107200). */
  paramElements: 2 ** 28,
} as const;

const product = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** The attribute a too-large dimension of this op's output comes from, for the message. */
function fieldOf(op: OpKind, dim: 'channels' | 'spatial'): string {
  if (op === 'input') return 'attribute "shape"';
  if (dim === 'channels' && (op === 'conv2d' || op === 'convTranspose2d')) return 'attribute "outChannels"';
  return 'the output shape';
}

/**
 * Checks one node's output shape and parameter tensors against `SIZE_CAPS`; throws
 * `GraphError` naming the layer, the field and the cap.
 */
export function checkSizeCaps<K extends OpKind>(
  layer: string,
  op: K,
  attrs: OpAttrMap[K],
  inputs: readonly Shape[],
  shape: Shape,
): void {
  const [, channels, height, width] = shape;
  if (channels > SIZE_CAPS.channels)
    throw new GraphError(
      layer,
      `${channels} channels (${fieldOf(op, 'channels')}) is more than the ${SIZE_CAPS.channels} a tensor may have`,
    );
  for (const [side, value] of [
    ['height', height],
    ['width', width],
  ] as const) {
    if (value > SIZE_CAPS.spatial)
      throw new GraphError(
        layer,
        `${side} ${value} (${fieldOf(op, 'spatial')}) is more than the ${SIZE_CAPS.spatial} a tensor may have`,
      );
  }
  const elements = product(shape);
  if (elements > SIZE_CAPS.elements)
    throw new GraphError(
      layer,
      `output ${fmt(shape)} holds ${elements} values, more than the ${SIZE_CAPS.elements} (2^31) a tensor may hold`,
    );
  for (const spec of (OPS[op] as unknown as OpDef<K>).params(attrs, inputs)) {
    const count = product(spec.shape);
    if (count > SIZE_CAPS.paramElements)
      throw new GraphError(
        layer,
        `parameter "${spec.suffix}" of shape ${fmt(spec.shape)} holds ${count} values, more than the ${SIZE_CAPS.paramElements} (2^28) a parameter may hold`,
      );
  }
}
