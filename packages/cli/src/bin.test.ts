// The installed command itself (built output), as a user runs it: exit codes and stderr.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../bin/fastdepth.js', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

describe('bin/fastdepth.js', () => {
  it('prints help with every command', () => {
    const r = run('--help');
    expect(r.status).toBe(0);
    for (const cmd of ['list', 'info', 'compile']) expect(r.stdout).toContain(cmd);
  });

  it('exits 1 with one line and no stack trace on a user error', () => {
    const r = run('info', '--arch', 'nope');
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^fastdepth: error: unknown architecture "nope"/);
  });

  it('worker: Redis unreachable is one line and exit 1, not a stack trace or endless retries', () => {
    // Port 1 on loopback: nothing listens there.
    const r = run('worker', '--queue', 'redis://:secret@127.0.0.1:1');
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^fastdepth: error: cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1: .*ECONNREFUSED/,
      ),
    ]);
  });

  it('stops quietly when the reader of its output goes away (`fastdepth list | head -n 1`)', () => {
    // pipefail: the status is fastdepth's own, not head's.
    const r = spawnSync('bash', ['-o', 'pipefail', '-c', `"${process.execPath}" "${bin}" list | head -n 1`], {
      encoding: 'utf8',
    });
    expect(r.stdout).toMatch(/^fastdepth\s/);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
