/**
 * What a device measures for a network ahead of a NetAdapt run (`fastdepth latency-server`):
 * for each latency layer, the grid points a run can ask for while it narrows the network, that
 * is every multiple of `step` from `minFraction` of the layer's width up to the grid point at
 * or above the width itself (both axes for convolutions, one for channel-wise layers). A run
 * that cuts a layer below `minFraction` asks for a point the table lacks, which is reported by
 * layer and point (see `LatencyTableOptions.onMissing`).
 */
import type { Graph } from '@fastdepth/graph-dsl';
import { latencyLayers, type LatencyLayer } from '../table.js';

export interface PlanPoint {
  readonly layer: LatencyLayer;
  readonly cin: number;
  readonly cout: number;
}

function axis(width: number, step: number, minFraction: number): number[] {
  // Below one step the table measures the exact count, as `layerLatency` does.
  if (width < step) return [width];
  const top = Math.ceil(width / step) * step;
  const bottom = Math.max(step, Math.floor((width * minFraction) / step) * step);
  const out: number[] = [];
  for (let c = bottom; c <= top; c += step) out.push(c);
  return out;
}

/** The grid points to measure for `graph`, layer by layer (duplicate signatures once). */
export function latencyPlan(graph: Graph, step: number, minFraction: number): PlanPoint[] {
  if (!(minFraction > 0 && minFraction <= 1))
    throw new Error(`minFraction must be in (0, 1], found ${minFraction}`);
  const seen = new Set<string>();
  const points: PlanPoint[] = [];
  for (const layer of latencyLayers(graph)) {
    const ins = axis(layer.inChannels, step, minFraction);
    const outs = layer.channelwise ? [0] : axis(layer.outChannels, step, minFraction);
    for (const cin of ins)
      for (const o of outs) {
        const cout = layer.channelwise ? cin : o;
        const key = `${layer.signature}|${cin}x${cout}`;
        if (seen.has(key)) continue;
        seen.add(key);
        points.push({ layer, cin, cout });
      }
  }
  return points;
}
