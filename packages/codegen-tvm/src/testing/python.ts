/**
 * Test-only: runs python3. numpy is a hard requirement of these tests: without it they fail
 * with a message saying what to install, never skip silently.
 */
import { spawnSync } from 'node:child_process';

export interface PyResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function python(
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {},
): PyResult {
  const r = spawnSync('python3', args, {
    encoding: 'utf8',
    cwd: options.cwd,
    env: options.env ?? process.env,
    input: options.input,
    timeout: 60_000,
  });
  if (r.error)
    throw new Error(
      `cannot run python3 (${r.error.message}); these tests need Python 3 with numpy (apt-get install python3 python3-numpy)`,
    );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Throws a clear error when python3 or numpy is missing. */
export function requireNumpy(): void {
  const r = python(['-c', 'import numpy']);
  if (r.status !== 0) {
    throw new Error(
      `python3 cannot import numpy; these tests need it (CI: apt-get install -y python3-numpy). ${r.stderr.trim()}`,
    );
  }
}
