/**
 * Temporary files of atomic writes (temp + rename), never left behind: each is tracked while
 * it exists and removed on every failure path, at exit, and on SIGINT/SIGTERM when nothing
 * else handles the signal (a command that stops gracefully on Ctrl-C finishes its writes and
 * exits, which removes what is left). A process killed outright (kill -9, power loss) cannot
 * clean up: `sweepStaleTemps` removes the `.PID.tmp` files of dead processes at the next start.
 * Node-only: `@fastdepth/latency/files` (re-exported as `@fastdepth/netadapt/files`).
 */
import { readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const live = new Set<string>();
let installed = false;

function removeLive(): void {
  for (const path of live) rmSync(path, { force: true });
  live.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  // Another handler stops the command gracefully (and may be mid-write): leave it the files.
  if (process.listenerCount(signal) > 1) return;
  removeLive();
  process.off(signal, onSignal);
  // The default action, so the exit status says which signal ended the process.
  process.kill(process.pid, signal);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', removeLive);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/** Marks `path` as a temporary file of this process until `untrackTemp` (or its removal). */
export function trackTemp(path: string): void {
  install();
  live.add(path);
}

/** `path` was renamed into place or removed: no longer this process's to clean up. */
export function untrackTemp(path: string): void {
  live.delete(path);
}

/** Removes `path` (if there) and stops tracking it. */
export function removeTemp(path: string): void {
  rmSync(path, { force: true });
  live.delete(path);
}

/** The temporary name beside `path`: `<path>.<pid>.tmp`. */
export const tempPath = (path: string): string => `${path}.${process.pid}.tmp`;

/**
 * Writes files atomically as one unit, in order: every file goes to its temporary name first,
 * then each is renamed into place in the order given (so the last one, e.g. a graph beside its
 * weights, appears only once the others are there). Nothing temporary stays on any failure.
 */
export function writeFilesAtomicSync(files: readonly (readonly [string, string | Uint8Array])[]): void {
  const staged: [string, string][] = [];
  try {
    for (const [path, data] of files) {
      const tmp = tempPath(path);
      // Tracked before the write: a write that fails half-way (disk full) leaves a file too.
      trackTemp(tmp);
      staged.push([tmp, path]);
      writeFileSync(tmp, data);
    }
    for (const [tmp, path] of staged) {
      renameSync(tmp, path);
      untrackTemp(tmp);
    }
  } catch (error) {
    for (const [tmp] of staged) removeTemp(tmp);
    throw error;
  }
}

/** Writes one file atomically (`writeFilesAtomicSync` of one). */
export function writeFileAtomicSync(path: string, data: string | Uint8Array): void {
  writeFilesAtomicSync([[path, data]]);
}

/** Whether process `pid` is alive (signal 0 checks without sending anything). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, owned by someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the `<name>.<pid>.tmp` files in folder `dir` (not below) whose process is dead:
 * what a killed run left. Files of live processes (another run writing now) are kept.
 * Returns the names removed; a folder that is not there has none.
 */
export function sweepStaleTemps(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = /\.(\d+)\.tmp$/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || alive(pid)) continue;
    try {
      rmSync(join(dir, name), { force: true });
      removed.push(name);
    } catch {
      // A folder of that name, or no permission: not ours to force.
    }
  }
  return removed;
}
