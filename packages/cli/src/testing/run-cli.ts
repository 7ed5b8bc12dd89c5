/** Runs the CLI in-process and captures what it prints. */
import { main } from '../main.js';
import type { Output } from '../output.js';

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export async function runCli(...args: string[]): Promise<RunResult> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const out: Output = {
    line: (t) => stdout.push(t),
    json: (v) => stdout.push(JSON.stringify(v)),
    note: (t) => stderr.push(t),
    error: (t) => stderr.push(t),
  };
  const code = await main(['node', 'fastdepth', ...args], out);
  return { code, stdout: stdout.join('\n'), stderr: stderr.join('\n') };
}
