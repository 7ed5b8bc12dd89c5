/**
 * `fastdepth latency-check`: how far a latency table's estimate of a network is from the
 * network timed whole on the same device (NetAdapt trusts the table to rank proposals; the
 * aim is within 10 %). Node and a local Chromium time both here; a saved device table carries
 * the whole network's time if `latency-server` was given this network.
 */
import { checkLatencyTable, latencyLayers, wholeNetworkKey, type TableProvenance } from '@fastdepth/latency';
import { parseInteger, parseInputSize, SEED_MAX } from '../options.js';
import { openLatency, parseLatencyChoice, type LatencyOptions } from '../latency-options.js';
import type { Output } from '../output.js';
import { loadModel } from '../weights-source.js';

export interface LatencyCheckOptions extends LatencyOptions {
  readonly arch?: string;
  readonly weights?: string;
  readonly inputSize?: string;
  readonly seed: string;
  readonly runs: string;
  readonly json?: boolean;
}

/** The aim: the table's estimate within this fraction of the whole network's time. */
const AIM = 0.1;

export async function latencyCheckCommand(out: Output, options: LatencyCheckOptions): Promise<void> {
  const choice = parseLatencyChoice(options, 'latency')!;
  const runs = parseInteger('--runs', options.runs, 3, 100);
  const seed = parseInteger('--seed', options.seed, 0, SEED_MAX);
  const { model, stem } = await loadModel({
    arch: options.arch ?? (options.weights === undefined ? 'fastdepth' : undefined),
    ...(options.weights !== undefined ? { weights: options.weights } : {}),
    ...(options.inputSize !== undefined ? { inputSize: parseInputSize(options.inputSize) } : {}),
    seed,
  });
  const latency = await openLatency(choice, out, {
    ...(options.freshLatency ? { freshLatency: true } : {}),
    ...(options.allowNoisy ? { allowNoisy: true } : {}),
    rounds: runs,
  });
  try {
    const layers = latencyLayers(model.graph).length;
    let estimated: number;
    let measured: number | undefined;
    let spread: number | undefined;
    let source: string;
    if (latency.canMeasure) {
      // The whole network by the same protocol as the entries: rounds beside the reference probe.
      const c = await checkLatencyTable(model, latency.table);
      estimated = c.estimated;
      measured = c.measured;
      spread = c.spread;
      source = `timed whole here, ${c.relative.rounds} rounds beside the reference probe, spread ${(100 * c.spread).toFixed(1)} %`;
    } else {
      estimated = await latency.table.estimate(model.graph);
      measured = latency.table.meta(wholeNetworkKey(model.graph));
      source =
        measured === undefined
          ? 'not in the table: run `fastdepth latency-server` with this network so the device times it whole'
          : 'timed whole on the device by latency-server';
    }
    const provenance = latency.table.provenance;
    const ratio = measured === undefined ? undefined : estimated / measured;
    const within = ratio === undefined ? undefined : Math.abs(ratio - 1) <= AIM;
    if (options.json) {
      out.json({
        arch: stem,
        runtime: latency.runtime,
        layers,
        estimatedMs: estimated,
        measuredMs: measured,
        ratio,
        within10pct: within,
        source,
        ...(spread !== undefined ? { spread } : {}),
        ...(provenance ? { measuredWith: provenance && summarise(provenance) } : {}),
      });
      return;
    }
    out.line(`${stem} on ${latency.runtime}, ${layers} latency layers`);
    out.line(`table estimate: ${estimated.toFixed(2)} ms`);
    out.line(`whole network:  ${measured === undefined ? '-' : `${measured.toFixed(2)} ms`} (${source})`);
    if (provenance) out.line(`table measured with: ${describeProvenance(provenance)}`);
    if (ratio !== undefined)
      out.line(
        `estimate / measured = ${ratio.toFixed(3)} (${((ratio - 1) * 100).toFixed(1)} %): ${within ? 'within' : 'outside'} the 10 % aim`,
      );
  } finally {
    await latency.close();
  }
}

/** What a report says of how a table was measured (the per-entry spreads left out). */
function summarise(p: TableProvenance): Omit<TableProvenance, 'spreads'> & { entries: number } {
  const { spreads, ...rest } = p;
  return { ...rest, entries: Object.keys(spreads).length };
}

function describeProvenance(p: TableProvenance): string {
  const last = p.sessions.at(-1);
  const noisy = p.sessions.filter((s) => s.noisy).length;
  return (
    `${p.protocol}, ${p.rounds} rounds, low quantile ${p.quantile}, probe ${p.probe.graph} = ${p.probe.referenceMs.toFixed(3)} ms, ${p.runtime}` +
    (last
      ? `; last session ${last.date}, probe spread ${(100 * last.probeSpread).toFixed(0)} %, entries spread ${(100 * last.entrySpread).toFixed(0)} %, load average ${last.loadAverage.toFixed(2)}`
      : '') +
    (noisy > 0 ? `; ${noisy} session(s) measured on a busy machine (--allow-noisy)` : '')
  );
}
