/**
 * `--arch` takes a family name (`fastdepth-pruned`, `resnet18-upproj`, ...) or a path to a
 * saved graph JSON file: that is how pruned variants come back in.
 */
import { readFile } from 'node:fs/promises';
import { buildArch } from '@fastdepth/fastdepth-arch';
import { loadGraph, type Graph } from '@fastdepth/graph-dsl';
import { UserError } from './errors.js';

export function looksLikePath(value: string): boolean {
  return value.endsWith('.json') || value.includes('/') || value.includes('\\');
}

export async function readInput(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'is a folder'
          : code === 'EACCES'
            ? 'permission denied'
            : (e as Error).message;
    throw new UserError(`cannot read ${what} "${path}": ${why}`);
  }
}

export async function resolveArch(
  arch: string,
  inputSize?: number | readonly [number, number],
): Promise<Graph> {
  if (!looksLikePath(arch)) return buildArch(arch, inputSize === undefined ? {} : { inputSize });
  if (inputSize !== undefined)
    throw new UserError('--input-size applies to architecture names, not to saved graph files');
  const text = await readInput(arch, 'graph file');
  return loadGraph(text.toString('utf8'), arch);
}

// Kept here too: `prune` imports it from this module.
export { parseInputSize } from './options.js';
