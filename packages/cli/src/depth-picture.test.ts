import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { readNpy } from '@fastdepth/graph-dsl';
import { colormapTable, type ColormapName } from '@fastdepth/runtime-web';
import { describe, expect, it } from 'vitest';
import {
  colorBarLayout,
  cropPixels,
  parseColorScale,
  parseRange,
  renderDepthPicture,
} from './depth-picture.js';
import { runCli } from './testing/run-cli.js';

const DATA = fileURLToPath(new URL('../../../../shared/data/', import.meta.url));
const TFLITE = join(DATA, 'weights/fast_depth_224.tflite');
const tmp = (): string => mkdtempSync(join(tmpdir(), 'fastdepth-picture-'));

interface Raw {
  data: Buffer;
  width: number;
  height: number;
}

async function rgba(file: string | Buffer): Promise<Raw> {
  const { data, info } = await sharp(file).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  expect(info.channels).toBe(4);
  return { data, width: info.width, height: info.height };
}

const pixel = (img: Raw, x: number, y: number): number[] => [
  ...img.data.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 4),
];

/** Colour-table entry `i` of `colormap` as opaque RGBA. */
function entry(colormap: ColormapName, i: number): number[] {
  const t = colormapTable(colormap);
  return [t[i * 3]!, t[i * 3 + 1]!, t[i * 3 + 2]!, 255];
}

/** Checks that the bar drawn at `bar` (picture pixels) runs from the top colour down to the bottom one. */
function expectColorBar(
  img: Raw,
  bar: { x: number; y: number; width: number; height: number },
  colormap: ColormapName,
): void {
  const cx = bar.x + Math.floor(bar.width / 2);
  expect(pixel(img, cx, bar.y)).toEqual(entry(colormap, 255));
  expect(pixel(img, cx, bar.y + bar.height - 1)).toEqual(entry(colormap, 0));
  // Half way down, half way along the map (within one row's step of the table).
  const step = 255 / (bar.height - 1);
  const middle = [];
  for (let k = Math.floor(127.5 - step); k <= Math.ceil(127.5 + step); k++) middle.push(entry(colormap, k));
  expect(middle).toContainEqual(pixel(img, cx, bar.y + Math.floor((bar.height - 1) / 2)));
  // The bar is as wide as the layout says: the same colour across each row.
  for (let x = bar.x; x < bar.x + bar.width; x++) expect(pixel(img, x, bar.y)).toEqual(entry(colormap, 255));
}

/** Counts pixels of `box` (and of the rest of the `region`) by alpha. */
function alphaOutside(
  img: Raw,
  region: { x: number; width: number },
  box: { x: number; y: number; width: number; height: number },
): { insideOpaque: number; insideTotal: number; outsideClear: number; outsideTotal: number } {
  const r = { insideOpaque: 0, insideTotal: 0, outsideClear: 0, outsideTotal: 0 };
  for (let y = 0; y < img.height; y++)
    for (let x = 0; x < region.width; x++) {
      const alpha = img.data[(y * img.width + region.x + x) * 4 + 3]!;
      const inside = x >= box.x && x < box.x + box.width && y >= box.y && y < box.y + box.height;
      if (inside) {
        r.insideTotal++;
        if (alpha === 255) r.insideOpaque++;
      } else {
        r.outsideTotal++;
        if (alpha === 0) r.outsideClear++;
      }
    }
  return r;
}

describe('--range', () => {
  it('reads MIN,MAX in metres', () => {
    expect(parseRange('0,10')).toEqual({ min: 0, max: 10 });
    expect(parseRange(' 0.5 , 2.25 ')).toEqual({ min: 0.5, max: 2.25 });
    expect(parseRange('1e-1,.5')).toEqual({ min: 0.1, max: 0.5 });
    expect(parseColorScale('0,10')).toEqual({ min: 0, max: 10 });
    expect(parseColorScale('full')).toBe('full');
    expect(parseColorScale(' Percentile')).toBe('percentile');
    expect(() => parseColorScale('p2')).toThrow(/percentile or full, found "p2"/);
  });

  it.each([
    ['10', /^--range must be two numbers MIN,MAX in metres \(e\.g\. 0,10\), percentile or full, found "10"$/],
    ['1,2,3', /two numbers MIN,MAX/],
    ['a,b', /two numbers MIN,MAX/],
    [',5', /two numbers MIN,MAX/],
    ['1,Infinity', /two numbers MIN,MAX/],
    ['-1,5', /^--range must not be negative, found "-1,5"$/],
    ['5,2', /^--range MIN must be less than MAX, found "5,2"$/],
    ['3,3', /MIN must be less than MAX/],
  ])('rejects "%s"', (text, message) => {
    expect(() => parseRange(text)).toThrow(message);
  });
});

describe('the depth picture', () => {
  it('maps a known depth through a fixed range, leaves the unseen sides transparent and draws the bar', async () => {
    // A 96x72 image whose centre 72x72 the network saw as a 16x16 depth map of 2.5 m.
    const result = {
      depth: new Float32Array(16 * 16).fill(2.5),
      width: 16,
      height: 16,
      source: { width: 96, height: 72, crop: { x: 12, y: 0, width: 72, height: 72 } },
    };
    const image = { data: new Uint8Array(96 * 72 * 4).fill(200), width: 96, height: 72 };
    const picture = await renderDepthPicture({
      result,
      image,
      colormap: 'viridis',
      range: { min: 0, max: 10 },
    });
    expect(picture.crop).toEqual({ x: 12, y: 0, width: 72, height: 72 });
    expect(picture.range).toEqual({ min: 0, max: 10, fixed: true, scale: 'fixed' });
    const img = await rgba(picture.png);
    expect([img.width, img.height]).toEqual([96 + colorBarLayout(72).panelWidth, 72]);
    // 2.5 m on a 0..10 m scale is entry round(0.25 * 255) = 64.
    expect(pixel(img, 30, 20)).toEqual(entry('viridis', 64));
    const a = alphaOutside(img, { x: 0, width: 96 }, picture.crop);
    expect(a).toEqual({
      insideOpaque: 72 * 72,
      insideTotal: 72 * 72,
      outsideClear: 24 * 72,
      outsideTotal: 24 * 72,
    });
    expectColorBar(img, picture.layout.colorBar, 'viridis');
  });

  it('leaves the colour bar out of a picture too low to label it', async () => {
    const result = {
      depth: Float32Array.from({ length: 8 * 8 }, (_, i) => 1 + i / 10),
      width: 8,
      height: 8,
      source: { width: 40, height: 30, crop: { x: 5, y: 0, width: 30, height: 30 } },
    };
    const image = { data: new Uint8Array(40 * 30 * 4), width: 40, height: 30 };
    const picture = await renderDepthPicture({
      result,
      image,
      colormap: 'turbo',
      sideBySide: true,
      range: 'full',
    });
    const img = await rgba(picture.png);
    expect([img.width, img.height]).toEqual([80, 30]);
    expect(picture.range).toEqual({
      min: 1,
      max: expect.closeTo(7.3, 5) as unknown,
      fixed: false,
      scale: 'full',
    });
    // The default scale: the 2nd to 98th percentile of the 64 values 1.0 .. 7.3 (step 0.1).
    const robust = await renderDepthPicture({ result, image, colormap: 'turbo' });
    expect(robust.range.scale).toBe('percentile');
    expect(robust.range.min).toBeGreaterThan(1.05);
    expect(robust.range.min).toBeLessThan(1.25);
    expect(robust.range.max).toBeGreaterThan(7.05);
    expect(robust.range.max).toBeLessThan(7.25);
    expect(picture.crop).toEqual({ x: 5, y: 0, width: 30, height: 30 });
  });

  it('gives the crop box in whole pixels of the image', () => {
    expect(cropPixels({ x: 80, y: 0, width: 480, height: 480 }, 640, 480)).toEqual({
      x: 80,
      y: 0,
      width: 480,
      height: 480,
    });
    // A fractional crop keeps the pixels whose centres lie inside it: 10.5 .. 30.5.
    expect(cropPixels({ x: 10.25, y: 0, width: 20.5, height: 8 }, 41, 8)).toEqual({
      x: 10,
      y: 0,
      width: 21,
      height: 8,
    });
  });
});

interface PredictReport {
  depthMetres: { min: number; max: number };
  colorRange: { min: number; max: number; fixed: boolean; scale: string };
  crop: { x: number; y: number; width: number; height: number };
}

describe('fastdepth predict pictures of real photos', { timeout: 120_000 }, () => {
  it('a 4:3 photo: transparent outside the centre crop, a colour bar over the depth range', async () => {
    const out = join(tmp(), 'depth.png');
    const r = await runCli(
      'predict',
      join(DATA, 'images/SUN_color.jpg'),
      '--weights',
      TFLITE,
      '--out',
      out,
      '--json',
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as PredictReport;
    // The network sees the centre 480x480 of a 640x480 photo.
    expect(report.crop).toEqual({ x: 80, y: 0, width: 480, height: 480 });
    // The default colour scale is the 2nd to 98th percentile: inside the full depth range.
    const { min, max } = report.depthMetres;
    expect(report.colorRange.scale).toBe('percentile');
    expect(report.colorRange.fixed).toBe(false);
    expect(report.colorRange.min).toBeGreaterThan(min);
    expect(report.colorRange.max).toBeLessThan(max);
    const img = await rgba(out);
    const { panelWidth, bar } = colorBarLayout(480);
    expect([img.width, img.height]).toEqual([640 + panelWidth, 480]);
    expect(alphaOutside(img, { x: 0, width: 640 }, report.crop)).toEqual({
      insideOpaque: 480 * 480,
      insideTotal: 480 * 480,
      outsideClear: 160 * 480,
      outsideTotal: 160 * 480,
    });
    expectColorBar(img, { ...bar, x: 640 + bar.x }, 'turbo');
  });

  it('a fixed --range maps each depth to the colour it names', async () => {
    const dir = tmp();
    // A 224x224 photo is what the network takes: no resampling, so each pixel's depth is in the .npy.
    const photo = join(dir, 'photo.png');
    await sharp(join(DATA, 'images/esanet_rgb.png')).resize(224, 224).png().toFile(photo);
    const out = join(dir, 'depth.png');
    const npy = join(dir, 'depth.npy');
    const r = await runCli(
      'predict',
      photo,
      '--weights',
      TFLITE,
      '--range',
      '0,10',
      '--out',
      out,
      '--npy',
      npy,
      '--json',
    );
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as PredictReport;
    expect(report.colorRange).toEqual({ min: 0, max: 10, fixed: true, scale: 'fixed' });
    expect(report.crop).toEqual({ x: 0, y: 0, width: 224, height: 224 });
    const depth = readNpy(readFileSync(npy), npy).data;
    const img = await rgba(out);
    let matching = 0;
    for (let y = 0; y < 224; y++)
      for (let x = 0; x < 224; x++) {
        const index = Math.min(255, Math.round((depth[y * 224 + x]! / 10) * 255));
        const [r0, g0, b0, a0] = pixel(img, x, y);
        const want = entry('turbo', index);
        if (r0 === want[0] && g0 === want[1] && b0 === want[2] && a0 === 255) matching++;
      }
    expect(matching).toBe(224 * 224);
    expectColorBar(img, { ...colorBarLayout(224).bar, x: 224 + colorBarLayout(224).bar.x }, 'turbo');
  });

  it('--side-by-side: the photo, its depth with the unseen sides transparent, then the bar', async () => {
    const out = join(tmp(), 'pair.png');
    const image = join(DATA, 'images/TUM_color.png');
    const r = await runCli(
      'predict',
      image,
      '--weights',
      TFLITE,
      '--side-by-side',
      '--range',
      '0.5,6',
      '--colormap',
      'viridis',
      '--out',
      out,
      '--json',
    );
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as PredictReport;
    expect(report.crop).toEqual({ x: 80, y: 0, width: 480, height: 480 });
    const img = await rgba(out);
    const { panelWidth, bar } = colorBarLayout(480);
    expect([img.width, img.height]).toEqual([2 * 640 + panelWidth, 480]);
    // The left half is the photo itself, opaque.
    const photo = await rgba(image);
    for (const [x, y] of [
      [0, 0],
      [10, 470],
      [320, 240],
      [639, 479],
    ] as const)
      expect(pixel(img, x, y)).toEqual(pixel(photo, x, y));
    expect(alphaOutside(img, { x: 640, width: 640 }, report.crop)).toEqual({
      insideOpaque: 480 * 480,
      insideTotal: 480 * 480,
      outsideClear: 160 * 480,
      outsideTotal: 160 * 480,
    });
    expectColorBar(img, { ...bar, x: 2 * 640 + bar.x }, 'viridis');
  });

  it.each([
    ['abc', 'must be two numbers MIN,MAX in metres (e.g. 0,10), percentile or full, found "abc"'],
    ['-1,5', 'must not be negative, found "-1,5"'],
    ['8,2', 'MIN must be less than MAX, found "8,2"'],
  ])('rejects --range %s in one line, writing nothing', async (value, message) => {
    const out = join(tmp(), 'depth.png');
    const r = await runCli(
      'predict',
      join(DATA, 'images/SUN_color.jpg'),
      '--weights',
      TFLITE,
      '--range',
      value,
      '--out',
      out,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`fastdepth: error: --range ${message}`);
    expect(existsSync(out)).toBe(false);
  });
});
