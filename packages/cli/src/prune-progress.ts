/**
 * Progress of a NetAdapt run. On a terminal: two bars (how much of the way to the budget, and the
 * current iteration's proposals), each with an ETA. Elsewhere (logs, pipes, CI): one plain line
 * per event, since redrawn bars turn into noise there.
 */
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { Metric, NetAdaptEvents } from '@fastdepth/netadapt';
import type { Output } from './output.js';
import { humanCount } from './table.js';

export function formatResource(metric: Metric, value: number): string {
  return metric === 'latency' ? `${value.toFixed(2)} ms` : humanCount(value);
}

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
          (info.resumedAt > 0 ? `, resuming after iteration ${info.resumedAt}` : ''),
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
      iterationDone: (row) =>
        out.note(
          `iteration ${row.iteration}: ${row.unit} ${row.from} -> ${row.to}, ${formatResource(metric, row.resource)} ` +
            `(${(100 * row.fraction).toFixed(1)}% of start, ${percentDone(row.resource)}% of the way), accuracy ${row.accuracy.toFixed(4)}`,
        ),
      stop: () => undefined,
    };
  }

  const bars = new MultiBar(
    {
      format: '{label} [{bar}] {percentage}% | ETA {eta_formatted} | {info}',
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
  return {
    start: (info) => {
      common.start?.(info);
      overall = bars.create(100, 0, { label: 'to budget   ', info: formatResource(metric, info.initial) });
      proposals = bars.create(1, 0, { label: 'proposals   ', info: 'measuring…' });
    },
    iterationStart: (info) => {
      label = `iteration ${String(info.iteration).padStart(2)}`;
      proposals?.setTotal(Math.max(1, info.proposals));
      // cli-progress replaces the whole payload on each update, so the label travels with every one.
      proposals?.update(0, { label, info: `target ${formatResource(metric, info.target)}` });
    },
    proposalDone: (row) => proposals?.increment(1, { label, info: `${row.unit} -> ${row.width}` }),
    iterationDone: (row) =>
      overall?.update(percentDone(row.resource), {
        label: 'to budget   ',
        info: `${formatResource(metric, row.resource)} after ${row.unit} ${row.from} -> ${row.to}`,
      }),
    longFineTuneStart: (info) => proposals?.update(0, { label: 'long tune   ', info: `${info.steps} steps` }),
    stop: () => bars.stop(),
  };
}
