/// <reference lib="dom" />
/**
 * Any accepted image -> an 8-bit pixel buffer, with the checks that turn a bad input into a
 * clear message instead of a crash inside a kernel. Browser image sources are drawn once at
 * their natural size, so the browser and Node resample the same way (`preprocess`).
 */
import { DepthEstimatorError } from './errors.js';
import type { ImageInput, PixelBuffer } from './types.js';

function isPixelBuffer(image: ImageInput): image is PixelBuffer | ImageData {
  return typeof image === 'object' && 'data' in image;
}

/** Checks a pixel buffer (or `ImageData`, which is one with 4 channels). */
export function checkPixels(image: PixelBuffer): PixelBuffer {
  const { data, width, height } = image;
  const channels = image.channels ?? 4;
  if (channels !== 3 && channels !== 4) {
    throw new DepthEstimatorError(
      `estimate: channels ${String(channels)}, expected 3 (RGB) or 4 (RGBA)`,
      'BAD_IMAGE',
    );
  }
  if (!(data instanceof Uint8Array) && !(data instanceof Uint8ClampedArray)) {
    throw new DepthEstimatorError(
      'estimate: image data must be a Uint8Array or Uint8ClampedArray of 8-bit samples',
      'BAD_IMAGE',
    );
  }
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new DepthEstimatorError(
      `estimate: image size ${String(width)}x${String(height)}, width and height must be positive integers`,
      'BAD_IMAGE',
    );
  }
  const expected = width * height * channels;
  if (data.length !== expected) {
    const kind = channels === 4 ? 'RGBA' : 'RGB';
    throw new DepthEstimatorError(
      `estimate: image data holds ${data.length} bytes, expected ${width} x ${height} x ${channels} (${kind}) = ${expected}`,
      'BAD_IMAGE',
    );
  }
  return { data, width, height, channels };
}

type Drawable = Exclude<ImageInput, PixelBuffer | ImageData>;

function naturalSize(image: Drawable): [number, number] {
  if (typeof HTMLVideoElement !== 'undefined' && image instanceof HTMLVideoElement)
    return [image.videoWidth, image.videoHeight];
  if (typeof HTMLImageElement !== 'undefined' && image instanceof HTMLImageElement) {
    if (!image.complete)
      throw new DepthEstimatorError('estimate: the image element has not finished loading', 'BAD_IMAGE');
    return [image.naturalWidth, image.naturalHeight];
  }
  if (typeof VideoFrame !== 'undefined' && image instanceof VideoFrame)
    return [image.displayWidth, image.displayHeight];
  const sized = image as Exclude<Drawable, VideoFrame>;
  return [sized.width, sized.height];
}

let reusable: OffscreenCanvasRenderingContext2D | undefined;

/** The pixels of `image` (browser sources are read through a 2D canvas). */
export function toPixels(image: ImageInput): PixelBuffer {
  if (image === null || typeof image !== 'object')
    throw new DepthEstimatorError('estimate: expected an image, got ' + String(image), 'BAD_IMAGE');
  if (isPixelBuffer(image)) return checkPixels(image);
  const [width, height] = naturalSize(image);
  if (!(width > 0 && height > 0)) {
    throw new DepthEstimatorError(
      `estimate: image source is ${width}x${height} (a video without a frame yet, or an image that failed to load?)`,
      'BAD_IMAGE',
    );
  }
  let context: OffscreenCanvasRenderingContext2D | CanvasRenderingContext2D | null;
  if (typeof OffscreenCanvas !== 'undefined') {
    // One canvas per size, reused: a stream reads every frame at the same size.
    if (reusable?.canvas.width !== width || reusable.canvas.height !== height)
      reusable =
        new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true }) ?? undefined;
    context = reusable ?? null;
  } else if (typeof document !== 'undefined') {
    const canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = height;
    context = canvas.getContext('2d', { willReadFrequently: true });
  } else {
    throw new DepthEstimatorError(
      'estimate: browser image sources need a canvas; in Node pass { data, width, height, channels }',
      'UNSUPPORTED',
    );
  }
  if (context === null)
    throw new DepthEstimatorError('estimate: could not create a 2D canvas to read the image', 'UNSUPPORTED');
  // A reused canvas holds the last image: cleared, so a transparent one is not drawn over it.
  context.clearRect(0, 0, width, height);
  context.drawImage(image, 0, 0, width, height);
  return context.getImageData(0, 0, width, height);
}
