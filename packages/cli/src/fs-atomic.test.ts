/**
 * Atomic output writes on a failing disk: the temporary file of a write that fails half-way
 * is removed, the error names the folder of the file that failed (not the working folder),
 * and debris of a killed run (`.NAME.PID.tmp` of a dead process) is swept before writing.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { writeFilesAtomic } from './fs-atomic.js';

// A disk that fills up: a write into a folder named "full" stores half, then fails with ENOSPC.
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...actual,
    writeFile: async (path: string, data: string | Uint8Array) => {
      if (path.includes('/full/')) {
        await actual.writeFile(
          path,
          typeof data === 'string' ? data.slice(0, data.length >> 1) : data.subarray(0, data.length >> 1),
        );
        throw Object.assign(new Error(`ENOSPC: no space left on device, write`), { code: 'ENOSPC' });
      }
      return actual.writeFile(path, data);
    },
  };
});

const tmp = (): string => mkdtempSync(join(tmpdir(), 'fastdepth-atomic-'));
const everything = (dir: string): string[] => readdirSync(dir, { recursive: true }).map(String).sort();

describe('writeFilesAtomic on a failing disk', () => {
  it('removes the half-written temporary file and names the folder that is full', async () => {
    const dir = tmp();
    mkdirSync(join(dir, 'out', 'full'), { recursive: true });
    // Names relative to the working folder, as predict gives them: the error names the output's.
    await expect(
      writeFilesAtomic(dir, [
        { name: join('out', 'd.npy'), data: 'depth' },
        { name: join('out', 'full', 'd.png'), data: 'picture data' },
      ]),
    ).rejects.toThrow(
      `cannot write into output folder "${join(dir, 'out', 'full')}": no space left on device`,
    );
    expect(everything(dir)).toEqual(['out', join('out', 'full')]);
  });

  it('sweeps the temporary files a killed run left in the folders it writes to', async () => {
    const dir = tmp();
    // spawnSync returns once the child has exited and reports its pid itself (what the child
    // prints is not needed, and under CI its output can be empty).
    const { pid: dead } = spawnSync(process.execPath, ['-e', '0']);
    expect(Number.isInteger(dead) && dead > 0).toBe(true);
    writeFileSync(join(dir, `.d.png.${dead}.tmp`), 'half');
    writeFileSync(join(dir, `.fastdepth-pruned.safetensors.${dead}.tmp`), 'half');
    writeFileSync(join(dir, `.live.${process.ppid}.tmp`), 'another run writing now');
    await writeFilesAtomic(dir, [{ name: 'd.png', data: 'png' }]);
    expect(everything(dir)).toEqual([`.live.${process.ppid}.tmp`, 'd.png']);
  });
});
