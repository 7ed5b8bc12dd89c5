/**
 * Progress of a NetAdapt run. On a terminal: two bars (how much of the way to the budget, and the
 * current iteration's proposals), each with an ETA. Elsewhere (logs, pipes, CI): one plain line
 * per event, since redrawn bars turn into noise there.
 */
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { Metric, NetAdaptEvents } from '@fastdepth/netadapt';
import type { Output } from './output.js';
import { humanCount } from './table.js';

/** Latency in ms: the whole network's time where it is timed, else the table's estimate (the report says which). */
export function formatResource(metric: Metric, value: number): string {
  return metric === 'latency' ? `${value.toFixed(2)} ms` : humanCount(value);
}

/** "1m05s" from seconds; "-" while unknown. */
function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '-';
  const s = Math.round(seconds);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** The agreement columns of a row, when the recovery measured them. */
function agreementText(row: { accuracy: number; delta1?: number; absRel?: number }): string {
  return row.delta1 !== undefined && row.absRel !== undefined
    ? `delta1 ${row.delta1.toFixed(3)}, AbsRel ${row.absRel.toFixed(3)} vs start`
    : `proxy ${row.accuracy.toFixed(4)}`;
}

/** Queue runs: who computed a proposal (and whether a resumed run found it finished in Redis). */
function byWorker(row: { worker?: string; reused?: boolean }): string {
  if (row.worker === undefined) return '';
  return row.reused ? ` (from Redis: ${row.worker} finished it before the restart)` : ` by ${row.worker}`;
}

const counts = (s: { done: number; running: number; queued: number }): string =>
  `${s.done} done, ${s.running} running, ${s.queued} queued`;

export interface PruneProgress extends NetAdaptEvents {
  stop(): void;
}

export function pruneProgress(out: Output, metric: Metric, budget: number, quiet: boolean): PruneProgress {
  let initial = 0;
  let target = 0;
  const percentDone = (resource: number): number =>
    Math.max(0, Math.min(100, Math.round((100 * (initial - resource)) / (initial - target))));
  const common: NetAdaptEvents = {
    start: (info) => {
      initial = info.initial;
      target = info.initial * budget;
      out.note(
        `${metric} ${formatResource(metric, info.initial)} -> budget ${formatResource(metric, target)}, ${info.units} prunable units` +
          (info.resumedAt > 0 ? `, resuming after iteration ${info.resumedAt - 1}` : ''),
      );
    },
    longFineTuneStart: (info) => out.note(`long fine-tune: ${info.steps} steps`),
  };
  if (quiet) return { ...common, stop: () => undefined };

  if (!process.stderr.isTTY) {
    return {
      ...common,
      iterationStart: (info) =>
        out.note(
          `iteration ${info.iteration}: target ${formatResource(metric, info.target)}, ${info.proposals} proposals`,
        ),
      // In-process proposals are one line per iteration; queued ones say who ran each.
      proposalDone: (row) => {
        if (row.worker !== undefined)
          out.note(`  proposal ${row.unit} -> ${row.width}${byWorker(row)}: ${agreementText(row)}`);
      },
      proposalStatus: (s) => {
        if (s.running + s.queued === 0) out.note(`  proposals of iteration ${s.iteration}: ${counts(s)}`);
      },
      iterationDone: (row) =>
        out.note(
          `iteration ${row.iteration}: ${row.unit} ${row.from} -> ${row.to}, ${formatResource(metric, row.resource)} ` +
            `(${(100 * row.fraction).toFixed(1)}% of start, ${percentDone(row.resource)}% of the way), ${agreementText(row)}`,
        ),
      stop: () => undefined,
    };
  }

  const bars = new MultiBar(
    {
      // Our own ETA: cli-progress prints "NFs" before the first step and knows nothing of iterations.
      format: '{label} [{bar}] {percentage}% | {eta} | {info}',
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 20,
    },
    Presets.shades_classic,
  );
  let overall: SingleBar | undefined;
  let proposals: SingleBar | undefined;
  let label = '';
  let runStart = 0;
  let iterationStart = 0;
  let done = 0;
  let total = 1;
  let stopped = false;
  let queueCounts = '';
  let last = '';
  const eta = (started: number, fraction: number): string =>
    fraction > 0 ? `ETA ${duration(((performance.now() - started) / 1000) * (1 / fraction - 1))}` : 'ETA -';
  return {
    start: (info) => {
      common.start?.(info);
      runStart = performance.now();
      overall = bars.create(100, 0, {
        label: 'to budget   ',
        eta: 'ETA -',
        info: formatResource(metric, info.initial),
      });
      proposals = bars.create(1, 0, { label: 'proposals   ', eta: 'ETA -', info: 'measuring…' });
    },
    iterationStart: (info) => {
      label = `iteration ${String(info.iteration).padStart(2)}`;
      iterationStart = performance.now();
      done = 0;
      total = Math.max(1, info.proposals);
      proposals?.setTotal(total);
      // cli-progress replaces the whole payload on each update, so the label travels with every one.
      queueCounts = '';
      proposals?.update(0, { label, eta: 'ETA -', info: `target ${formatResource(metric, info.target)}` });
    },
    proposalDone: (row) => {
      done++;
      last = `${row.unit} -> ${row.width}${byWorker(row)}: ${agreementText(row)}`;
      proposals?.increment(1, {
        label,
        eta: eta(iterationStart, done / total),
        info: queueCounts ? `${queueCounts} | ${last}` : last,
      });
    },
    proposalStatus: (s) => {
      queueCounts = counts(s);
      proposals?.update(s.done, {
        label,
        eta: eta(iterationStart, s.done / total),
        info: last ? `${queueCounts} | ${last}` : queueCounts,
      });
    },
    iterationDone: (row) => {
      const p = percentDone(row.resource);
      overall?.update(p, {
        label: 'to budget   ',
        eta: eta(runStart, p / 100),
        info: `${formatResource(metric, row.resource)} after ${row.unit} ${row.from} -> ${row.to}, ${agreementText(row)}`,
      });
    },
    longFineTuneStart: (info) =>
      proposals?.update(0, { label: 'long tune   ', eta: 'ETA -', info: `${info.steps} steps` }),
    // Idempotent: Ctrl-C stops the bars (restoring the cursor and line wrap) before the run ends.
    stop: () => {
      if (stopped) return;
      stopped = true;
      bars.stop();
    },
  };
}
