import { FastDepthError } from '@fastdepth/graph-dsl';

/** A mistake in how the command was called (bad option value, missing file). */
export class UserError extends FastDepthError {
  override readonly name = 'UserError';
}

// eslint-disable-next-line no-control-regex -- control characters are what it finds
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * `text` as one printable line: line breaks (libvips reports one problem per line, often
 * repeated) become "; " between the distinct lines, and every other control character (a
 * carriage return, an escape sequence from a file's own strings) is written as its escape, so
 * an error never spans lines, rewrites the terminal or hides what came before it.
 */
export function oneLine(text: string): string {
  const lines: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line !== '' && !lines.some((l) => l.includes(line))) lines.push(line);
  }
  return lines
    .join('; ')
    .replace(CONTROL, (c) =>
      c === '\t' ? ' ' : c === '\r' ? '\\r' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );
}

/** The message of anything thrown, as one line (see `oneLine`). */
export function errorLine(error: unknown): string {
  return oneLine(error instanceof Error ? error.message : String(error));
}
