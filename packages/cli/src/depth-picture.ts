/**
 * The picture `fastdepth predict` writes: the depth map coloured at the input image's size,
 * followed on the right by a colour bar labelled in metres (and preceded by the photo with
 * `--side-by-side`).
 *
 * The network sees a centre crop of the image (`coverCrop` in runtime-web: the sides of a 4:3
 * photo are cut off). The parts outside that crop have no estimate, so they are left
 * transparent rather than filled by stretching the edge values into streaks.
 *
 * The colour scale is by default the 2nd to 98th percentile of this image's depth (the network
 * emits isolated ~0 m and ~33 m pixels that would squeeze the rest into a few colours), `--range
 * full` its whole range, or a fixed `--range MIN,MAX` so that colours mean the same depth across
 * pictures. Text is drawn as SVG and rendered by
 * sharp (librsvg), as the prune plot does; the bar's colours are raw pixels from the same
 * colour table as the depth map, so both match exactly.
 */
import sharp, { type OverlayOptions } from 'sharp';
import {
  depthRange,
  resizeDepth,
  toColorMap,
  type ColormapName,
  type DepthResult,
} from '@fastdepth/runtime-web';
import { UserError } from './errors.js';

/** A depth interval in metres: the low and high ends of the colour map. */
export interface DepthRange {
  readonly min: number;
  readonly max: number;
}

/** A rectangle in whole pixels. */
export interface PixelBox {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** How the colour scale is chosen: fixed in metres, or from this image's depth. */
export type ColorScale = DepthRange | 'percentile' | 'full';

/**
 * Parses `--range`: `MIN,MAX` (metres, 0 <= MIN < MAX), `percentile` (2nd to 98th, the default)
 * or `full`; a bad value is a `UserError` naming the option.
 */
export function parseColorScale(text: string): ColorScale {
  const word = text.trim().toLowerCase();
  if (word === 'percentile' || word === 'full') return word;
  return parseRange(text);
}

/** Parses `--range MIN,MAX` (metres, 0 <= MIN < MAX); a bad value is a `UserError` naming the option. */
export function parseRange(text: string): DepthRange {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.length !== 2 || !parts.every((p) => NUMBER.test(p)))
    throw new UserError(
      `--range must be two numbers MIN,MAX in metres (e.g. 0,10), percentile or full, found "${text}"`,
    );
  const [min, max] = parts.map(Number) as [number, number];
  if (min < 0 || max < 0) throw new UserError(`--range must not be negative, found "${text}"`);
  if (!(min < max)) throw new UserError(`--range MIN must be less than MAX, found "${text}"`);
  return { min, max };
}

/**
 * The pixels of a `width` x `height` image whose centres lie in `crop` (fractional, as
 * `DepthResult.source.crop` gives it): exactly the pixels `resizeDepth(..., { outside: 'nan' })`
 * gives a depth to when rendering at the input's own size.
 */
export function cropPixels(
  crop: { readonly x: number; readonly y: number; readonly width: number; readonly height: number },
  width: number,
  height: number,
): PixelBox {
  const x0 = Math.max(0, Math.ceil(crop.x - 0.5));
  const y0 = Math.max(0, Math.ceil(crop.y - 0.5));
  const x1 = Math.min(width - 1, Math.floor(crop.x + crop.width - 0.5));
  const y1 = Math.min(height - 1, Math.floor(crop.y + crop.height - 0.5));
  return { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
}

/** Where the colour bar panel and the bar inside it go, for a picture `height` pixels high. */
export interface ColorBarLayout {
  /** Width of the panel to the right of the depth map (0: no colour bar, see `MIN_COLOR_BAR_HEIGHT`). */
  readonly panelWidth: number;
  /** The coloured bar, relative to the panel's top-left corner: max at the top, min at the bottom. */
  readonly bar: PixelBox;
  readonly fontSize: number;
}

/** Pictures lower than this get no colour bar: there is no room to label it. */
export const MIN_COLOR_BAR_HEIGHT = 64;

export function colorBarLayout(height: number): ColorBarLayout {
  if (height < MIN_COLOR_BAR_HEIGHT)
    return { panelWidth: 0, bar: { x: 0, y: 0, width: 0, height: 0 }, fontSize: 0 };
  // 13-pixel labels on a 480-pixel-high picture, larger on larger ones so they stay legible,
  // smaller on thumbnails so the title and the end labels still fit.
  const fontSize =
    height >= 480 ? Math.round((13 * height) / 480) : Math.max(8, Math.min(13, Math.floor(height / 11)));
  const top = Math.round(fontSize * 2.6);
  const bottom = Math.round(fontSize * 0.9);
  return {
    panelWidth: Math.round(fontSize * 7),
    bar: {
      x: Math.round(fontSize * 0.8),
      y: top,
      width: Math.round(fontSize * 1.5),
      height: height - top - bottom,
    },
    fontSize,
  };
}

/** Label of a tick in metres: at most two decimals, no trailing zeros. */
function metres(v: number): string {
  return Number(v.toFixed(2)).toString();
}

/**
 * About `count` evenly spaced round values (steps of 1, 2 or 5 times a power of ten) strictly
 * inside (lo, hi): the ends are labelled with their exact values.
 */
function innerTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [];
  const raw = (hi - lo) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t < hi; t += step) {
    const v = Number(t.toPrecision(12));
    if (v > lo && v < hi) ticks.push(v);
  }
  return ticks;
}

/** The colour bar panel: white, the bar in raw colours, ticks and labels in metres. */
async function colorBarPanel(height: number, range: DepthRange, colormap: ColormapName): Promise<Buffer> {
  const { panelWidth, bar, fontSize } = colorBarLayout(height);
  const y = (v: number): number =>
    bar.y + 0.5 + (1 - (v - range.min) / (range.max - range.min)) * (bar.height - 1);
  const tickX = bar.x + bar.width;
  const text = (v: number, at: number): string =>
    `<line x1="${tickX}" y1="${at}" x2="${tickX + 4}" y2="${at}" stroke="#000"/>` +
    `<text x="${tickX + 7}" y="${at + fontSize * 0.35}" font-size="${fontSize}">${metres(v)}</text>`;
  const svg = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${panelWidth}" height="${height}" font-family="sans-serif">`,
    `<rect width="${panelWidth}" height="${height}" fill="white"/>`,
    `<text x="${bar.x}" y="${Math.max(fontSize, bar.y - fontSize * 0.9)}" font-size="${fontSize}">depth (m)</text>`,
    text(range.max, bar.y + 0.5),
    text(range.min, bar.y + bar.height - 0.5),
    ...innerTicks(range.min, range.max)
      // Labels closer than a line to an end label are left out.
      .filter((v) => Math.min(y(v) - bar.y, bar.y + bar.height - y(v)) > fontSize * 1.3)
      .map((v) => text(v, y(v))),
    `</svg>`,
  ].join('');
  // The rows run from exactly max (top) to exactly min (bottom), coloured by the depth map's own
  // mapping, so the bar's ends are the extreme colours of the map.
  const values = Float32Array.from(
    { length: bar.height },
    (_, r) => range.max - (r / (bar.height - 1)) * (range.max - range.min),
  );
  const column = toColorMap(values, { colormap, min: range.min, max: range.max });
  const rgba = Buffer.alloc(bar.width * bar.height * 4);
  for (let r = 0; r < bar.height; r++)
    for (let c = 0; c < bar.width; c++) rgba.set(column.subarray(r * 4, r * 4 + 4), (r * bar.width + c) * 4);
  return sharp(Buffer.from(svg))
    .composite([
      { input: rgba, raw: { width: bar.width, height: bar.height, channels: 4 }, left: bar.x, top: bar.y },
    ])
    .png()
    .toBuffer();
}

export interface DepthPictureOptions {
  /** The estimate, with the input's size and the crop the network saw. */
  readonly result: Pick<DepthResult, 'depth' | 'width' | 'height' | 'source'>;
  /** The input image as RGBA, needed for `sideBySide`. */
  readonly image: { readonly data: Uint8Array; readonly width: number; readonly height: number };
  readonly colormap: ColormapName;
  /** The colour scale; default `percentile` (2nd to 98th of this estimate's depth). */
  readonly range?: ColorScale;
  readonly sideBySide?: boolean;
}

export interface DepthPicture {
  readonly png: Buffer;
  /** The colour scale used, in metres; `fixed` when it came from `--range MIN,MAX`. */
  readonly range: DepthRange & { readonly fixed: boolean; readonly scale: 'fixed' | 'percentile' | 'full' };
  /** The part of the input image the network saw, in input-image pixels; the rest is transparent. */
  readonly crop: PixelBox;
  /** Where the depth map and the colour bar are in the written picture. */
  readonly layout: { readonly depth: PixelBox; readonly colorBar: PixelBox };
}

export async function renderDepthPicture(o: DepthPictureOptions): Promise<DepthPicture> {
  const { width, height } = o.image;
  const scale = o.range ?? 'percentile';
  let range: DepthPicture['range'];
  if (typeof scale === 'object') range = { ...scale, fixed: true, scale: 'fixed' };
  else {
    const [lo, hi] = depthRange(o.result.depth, { range: scale });
    range = { min: lo, max: hi, fixed: false, scale };
  }
  // Outside the crop the depth is NaN, which toColorMap leaves transparent.
  const full = resizeDepth(o.result, width, height, { outside: 'nan' });
  const rgba = toColorMap(full, { colormap: o.colormap, min: range.min, max: range.max });
  const { panelWidth, bar } = colorBarLayout(height);
  const depthLeft = o.sideBySide ? width : 0;
  const panelLeft = depthLeft + width;
  const layers: OverlayOptions[] = [
    {
      input: Buffer.from(rgba.buffer, rgba.byteOffset, rgba.byteLength),
      raw: { width, height, channels: 4 },
      left: depthLeft,
      top: 0,
    },
  ];
  if (panelWidth > 0)
    layers.push({ input: await colorBarPanel(height, range, o.colormap), left: panelLeft, top: 0 });
  if (o.sideBySide)
    layers.unshift({
      input: Buffer.from(o.image.data.buffer, o.image.data.byteOffset, o.image.data.byteLength),
      raw: { width, height, channels: 4 },
      left: 0,
      top: 0,
    });
  const png = await sharp({
    create: {
      width: panelLeft + panelWidth,
      height,
      channels: 4,
      background: { r: 0, g: 0, b: 0, alpha: 0 },
    },
    // The input already passed predict's pixel limit; this picture may be twice its size.
    limitInputPixels: false,
  })
    .composite(layers.map((l) => ({ ...l, limitInputPixels: false })))
    .png()
    .toBuffer();
  return {
    png,
    range,
    crop: cropPixels(o.result.source.crop, width, height),
    layout: {
      depth: { x: depthLeft, y: 0, width, height },
      colorBar: { ...bar, x: panelLeft + bar.x },
    },
  };
}
