// Data that would end as a NaN, Infinity or negative metric, or as gigabytes decoded from a
// small file, is refused with the file and the first bad place named.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeNpy } from '@fastdepth/graph-dsl';
import { File as H5File, ready } from 'h5wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkDepthValues, encodeNyuH5, loadNpyPair, loadNyuH5, MAX_FRAME_PIXELS } from './nyu.js';

let counter = 0;
async function writeH5(build: (file: H5File) => void): Promise<Uint8Array> {
  const module = await ready;
  const path = `/bad-values-${++counter}.h5`;
  const file = new H5File(path, 'w');
  build(file);
  file.close();
  const bytes = module.FS.readFile(path);
  module.FS.unlink(path);
  return bytes;
}

const H = 4;
const W = 5;
const rgb = new Uint8Array(H * W * 3).fill(100);
const depthWith = (i: number, v: number): Float32Array => {
  const d = new Float32Array(H * W).fill(2);
  d[i] = v;
  return d;
};

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fastdepth-bad-values-'));
});

describe('ground-truth depth must be finite metres >= 0', () => {
  it.each([
    [Number.NaN, 'NaN'],
    [Infinity, 'Infinity'],
    [-Infinity, '-Infinity'],
    [-0.5, '-0.5'],
  ])('a %s in an .h5 frame names the file and the first bad index', async (value, text) => {
    const bytes = await encodeNyuH5({
      rgb: { height: H, width: W, data: rgb },
      depth: { height: H, width: W, data: depthWith(7, value) },
    });
    await expect(loadNyuH5(bytes, 'bad.h5')).rejects.toThrow(
      `bad.h5: dataset "depth": value ${text} at index 7 (row 1, column 2) is not a depth (finite metres >= 0; 0 marks a missing pixel)`,
    );
  });

  it('a NaN or negative depth in an .npy pair names the depth file; zeros (missing pixels) pass', async () => {
    const rgbPath = join(root, 'rgb.npy');
    await writeFile(rgbPath, encodeNpy([H, W, 3], rgb));
    for (const [value, text] of [
      [Number.NaN, 'NaN'],
      [-1, '-1'],
    ] as const) {
      const depthPath = join(root, `depth-${text}.npy`);
      await writeFile(depthPath, encodeNpy([H, W], depthWith(19, value)));
      await expect(loadNpyPair(rgbPath, depthPath, [H, W])).rejects.toThrow(
        `${depthPath}: depth value ${text} at index 19 (row 3, column 4) is not a depth`,
      );
    }
    const zeros = join(root, 'zeros.npy');
    await writeFile(zeros, encodeNpy([H, W], depthWith(0, 0)));
    expect((await loadNpyPair(rgbPath, zeros, [H, W])).depth[0]).toBe(0);
  });

  it('checkDepthValues without a width names the flat index', () => {
    expect(() => checkDepthValues([1, 2, Number.NaN], 'p.npy', 'prediction')).toThrow(
      'p.npy: prediction value NaN at index 2 is not a depth',
    );
    expect(() => checkDepthValues(Float32Array.of(0, 1.5, 80), 'p.npy', 'prediction')).not.toThrow();
  });
});

describe('rgb', () => {
  it('a NaN in float rgb names the file, index, pixel and channel', async () => {
    const data = new Float32Array(H * W * 3).fill(0.5);
    data[10] = Number.NaN;
    const rgbPath = join(root, 'nan-rgb.npy');
    const depthPath = join(root, 'ok-depth.npy');
    await writeFile(rgbPath, encodeNpy([H, W, 3], data));
    await writeFile(depthPath, encodeNpy([H, W], depthWith(0, 1)));
    await expect(loadNpyPair(rgbPath, depthPath, [H, W])).rejects.toThrow(
      `${rgbPath}: rgb value NaN at index 10 (pixel 3, channel 1) is not in [0, 1]`,
    );
  });
});

describe('.h5 size cap', () => {
  it('refuses an 8000x8000 gzip frame from its declared shape, before decoding', async () => {
    // Chunked, gzip, never written: a few kilobytes on disk that would decode to 1.6 GB.
    const bytes = await writeH5((f) => {
      f.create_dataset({
        name: 'rgb',
        data: new Uint8Array(3),
        shape: [3, 1, 1],
        dtype: '<B',
        maxshape: [3, null, null],
        chunks: [1, 256, 256],
        compression: 'gzip',
      }).resize([3, 8000, 8000]);
      f.create_dataset({
        name: 'depth',
        data: new Float32Array(1),
        shape: [1, 1],
        dtype: '<f',
        maxshape: [null, null],
        chunks: [256, 256],
        compression: 'gzip',
      }).resize([8000, 8000]);
    });
    expect(bytes.length).toBeLessThan(100_000);
    await expect(loadNyuH5(bytes, 'bomb.h5')).rejects.toThrow(
      `bomb.h5: dataset "rgb" is 8000x8000 (64000000 pixels), more than the ${MAX_FRAME_PIXELS} (4096x4096) a frame may have; not decoded`,
    );
  });
});
