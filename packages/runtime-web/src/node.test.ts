import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeNpy as referenceNpy, readNpy } from '@fastdepth/graph-dsl';
import { crc32, inflateSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { depthRange, toColorMap } from './colormap.js';
import { encodeNpy, encodePng, writeDepthNpy, writeDepthPng } from './node.js';

const dir = mkdtempSync(join(tmpdir(), 'runtime-web-node-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A minimal PNG reader for what encodePng writes (8-bit RGBA, filter 0), checking every CRC. */
function decodePng(bytes: Uint8Array): { data: Uint8Array; width: number; height: number } {
  expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let width = 0;
  let height = 0;
  const idat: Uint8Array[] = [];
  for (let at = 8; at < bytes.length;) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    const body = bytes.subarray(at + 8, at + 8 + length);
    expect(view.getUint32(at + 8 + length)).toBe(crc32(bytes.subarray(at + 4, at + 8 + length)));
    if (type === 'IHDR') {
      width = view.getUint32(at + 8);
      height = view.getUint32(at + 12);
      expect([...body.subarray(8)]).toEqual([8, 6, 0, 0, 0]);
    } else if (type === 'IDAT') idat.push(body);
    at += 12 + length;
  }
  const rows = inflateSync(Buffer.concat(idat));
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    expect(rows[y * (width * 4 + 1)]).toBe(0);
    data.set(rows.subarray(y * (width * 4 + 1) + 1, (y + 1) * (width * 4 + 1)), y * width * 4);
  }
  return { data, width, height };
}

function depthMap(width: number, height: number): { depth: Float32Array; width: number; height: number } {
  const depth = new Float32Array(width * height);
  for (let i = 0; i < depth.length; i++) depth[i] = 1 + ((i * 7919) % 1000) / 250;
  depth[0] = 0; // the network's kind of outliers
  depth[1] = 33;
  return { depth, width, height };
}

describe('Node helpers', () => {
  it('encodePng: a PNG holding exactly the RGBA given', () => {
    const rgba = new Uint8Array(5 * 3 * 4).map((_, i) => (i * 37) % 256);
    const { data, width, height } = decodePng(encodePng(rgba, 5, 3));
    expect([width, height]).toEqual([5, 3]);
    expect([...data]).toEqual([...rgba]);
    expect(() => encodePng(rgba, 4, 3)).toThrow(/60 bytes, expected 4 x 3 x 4/);
  });

  it('writeDepthPng: the colour map of the depth on the robust range, written atomically', () => {
    const result = depthMap(24, 16);
    const path = join(dir, 'depth.png');
    const used = writeDepthPng(path, result);
    const [lo, hi] = depthRange(result.depth);
    expect(used).toEqual({ min: lo, max: hi });
    expect(used.min).toBeGreaterThan(0.5);
    expect(used.max).toBeLessThan(6);
    const { data } = decodePng(new Uint8Array(readFileSync(path)));
    expect([...data]).toEqual([...toColorMap(result.depth)]);
    expect(writeDepthPng(path, result, { range: 'full' })).toEqual({ min: 0, max: 33 });
    expect(writeDepthPng(path, result, { min: 1, max: 2 })).toEqual({ min: 1, max: 2 });
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(() => writeDepthPng(join(dir, 'missing', 'x.png'), result)).toThrow(/cannot write .*x\.png/);
  });

  it('writeDepthNpy: numpy-format float32 H x W, the bytes graph-dsl writes', () => {
    const result = depthMap(7, 3);
    const path = join(dir, 'depth.npy');
    writeDepthNpy(path, result);
    const bytes = new Uint8Array(readFileSync(path));
    const read = readNpy(bytes, path);
    expect(read.shape).toEqual([3, 7]);
    expect(read.dtype).toBe('<f4');
    expect([...read.data]).toEqual([...result.depth]);
    expect([...bytes]).toEqual([...referenceNpy([3, 7], result.depth)]);
    expect((10 + new DataView(bytes.buffer).getUint16(8, true)) % 64).toBe(0);
    expect([...encodeNpy(new Float32Array([1, 2]), [2])]).toEqual([
      ...referenceNpy([2], new Float32Array([1, 2])),
    ]);
    expect(() => encodeNpy(new Float32Array(5), [2, 3])).toThrow(/shape \[2, 3\] does not hold 5 values/);
  });
});
