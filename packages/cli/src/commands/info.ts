import { analyze, fmt, type GraphStats } from '@fastdepth/graph-dsl';
import { parseInputSize, resolveArch } from '../arch-source.js';
import type { Output } from '../output.js';
import { formatTable, humanBytes, humanCount } from '../table.js';

export interface InfoOptions {
  readonly arch: string;
  readonly inputSize?: string;
  readonly json?: boolean;
}

export function statsJson(arch: string, stats: GraphStats): Record<string, unknown> {
  return {
    arch,
    graph: stats.name,
    inputShape: stats.inputShape,
    outputShape: stats.outputShape,
    macs: stats.macs,
    params: stats.params,
    convWeights: stats.convWeights,
    activationBytes: stats.activationBytes,
    layers: stats.layers.map((l) => ({
      name: l.name,
      op: l.op,
      inputs: l.inputs,
      shape: l.shape,
      macs: l.macs,
      params: l.params,
    })),
  };
}

export function layerTable(stats: GraphStats): string {
  return formatTable(
    ['layer', 'op', 'output', 'MACs', 'params'],
    stats.layers.map((l) => [l.name, l.op, fmt(l.shape), l.macs, l.params]),
  );
}

export function totalsLine(stats: GraphStats): string {
  return (
    `total: ${humanCount(stats.macs)} MACs (${stats.macs.toLocaleString('en-US')}), ` +
    `${humanCount(stats.params)} params (${stats.params.toLocaleString('en-US')}), ` +
    `${humanCount(stats.convWeights)} conv weights (${stats.convWeights.toLocaleString('en-US')}), ` +
    `activations ${humanBytes(stats.activationBytes)}, ${fmt(stats.inputShape)} -> ${fmt(stats.outputShape)}`
  );
}

export async function infoCommand(out: Output, options: InfoOptions): Promise<void> {
  const graph = await resolveArch(
    options.arch,
    options.inputSize === undefined ? undefined : parseInputSize(options.inputSize),
  );
  const stats = analyze(graph);
  if (options.json) {
    out.json(statsJson(options.arch, stats));
    return;
  }
  out.line(`${graph.name} (${stats.layers.length} layers)`);
  out.line(layerTable(stats));
  out.line(totalsLine(stats));
}
