/**
 * `fastdepth latency clear`: removes the cached latency tables (`node_modules/.cache/fastdepth/
 * latency/latency.json`, and netadapt's older `.../netadapt/latency.json`), so the next prune or
 * latency-check measures every entry again. Device tables written by `latency-server --out` are
 * the user's files and are left alone.
 */
import { clearLatencyCache, latencyCacheFiles } from '../latency-options.js';
import type { Output } from '../output.js';

export function latencyClearCommand(out: Output, options: { json?: boolean }): Promise<void> {
  const removed = clearLatencyCache();
  if (options.json) out.json({ removed, looked: latencyCacheFiles() });
  else if (removed.length === 0)
    out.line(`no cached latency table (looked at ${latencyCacheFiles().join(', ')})`);
  else for (const file of removed) out.line(`removed ${file}`);
  return Promise.resolve();
}
