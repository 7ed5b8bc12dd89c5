/**
 * `fastdepth latency-check`: how far a latency table's estimate of a network is from the
 * network timed whole on the same device (NetAdapt trusts the table to rank proposals; the
 * aim is within 10 %). Node and a local Chromium time both here; a saved device table carries
 * the whole network's time if `latency-server` was given this network.
 */
import { latencyLayers, median, wholeNetworkKey } from '@fastdepth/netadapt';
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
  const runs = parseInteger('--runs', options.runs, 1, 100);
  const seed = parseInteger('--seed', options.seed, 0, SEED_MAX);
  const { model, stem } = await loadModel({
    arch: options.arch ?? (options.weights === undefined ? 'fastdepth' : undefined),
    ...(options.weights !== undefined ? { weights: options.weights } : {}),
    ...(options.inputSize !== undefined ? { inputSize: parseInputSize(options.inputSize) } : {}),
    seed,
  });
  const latency = await openLatency(choice, out);
  try {
    const layers = latencyLayers(model.graph).length;
    const estimated = await latency.table.estimate(model.graph);
    let measured: number | undefined;
    let source: string;
    if (latency.canMeasure) {
      const times: number[] = [];
      for (let i = 0; i < runs; i++) times.push(await latency.table.runner.measure(model));
      measured = median(times);
      source = `timed whole here, median of ${runs} x (2 warm-up + 5 runs)`;
    } else {
      measured = latency.table.meta(wholeNetworkKey(model.graph));
      source =
        measured === undefined
          ? 'not in the table: run `fastdepth latency-server` with this network so the device times it whole'
          : 'timed whole on the device by latency-server';
    }
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
      });
      return;
    }
    out.line(`${stem} on ${latency.runtime}, ${layers} latency layers`);
    out.line(`table estimate: ${estimated.toFixed(2)} ms`);
    out.line(`whole network:  ${measured === undefined ? '-' : `${measured.toFixed(2)} ms`} (${source})`);
    if (ratio !== undefined)
      out.line(
        `estimate / measured = ${ratio.toFixed(3)} (${((ratio - 1) * 100).toFixed(1)} %): ${within ? 'within' : 'outside'} the 10 % aim`,
      );
  } finally {
    await latency.close();
  }
}
