import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FormatError } from '@fastdepth/graph-dsl';
import { File as H5File, ready } from 'h5wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeMetrics } from './metrics.js';
import { encodeNpy } from '@fastdepth/graph-dsl';
import { readNpyFile } from './npy-file.js';
import {
  encodeNyuH5,
  iterateNyuFolder,
  listNyuFiles,
  loadNpyPair,
  loadNyuH5,
  nyuValTransform,
  toInputTensor,
  type NyuSample,
} from './nyu.js';

const SAMPLE = new URL('../../../../shared/data/nyu-sample/', import.meta.url);
const H = 480;
const W = 640;

// Known patterns: red = row % 256, green = column % 256, blue = (row + 2 column) % 256;
// depth = 1000 row + column (exact in float32), so every output pixel names its source.
const red = (y: number) => y % 256;
const green = (x: number) => x % 256;
const blue = (y: number, x: number) => (y + 2 * x) % 256;
const ramp = (y: number, x: number) => 1000 * y + x;

function chwPattern(h: number, w: number): Uint8Array {
  const chw = new Uint8Array(3 * h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      chw[y * w + x] = red(y);
      chw[h * w + y * w + x] = green(x);
      chw[2 * h * w + y * w + x] = blue(y, x);
    }
  }
  return chw;
}

function depthPattern(h: number, w: number): Float32Array {
  const d = new Float32Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) d[y * w + x] = ramp(y, x);
  return d;
}

/** Bit-for-bit equality of typed arrays (toEqual walks big arrays element by element, slowly). */
function sameBits(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return (
    a.constructor === b.constructor &&
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
      Buffer.from(b.buffer, b.byteOffset, b.byteLength),
    )
  );
}

let counter = 0;
/** Writes an HDF5 file with h5wasm itself (independently of encodeNyuH5) and returns its bytes. */
async function writeH5(build: (file: H5File) => void): Promise<Uint8Array> {
  const module = await ready;
  const path = `/nyu-test-${++counter}.h5`;
  const file = new H5File(path, 'w');
  build(file);
  file.close();
  const bytes = module.FS.readFile(path);
  module.FS.unlink(path);
  return bytes;
}

/** The authors' layout, with any shape or dtype for the bad-file tests. */
function nyuFile(h: number, w: number) {
  return writeH5((f) => {
    f.create_dataset({ name: 'rgb', data: chwPattern(h, w), shape: [3, h, w], dtype: '<B' });
    f.create_dataset({ name: 'depth', data: depthPattern(h, w), shape: [h, w], dtype: '<f' });
  });
}

let frame: Uint8Array;
beforeAll(async () => {
  frame = await nyuFile(H, W);
});

describe('loadNyuH5', () => {
  it('reads rgb (C,H,W) as (H,W,3) and depth as float32 metres', async () => {
    const s = await loadNyuH5(frame, '00001.h5');
    expect(s.source).toBe('00001.h5');
    expect([s.rgb.height, s.rgb.width, s.depth.height, s.depth.width]).toEqual([H, W, H, W]);
    const at = (y: number, x: number) =>
      Array.from(s.rgb.data.subarray(3 * (y * W + x), 3 * (y * W + x) + 3));
    expect(at(0, 0)).toEqual([0, 0, 0]);
    expect(at(300, 400)).toEqual([red(300), green(400), blue(300, 400)]);
    expect(at(479, 639)).toEqual([red(479), green(639), blue(479, 639)]);
    expect(s.depth.data[300 * W + 400]).toBe(ramp(300, 400));
  });

  it('reads float64 depth too (as float32, like the authors imresize mode F)', async () => {
    const bytes = await writeH5((f) => {
      f.create_dataset({ name: 'rgb', data: chwPattern(4, 5), shape: [3, 4, 5], dtype: '<B' });
      f.create_dataset({
        name: 'depth',
        data: Float64Array.from(depthPattern(4, 5), (v) => v + 0.1),
        shape: [4, 5],
        dtype: '<d',
      });
    });
    const s = await loadNyuH5(bytes, 'f64.h5');
    expect(s.depth.data).toBeInstanceOf(Float32Array);
    expect(s.depth.data[7]).toBe(Math.fround(ramp(1, 2) + 0.1));
  });

  it('round-trips through encodeNyuH5', async () => {
    const s = await loadNyuH5(frame, 'a.h5');
    const back = await loadNyuH5(await encodeNyuH5(s), 'b.h5');
    expect([back.rgb.height, back.rgb.width, back.depth.height, back.depth.width]).toEqual([H, W, H, W]);
    expect(sameBits(back.rgb.data, s.rgb.data)).toBe(true);
    expect(sameBits(back.depth.data, s.depth.data)).toBe(true);
  });

  it('names the file and the problem for bad files', async () => {
    await expect(loadNyuH5(encodeNpy([2], new Float32Array(2)), 'x.h5')).rejects.toThrow(
      /^x.h5: not an HDF5 file/,
    );
    await expect(loadNyuH5(new Uint8Array(0), 'empty.h5')).rejects.toThrow(FormatError);

    const noDepth = await writeH5((f) => {
      f.create_dataset({ name: 'rgb', data: chwPattern(4, 5), shape: [3, 4, 5], dtype: '<B' });
    });
    await expect(loadNyuH5(noDepth, 'nodepth.h5')).rejects.toThrow(
      'nodepth.h5: missing dataset "depth" (the file has "rgb")',
    );

    const hwc = await writeH5((f) => {
      f.create_dataset({ name: 'rgb', data: chwPattern(4, 5), shape: [4, 5, 3], dtype: '<B' });
      f.create_dataset({ name: 'depth', data: depthPattern(4, 5), shape: [4, 5], dtype: '<f' });
    });
    await expect(loadNyuH5(hwc, 'hwc.h5')).rejects.toThrow(
      'hwc.h5: dataset "rgb" has shape [4, 5, 3], expected [3, height, width] (C, H, W)',
    );

    const mismatch = await writeH5((f) => {
      f.create_dataset({ name: 'rgb', data: chwPattern(4, 5), shape: [3, 4, 5], dtype: '<B' });
      f.create_dataset({ name: 'depth', data: depthPattern(5, 4), shape: [5, 4], dtype: '<f' });
    });
    await expect(loadNyuH5(mismatch, 'mm.h5')).rejects.toThrow(
      'mm.h5: dataset "depth" has shape [5, 4], expected [4, 5] like "rgb"',
    );

    const floatRgb = await writeH5((f) => {
      f.create_dataset({ name: 'rgb', data: new Float32Array(60), shape: [3, 4, 5], dtype: '<f' });
      f.create_dataset({ name: 'depth', data: depthPattern(4, 5), shape: [4, 5], dtype: '<f' });
    });
    await expect(loadNyuH5(floatRgb, 'frgb.h5')).rejects.toThrow(
      'frgb.h5: dataset "rgb" has dtype <f, expected uint8',
    );

    const groupDepth = await writeH5((f) => {
      f.create_dataset({ name: 'rgb', data: chwPattern(4, 5), shape: [3, 4, 5], dtype: '<B' });
      f.create_group('depth');
    });
    await expect(loadNyuH5(groupDepth, 'grp.h5')).rejects.toThrow(
      'grp.h5: "depth" is a Group, expected a dataset',
    );

    // A real HDF5 file cut short: the signature is there, the rest is not.
    await expect(loadNyuH5(frame.subarray(0, 1500), 'cut.h5')).rejects.toThrow(
      /^cut.h5: cannot open as HDF5: truncated file/,
    );
    // The library is still usable after those failures.
    expect((await loadNyuH5(frame, 'ok.h5')).depth.data[1]).toBe(1);
  });
});

describe('nyuValTransform', () => {
  it('picks the hand-computed source pixels for rgb and depth alike', async () => {
    const out = nyuValTransform(await loadNyuH5(frame, 'f.h5'));
    expect([out.height, out.width, out.rgb.length, out.depth.length]).toEqual([
      224,
      224,
      224 * 224 * 3,
      224 * 224,
    ]);
    // (output row, column) -> (source row, column), worked out by hand in resize.test.ts.
    const picks: [number, number, number, number][] = [
      [0, 0, 22, 27],
      [223, 223, 457, 610],
      [100, 150, 217, 419],
      [75, 112, 167, 319], // where Pillow's accumulated rounding differs from the closed form
    ];
    for (const [y, x, sy, sx] of picks) {
      expect(out.depth[y * 224 + x]).toBe(ramp(sy, sx));
      const px = Array.from(out.rgb.subarray(3 * (y * 224 + x), 3 * (y * 224 + x) + 3));
      expect(px).toEqual([red(sy), green(sx), blue(sy, sx)].map((v) => Math.fround(v / 255)));
    }
    expect(out.rgb.every((v) => v >= 0 && v <= 1)).toBe(true);
  });

  it('refuses frames too small for the crop, naming the file', () => {
    const tiny: NyuSample = {
      source: 'tiny.h5',
      rgb: { height: 4, width: 5, data: new Uint8Array(60) },
      depth: { height: 4, width: 5, data: new Float32Array(20) },
    };
    expect(() => nyuValTransform(tiny)).toThrow(/^tiny.h5: a 4x5 image/);
  });

  it('lays rgb out as the NCHW network input', () => {
    const t = toInputTensor({ height: 1, width: 2, rgb: Float32Array.from([1, 2, 3, 4, 5, 6]) });
    expect(t.shape).toEqual([1, 3, 1, 2]);
    expect(Array.from(t.data)).toEqual([1, 4, 2, 5, 3, 6]);
  });
});

describe('NYU folders', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'fastdepth-eval-'));
    const small = async (v: number) => {
      const depth = new Float32Array(20).fill(v);
      return encodeNyuH5({
        rgb: { height: 4, width: 5, data: new Uint8Array(60) },
        depth: { height: 4, width: 5, data: depth },
      });
    };
    await mkdir(join(root, 'val', 'official'), { recursive: true });
    await mkdir(join(root, 'val', 'a'), { recursive: true });
    await writeFile(join(root, 'val', 'official', '00002.h5'), await small(2));
    await writeFile(join(root, 'val', 'official', '00001.h5'), await small(1));
    await writeFile(join(root, 'val', 'a', '00003.h5'), await small(3));
    await writeFile(join(root, 'val', 'official', 'notes.txt'), 'not a frame');
    await mkdir(join(root, 'empty'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('lists .h5 files recursively, sorted by folder then name', async () => {
    expect(await listNyuFiles(join(root, 'val'))).toEqual([
      join(root, 'val', 'a', '00003.h5'),
      join(root, 'val', 'official', '00001.h5'),
      join(root, 'val', 'official', '00002.h5'),
    ]);
  });

  it('iterates the frames in that order', async () => {
    const seen: number[] = [];
    for await (const { file, sample } of iterateNyuFolder(join(root, 'val', 'official'))) {
      expect(sample.source).toBe(file);
      seen.push(sample.depth.data[0]!);
    }
    expect(seen).toEqual([1, 2]);
  });

  it('names a folder without frames', async () => {
    await expect(listNyuFiles(join(root, 'empty'))).rejects.toThrow(/empty: no .h5 files found/);
    await expect(listNyuFiles(join(root, 'missing'))).rejects.toThrow(/missing: cannot list the folder/);
  });
});

describe('loadNpyPair', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'fastdepth-npy-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('passes the authors 224x224 sample through unchanged', async () => {
    const rgbPath = new URL('rgb.npy', SAMPLE).pathname;
    const depthPath = new URL('depth.npy', SAMPLE).pathname;
    const pair = await loadNpyPair(rgbPath, depthPath);
    const rgb = await readNpyFile(rgbPath);
    expect([pair.height, pair.width]).toEqual([224, 224]);
    expect(sameBits(pair.rgb, Float32Array.from(rgb.data))).toBe(true);
    expect(sameBits(pair.depth, (await readNpyFile(depthPath)).data)).toBe(true);
    const pred = await readNpyFile(new URL('pred.npy', SAMPLE).pathname);
    expect(Number(computeMetrics(pred.data, pair.depth).rmse.toFixed(3))).toBe(0.618);
  });

  it('applies the validation transform to a 480x640 pair, like nyuValTransform', async () => {
    const sample = await loadNyuH5(frame, 'f.h5');
    const rgbPath = join(root, 'rgb.npy');
    const depthPath = join(root, 'depth.npy');
    await writeFile(rgbPath, encodeNpy([H, W, 3], sample.rgb.data));
    await writeFile(depthPath, encodeNpy([1, 1, H, W], sample.depth.data));
    const pair = await loadNpyPair(rgbPath, depthPath);
    const expected = nyuValTransform(sample);
    expect(sameBits(pair.rgb, expected.rgb)).toBe(true);
    expect(sameBits(pair.depth, expected.depth)).toBe(true);
  });

  it('names the file for bad pairs', async () => {
    const rgbPath = join(root, 'rgb255.npy');
    const depthPath = join(root, 'd.npy');
    await writeFile(rgbPath, encodeNpy([2, 2, 3], new Float32Array(12).fill(255)));
    await writeFile(depthPath, encodeNpy([2, 2], new Float32Array(4)));
    await expect(loadNpyPair(rgbPath, depthPath)).rejects.toThrow(
      /rgb255.npy: float rgb values must lie in \[0, 1\], found \[255, 255\] \(save uint8, or divide by 255\)/,
    );
    const okRgb = join(root, 'ok.npy');
    const wide = join(root, 'wide.npy');
    await writeFile(okRgb, encodeNpy([2, 2, 3], new Uint8Array(12)));
    await writeFile(wide, encodeNpy([2, 3], new Float32Array(6)));
    await expect(loadNpyPair(okRgb, wide)).rejects.toThrow(
      /wide.npy: depth is 2x3 but the rgb .*ok.npy is 2x2/,
    );
    const gray = join(root, 'gray.npy');
    await writeFile(gray, encodeNpy([2, 2], new Uint8Array(4)));
    await expect(loadNpyPair(gray, depthPath)).rejects.toThrow(/gray.npy: rgb has shape \(2, 2\), expected/);
  });
});
