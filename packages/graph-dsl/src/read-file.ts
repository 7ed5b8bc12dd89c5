/**
 * Reading a file a user named (`--arch`, `--weights`, images, `.h5`, `.npy`, tables), for the
 * Node packages: `@fastdepth/graph-dsl/read-file`, kept out of the main entry so the browser
 * bundles never see `node:fs`. The path is checked by type before it is opened: opening a FIFO
 * waits for a writer forever and `/dev/zero` never ends, so both would hang a command instead
 * of failing it. The size is checked against a cap per kind before anything is allocated.
 */
import { readFileSync, statSync, type Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { FastDepthError } from './errors.js';

const MiB = 1024 * 1024;

/**
 * The largest file each kind may be. Generous: ten times the largest file of the family
 * (resnet50 weights as float32 are about 170 MB, a NYU frame is 1.5 MB), small enough that
 * reading one never takes the machine's memory.
 */
export const FILE_SIZE_CAPS = {
  graph: 64 * MiB,
  weights: 2048 * MiB,
  image: 256 * MiB,
  h5: 1024 * MiB,
  npy: 1024 * MiB,
  table: 64 * MiB,
} as const;

/** The kinds of user files, each with its cap in `FILE_SIZE_CAPS`. */
export type FileKind = keyof typeof FILE_SIZE_CAPS;

/** A user file that cannot be read: missing, not a regular file, unreadable or too large. */
export class FileReadError extends FastDepthError {
  /** Always `'FileReadError'`. */
  override readonly name = 'FileReadError';
  /**
   * @param file the path as the user gave it.
   * @param what what the file was for (`weights file`, `image`), named in the message.
   * @param reason why it cannot be read.
   */
  constructor(
    readonly file: string,
    readonly what: string,
    readonly reason: string,
  ) {
    super(`cannot read ${what} "${file}": ${reason}`);
  }
}

function humanSize(bytes: number): string {
  return bytes >= MiB ? `${(bytes / MiB).toFixed(bytes % MiB === 0 ? 0 : 1)} MiB` : `${bytes} bytes`;
}

/** Why `stats` is not a file we read, or undefined when it is a regular file within `cap`. */
function refusal(stats: Stats, cap: number): string | undefined {
  if (stats.isDirectory()) return 'is a folder, not a file';
  if (stats.isFIFO()) return 'is a FIFO (named pipe), not a file';
  if (stats.isCharacterDevice()) return 'is a character device, not a file';
  if (stats.isBlockDevice()) return 'is a block device, not a file';
  if (stats.isSocket()) return 'is a socket, not a file';
  if (!stats.isFile()) return 'is not a regular file';
  if (stats.size > cap)
    return `is ${humanSize(stats.size)}, more than the ${humanSize(cap)} such a file may be`;
  return undefined;
}

function errnoReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'ENOTDIR':
      return 'a part of the path is not a folder';
    case 'EISDIR':
      return 'is a folder, not a file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ELOOP':
      return 'too many symbolic links';
    default:
      return error instanceof Error ? error.message : String(error);
  }
}

function sizeCap(kind: FileKind, maxBytes: number | undefined): number {
  return maxBytes ?? FILE_SIZE_CAPS[kind];
}

/**
 * Checks that `path` is a regular file of at most the cap of `kind` (or `maxBytes`) without
 * opening it; throws `FileReadError` (`cannot read WHAT "PATH": is a FIFO (named pipe), not a
 * file`) otherwise. Symbolic links count as what they point to.
 */
export async function checkUserFile(
  path: string,
  what: string,
  kind: FileKind,
  maxBytes?: number,
): Promise<Stats> {
  let stats: Stats;
  try {
    stats = await stat(path);
  } catch (error) {
    throw new FileReadError(path, what, errnoReason(error));
  }
  const why = refusal(stats, sizeCap(kind, maxBytes));
  if (why !== undefined) throw new FileReadError(path, what, why);
  return stats;
}

/** Reads a user file after `checkUserFile`; errors name the file and say what it is. */
export async function readUserFile(
  path: string,
  what: string,
  kind: FileKind,
  maxBytes?: number,
): Promise<Buffer> {
  await checkUserFile(path, what, kind, maxBytes);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new FileReadError(path, what, errnoReason(error));
  }
  // The file may have grown between stat and read; the cap still holds.
  const cap = sizeCap(kind, maxBytes);
  if (bytes.length > cap)
    throw new FileReadError(path, what, `is more than the ${humanSize(cap)} such a file may be`);
  return bytes;
}

/** `readUserFile`, synchronously (for the synchronous importers). */
export function readUserFileSync(path: string, what: string, kind: FileKind, maxBytes?: number): Buffer {
  let stats: Stats;
  try {
    stats = statSync(path);
  } catch (error) {
    throw new FileReadError(path, what, errnoReason(error));
  }
  const cap = sizeCap(kind, maxBytes);
  const why = refusal(stats, cap);
  if (why !== undefined) throw new FileReadError(path, what, why);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new FileReadError(path, what, errnoReason(error));
  }
  if (bytes.length > cap)
    throw new FileReadError(path, what, `is more than the ${humanSize(cap)} such a file may be`);
  return bytes;
}
