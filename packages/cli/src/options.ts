/**
 * Option values and output paths, checked before any work starts: a typo in `--npy` or an
 * unwritable `--out` is reported at once, not after twenty seconds of compiling, and never
 * after another output was already written.
 */
import { mkdir, realpath, rmdir, stat } from 'node:fs/promises';
import { dirname, extname, join, relative, resolve } from 'node:path';
import { UserError } from './errors.js';

/**
 * Parses an integer option. Negative numbers are refused unless `min` allows them, so a
 * `--short-steps -1` never reaches the code that counts steps.
 */
export function parseInteger(flag: string, value: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const range = max === Number.MAX_SAFE_INTEGER ? ` >= ${min}` : ` from ${min} to ${max}`;
  const n = Number(value.trim());
  if (!/^[-+]?\d+$/.test(value.trim()) || !(n >= min && n <= max))
    throw new UserError(`${flag} must be an integer${range}, found "${value}"`);
  return n;
}

/** Seeds are 32-bit (the generator keeps `seed >>> 0`): larger ones would repeat smaller ones. */
export const SEED_MAX = 2 ** 32 - 1;

/**
 * The largest input side `--input-size` accepts. Beyond it the float64 reference executor and
 * the runtimes need gigabytes per activation; 4096 is already 335 times the pixels of 224.
 */
export const MAX_INPUT_SIDE = 4096;

/** Parses `224` or `256x320` (height x width): multiples of 32 from 32 to MAX_INPUT_SIDE. */
export function parseInputSize(value: string): number | [number, number] {
  const m = /^(\d+)(?:x(\d+))?$/.exec(value.trim());
  if (!m) throw new UserError(`--input-size must be N or HxW (e.g. 224 or 256x320), found "${value}"`);
  const sides = m[2] === undefined ? [Number(m[1])] : [Number(m[1]), Number(m[2])];
  // The encoder halves the size five times, so each side must divide by 32.
  if (sides.some((s) => !(s >= 32 && s <= MAX_INPUT_SIDE && s % 32 === 0))) {
    throw new UserError(
      `--input-size: each side must be a multiple of 32 from 32 to ${MAX_INPUT_SIDE}, found "${value}"`,
    );
  }
  return sides.length === 1 ? sides[0]! : [sides[0]!, sides[1]!];
}

async function statOrUndefined(path: string): Promise<Awaited<ReturnType<typeof stat>> | undefined> {
  try {
    return await stat(path);
  } catch {
    return undefined;
  }
}

/**
 * Creates the folders of `dir` one level at a time. Node's `mkdir(..., { recursive: true })`
 * spins forever on paths such as `/proc/x` (each level answers ENOENT); this fails instead.
 */
export async function makeFolders(dir: string): Promise<void> {
  const missing: string[] = [];
  let at = resolve(dir);
  while (!(await statOrUndefined(at))) {
    missing.unshift(at);
    const up = dirname(at);
    if (up === at) break;
    at = up;
  }
  for (const folder of missing) {
    try {
      await mkdir(folder);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

const FS_REASONS: Readonly<Record<string, string>> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  EEXIST: 'a file is in the way',
  EISDIR: 'a folder is in the way',
  ENOENT: 'folders cannot be created there',
};

/** One line for a failed file-system call: the reason in words, else the system's message. */
export function fsReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  return FS_REASONS[code] ?? (e as Error).message;
}

/**
 * Checks that folder `dir` (named by option `flag`) exists and is writable, or can be
 * created. Nothing is left behind: the probe folder is removed again. Returns the folder with
 * its symbolic links resolved (where the files really go: `reportLinkedFolder` says so).
 */
export async function checkOutputDir(dir: string, flag: string): Promise<string> {
  const fail = (why: string): never => {
    throw new UserError(`${flag}: cannot write output folder "${dir}": ${why}`);
  };
  // The nearest part of the path that exists must be a folder we can create entries in.
  let existing = resolve(dir);
  let info = await statOrUndefined(existing);
  while (!info) {
    const up = dirname(existing);
    if (up === existing) fail('no part of the path exists');
    existing = up;
    info = await statOrUndefined(existing);
  }
  if (!info.isDirectory()) {
    fail(
      existing === resolve(dir)
        ? 'it is a file, not a folder'
        : `a part of the path is a file, not a folder ("${existing}")`,
    );
  }
  // Permission bits do not tell the whole story (root, read-only mounts, /proc): try it.
  const probe = join(existing, `.fastdepth-probe-${process.pid}`);
  try {
    await mkdir(probe);
  } catch (e) {
    fail(`${fsReason(e)} (in "${existing}")`);
  }
  await rmdir(probe);
  return join(await realpath(existing), relative(existing, resolve(dir)));
}

/**
 * The line a command prints when its output folder `dir` is reached through a symbolic link
 * (`real` from `checkOutputDir`), so files landing outside the folder named are never a
 * surprise; undefined when there is no link.
 */
export function linkedFolderNote(flag: string, dir: string, real: string): string | undefined {
  return real === resolve(dir)
    ? undefined
    : `${flag} "${dir}" is reached through a symbolic link: writing to "${real}"`;
}

/**
 * Checks an output file option: its extension is one of `extensions` and its folder can be
 * written. A path naming an existing folder is refused (it would fail only at the rename).
 */
export async function checkOutputFile(
  path: string,
  flag: string,
  extensions: readonly string[],
): Promise<void> {
  const info = await statOrUndefined(path);
  if (info?.isDirectory())
    throw new UserError(
      `${flag} "${path}" is a folder: name the file to write, e.g. "${join(path, `depth${extensions[0]!}`)}"`,
    );
  const ext = extname(path).toLowerCase();
  if (!extensions.includes(ext)) {
    const list =
      extensions.length === 1
        ? extensions[0]!
        : `${extensions.slice(0, -1).join(', ')} or ${extensions[extensions.length - 1]!}`;
    throw new UserError(`${flag} "${path}": the file name must end in ${list}`);
  }
  await checkOutputDir(dirname(path), flag);
}
