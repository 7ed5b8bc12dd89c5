import { describe, expect, it } from 'vitest';
import { readNpyFile } from './npy-file.js';

describe('readNpyFile', () => {
  it('names a missing file, and refuses devices and folders without reading them', async () => {
    await expect(readNpyFile('/nonexistent/x.npy')).rejects.toThrow(
      'cannot read .npy file "/nonexistent/x.npy": no such file',
    );
    await expect(readNpyFile('/dev/zero')).rejects.toThrow(
      'cannot read .npy file "/dev/zero": is a character device, not a file',
    );
    await expect(readNpyFile('/')).rejects.toThrow('cannot read .npy file "/": is a folder, not a file');
  });

  it('reads the shared NYU sample', async () => {
    const depth = await readNpyFile(
      new URL('../../../../shared/data/nyu-sample/depth.npy', import.meta.url).pathname,
    );
    expect(depth.shape).toEqual([224, 224]);
  });
});
