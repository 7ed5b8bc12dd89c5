/** Where commands print. Injected so tests can capture output without spawning processes. */
export interface Output {
  line(text: string): void;
  json(value: unknown): void;
  /** Progress and notes for people; goes to stderr so `--json` stdout stays parseable. */
  note(text: string): void;
  /** One-line error messages. */
  error(text: string): void;
  /**
   * `performance.now()` when the command started, for "done in" summaries; unset (in-process
   * callers) means "when the command function was called".
   */
  readonly startedAt?: number;
}

export const consoleOutput: Output = {
  line: (text) => process.stdout.write(`${text}\n`),
  json: (value) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
  note: (text) => process.stderr.write(`${text}\n`),
  error: (text) => process.stderr.write(`${text}\n`),
  // performance.now() counts from the process start: the CLI's module loading is included.
  startedAt: 0,
};
