/**
 * `--arch` takes a family name (`fastdepth-pruned`, `resnet18-upproj`, ...) or a path to a
 * saved graph JSON file: that is how pruned variants come back in.
 */
import { buildArch } from '@fastdepth/fastdepth-arch';
import { loadGraph, type Graph } from '@fastdepth/graph-dsl';
import { readUserFile, type FileKind } from '@fastdepth/graph-dsl/read-file';
import { UserError } from './errors.js';

export function looksLikePath(value: string): boolean {
  return value.endsWith('.json') || value.includes('/') || value.includes('\\');
}

/**
 * Reads a file the user named, refusing folders, devices and FIFOs by type before opening them
 * and files over the cap of `kind`; errors read `cannot read WHAT "PATH": REASON`.
 */
export function readInput(path: string, what: string, kind: FileKind): Promise<Buffer> {
  return readUserFile(path, what, kind);
}

export async function resolveArch(
  arch: string,
  inputSize?: number | readonly [number, number],
): Promise<Graph> {
  if (!looksLikePath(arch)) return buildArch(arch, inputSize === undefined ? {} : { inputSize });
  if (inputSize !== undefined)
    throw new UserError('--input-size applies to architecture names, not to saved graph files');
  const text = await readInput(arch, 'graph file', 'graph');
  return loadGraph(text.toString('utf8'), arch);
}

// Kept here too: `prune` imports it from this module.
export { parseInputSize } from './options.js';
