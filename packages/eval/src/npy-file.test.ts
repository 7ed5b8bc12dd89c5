import { describe, expect, it } from 'vitest';
import { readNpyFile } from './npy-file.js';

describe('readNpyFile', () => {
  it('names a missing file', async () => {
    await expect(readNpyFile('/nonexistent/x.npy')).rejects.toThrow(/^\/nonexistent\/x.npy: cannot read/);
  });

  it('reads the shared NYU sample', async () => {
    const depth = await readNpyFile(
      new URL('../../../../shared/data/nyu-sample/depth.npy', import.meta.url).pathname,
    );
    expect(depth.shape).toEqual([224, 224]);
  });
});
