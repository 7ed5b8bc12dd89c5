import { readNpy, type NpyArray } from '@fastdepth/graph-dsl';
import { readUserFile } from '@fastdepth/graph-dsl/read-file';

/**
 * Reads and decodes a `.npy` file from disk; errors name `path` (folders, devices and FIFOs
 * are refused before opening, files over the `.npy` cap before reading).
 */
export async function readNpyFile(path: string): Promise<NpyArray> {
  return readNpy(await readUserFile(path, '.npy file', 'npy'), path);
}
