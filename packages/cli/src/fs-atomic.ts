/**
 * Output files are written atomically: each goes to a temporary name in the same folder and is
 * renamed into place, so a reader never sees half a file and a failed run leaves no debris.
 */
import { rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { UserError } from './errors.js';
import { fsReason, makeFolders } from './options.js';

export interface OutputFile {
  /** Path relative to the output folder. */
  readonly name: string;
  readonly data: Uint8Array | string;
}

function describeFsError(e: unknown, what: string): UserError {
  return new UserError(`cannot write ${what}: ${fsReason(e)}`);
}

/** Writes every file under `dir` (created if needed); returns the absolute paths written. */
export async function writeFilesAtomic(dir: string, files: readonly OutputFile[]): Promise<string[]> {
  try {
    await makeFolders(dir);
  } catch (e) {
    throw describeFsError(e, `output folder "${dir}"`);
  }
  const staged: { tmp: string; final: string }[] = [];
  try {
    for (const file of files) {
      const final = join(dir, file.name);
      await makeFolders(dirname(final));
      const tmp = join(dirname(final), `.${basename(final)}.${process.pid}.tmp`);
      await writeFile(tmp, file.data);
      staged.push({ tmp, final });
    }
  } catch (e) {
    await Promise.all(staged.map((s) => rm(s.tmp, { force: true })));
    throw describeFsError(e, `into output folder "${dir}"`);
  }
  // All contents are on disk; only now do they take their real names.
  try {
    for (const s of staged) await rename(s.tmp, s.final);
  } catch (e) {
    await Promise.all(staged.map((s) => rm(s.tmp, { force: true })));
    throw describeFsError(e, `into output folder "${dir}"`);
  }
  return staged.map((s) => s.final);
}
