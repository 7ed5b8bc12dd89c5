/**
 * The network input size for a camera or photo of another aspect ratio. FastDepth is fully
 * convolutional: compiled at 224x288 instead of 224x224 it sees a whole 4:3 frame (with `fit:
 * 'fill'`) instead of the authors' centre crop, which drops a quarter of it. The encoder halves
 * the size five times, so each side is a multiple of 32.
 */
import { DepthEstimatorError } from './errors.js';

/**
 * `[height, width]` for a `frameWidth` x `frameHeight` frame: the short side `shortSide`
 * (default 224, the paper's), the long side the multiple of 32 nearest to it times the frame's
 * aspect ratio. 640x480 -> `[224, 288]` (4:3 is 298.7 wide, 288 the nearest multiple of 32),
 * 1280x720 -> `[224, 384]`, 480x640 -> `[288, 224]`.
 */
export function aspectInputSize(
  frameWidth: number,
  frameHeight: number,
  shortSide = 224,
): readonly [number, number] {
  if (!(frameWidth > 0 && frameHeight > 0))
    throw new DepthEstimatorError(
      `aspectInputSize: frame ${frameWidth}x${frameHeight}, expected a positive size`,
      'BAD_OPTION',
    );
  if (!Number.isInteger(shortSide) || shortSide < 32 || shortSide % 32 !== 0)
    throw new DepthEstimatorError(
      `aspectInputSize: short side ${shortSide}, expected a positive multiple of 32`,
      'BAD_OPTION',
    );
  const ratio = Math.max(frameWidth, frameHeight) / Math.min(frameWidth, frameHeight);
  const long = Math.max(shortSide, Math.round((shortSide * ratio) / 32) * 32);
  return frameWidth >= frameHeight ? [shortSide, long] : [long, shortSide];
}
