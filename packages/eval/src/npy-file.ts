import { readFile } from 'node:fs/promises';
import { FormatError, readNpy, type NpyArray } from '@fastdepth/graph-dsl';

/** Reads and decodes a `.npy` file from disk; errors name `path`. */
export async function readNpyFile(path: string): Promise<NpyArray> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new FormatError(path, `cannot read: ${(error as Error).message}`);
  }
  return readNpy(bytes, path);
}
