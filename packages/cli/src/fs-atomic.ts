/**
 * Output files are written atomically: each goes to a temporary name in the same folder and is
 * renamed into place, so a reader never sees half a file and a failed run leaves no debris:
 * the temporary files are removed on every failure path and on Ctrl-C / SIGTERM
 * (`@fastdepth/latency/files`), and those a killed run left (`.NAME.PID.tmp` of a dead
 * process) are swept from the folders written to before the next write there.
 */
import { rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { removeTemp, sweepStaleTemps, trackTemp, untrackTemp } from '@fastdepth/latency/files';
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
  // The folder a failure names: the one of the file being written (predict writes beside
  // its --out, not into the working folder it names files from).
  let at = dir;
  const clean = (): void => {
    for (const s of staged) removeTemp(s.tmp);
  };
  try {
    const swept = new Set<string>();
    for (const file of files) {
      const final = join(dir, file.name);
      at = dirname(final);
      await makeFolders(at);
      if (!swept.has(at)) {
        swept.add(at);
        sweepStaleTemps(at);
      }
      const tmp = join(at, `.${basename(final)}.${process.pid}.tmp`);
      // Tracked before the write: one that fails half-way (disk full) leaves a file too.
      trackTemp(tmp);
      staged.push({ tmp, final });
      await writeFile(tmp, file.data);
    }
  } catch (e) {
    clean();
    throw describeFsError(e, `into output folder "${at}"`);
  }
  // All contents are on disk; only now do they take their real names.
  try {
    for (const s of staged) {
      at = dirname(s.final);
      await rename(s.tmp, s.final);
      untrackTemp(s.tmp);
    }
  } catch (e) {
    clean();
    throw describeFsError(e, `into output folder "${at}"`);
  }
  return staged.map((s) => s.final);
}
