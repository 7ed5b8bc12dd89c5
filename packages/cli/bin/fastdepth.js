#!/usr/bin/env node
import { main } from '../dist/main.js';

// `fastdepth list | head` closes the pipe early: that is the reader's choice, not an error.
// Stop quietly instead of dying on an unhandled EPIPE with a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}

process.exitCode = await main(process.argv);
