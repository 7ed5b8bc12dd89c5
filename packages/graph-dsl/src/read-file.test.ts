import { execFileSync } from 'node:child_process';
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isUserError } from './errors.js';
import { checkUserFile, FILE_SIZE_CAPS, FileReadError, readUserFile, readUserFileSync } from './read-file.js';

const dir = mkdtempSync(join(tmpdir(), 'fastdepth-read-file-'));
const fifo = join(dir, 'pipe.safetensors');
execFileSync('mkfifo', [fifo]);
const file = join(dir, 'ok.bin');
writeFileSync(file, Uint8Array.of(1, 2, 3, 4));
const linkToFifo = join(dir, 'link.json');
symlinkSync(fifo, linkToFifo);

describe('readUserFile refuses what is not a regular file before opening it', () => {
  // A FIFO without a writer would block open() forever: these finishing at all is the check.
  it.each([
    ['a FIFO', fifo, 'is a FIFO (named pipe), not a file'],
    ['a symbolic link to a FIFO', linkToFifo, 'is a FIFO (named pipe), not a file'],
    ['/dev/zero', '/dev/zero', 'is a character device, not a file'],
    ['a folder', dir, 'is a folder, not a file'],
    ['a missing file', join(dir, 'missing.json'), 'no such file'],
    ['a path through a file', join(file, 'x.json'), 'a part of the path is not a folder'],
  ])('%s, async and sync, naming the file', async (_, path, reason) => {
    const message = `cannot read weights file "${path}": ${reason}`;
    await expect(readUserFile(path, 'weights file', 'weights')).rejects.toThrow(message);
    expect(() => readUserFileSync(path, 'weights file', 'weights')).toThrow(message);
    await expect(checkUserFile(path, 'weights file', 'weights')).rejects.toBeInstanceOf(FileReadError);
  });

  it('refuses files over the cap of their kind, and reads the rest', async () => {
    await expect(readUserFile(file, 'graph file', 'graph', 3)).rejects.toThrow(
      `cannot read graph file "${file}": is 4 bytes, more than the 3 bytes such a file may be`,
    );
    expect(() => readUserFileSync(file, 'graph file', 'graph', 3)).toThrow(/more than the 3 bytes/);
    expect([...(await readUserFile(file, 'graph file', 'graph'))]).toEqual([1, 2, 3, 4]);
    expect([...readUserFileSync(file, 'graph file', 'graph')]).toEqual([1, 2, 3, 4]);
    expect(FILE_SIZE_CAPS.graph).toBe(64 * 1024 * 1024);
  });

  it('throws a user error (printed as one line by the CLIs)', async () => {
    const error: unknown = await readUserFile(fifo, 'image', 'image').catch((e: unknown) => e);
    expect(isUserError(error)).toBe(true);
    expect(error).toMatchObject({ file: fifo, what: 'image', reason: 'is a FIFO (named pipe), not a file' });
  });
});
