/**
 * Channel surgery as a model pass: shrink one unit to a chosen list of channels. A tied set
 * (producers joined by adds) keeps ONE index list on every producer, so the kept channels stay
 * aligned across every add; carriers (BN, depthwise convs) and consumers follow.
 */
import {
  FastDepthError,
  type Graph,
  type Model,
  type Node,
  type TensorF32,
  type WeightMap,
} from '@fastdepth/graph-dsl';
import { unitById, type PrunableUnit, type UnitSite } from './units.js';

/**
 * Slices `axis` of `t`: the range [offset, offset + width) is replaced by the channels `keep`
 * (relative to offset); channels outside the range shift down.
 */
export function sliceAxis(
  t: TensorF32,
  axis: number,
  offset: number,
  width: number,
  keep: readonly number[],
): TensorF32 {
  const shape = [...t.shape];
  const old = shape[axis]!;
  const next = old - width + keep.length;
  const source = Array.from({ length: next }, (_, j) =>
    j < offset ? j : j < offset + keep.length ? offset + keep[j - offset]! : j + width - keep.length,
  );
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  shape[axis] = next;
  const data = new Float32Array(outer * next * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < next; j++) {
      const from = (o * old + source[j]!) * inner;
      data.set(t.data.subarray(from, from + inner), (o * next + j) * inner);
    }
  }
  return { shape, data };
}

function checkKeep(unit: PrunableUnit, keep: readonly number[]): void {
  if (!unit.prunable) throw new FastDepthError(`unit "${unit.id}" is not prunable: ${unit.reason ?? ''}`);
  if (keep.length === 0) throw new FastDepthError(`unit "${unit.id}": keep at least one channel`);
  keep.forEach((k, i) => {
    if (!Number.isInteger(k) || k < 0 || k >= unit.channels || (i > 0 && k <= keep[i - 1]!)) {
      throw new FastDepthError(
        `unit "${unit.id}": keep must list strictly increasing channel indices in [0, ${unit.channels}), found ${k} at position ${i}`,
      );
    }
  });
}

function siteAttrs(node: Node, site: UnitSite, dropped: number, kept: number): Node {
  if (node.op !== 'conv2d' && node.op !== 'convTranspose2d') return node;
  switch (site.kind) {
    case 'producer':
      return { ...node, attrs: { ...node.attrs, outChannels: kept } } as Node;
    case 'carrier':
      return {
        ...node,
        attrs: {
          ...node.attrs,
          outChannels: node.attrs.outChannels - dropped,
          groups: node.attrs.groups - dropped,
        },
      } as Node;
    case 'consumer':
      return node;
  }
}

/** The graph alone with unit `unit` resized to `n` channels (for resource estimates). */
export function resizeUnitGraph(graph: Graph, unit: PrunableUnit, n: number): Graph {
  const dropped = unit.channels - n;
  const byLayer = new Map(unit.sites.map((s) => [s.layer, s]));
  const nodes = graph.nodes.map((node) => {
    const site = byLayer.get(node.name);
    return site ? siteAttrs(node, site, dropped, n) : node;
  });
  return refreshWidthsMeta({ ...graph, nodes });
}

/** FastDepth graphs record their widths in `meta.widths`; keep it true after surgery. */
function refreshWidthsMeta(graph: Graph): Graph {
  if (graph.meta?.widths === undefined) return graph;
  const out = new Map(graph.nodes.map((n) => [n.name, n]));
  const width = (name: string): number | undefined => {
    const node = out.get(name);
    return node && node.op === 'conv2d' ? node.attrs.outChannels : undefined;
  };
  const encoder = Array.from({ length: 14 }, (_, i) => width(i === 0 ? 'conv0' : `conv${i}_pw`));
  const decoder = Array.from({ length: 5 }, (_, k) => width(`decode_conv${k + 1}_pw`));
  const meta = { ...graph.meta };
  if ([...encoder, ...decoder].every((w) => w !== undefined))
    meta.widths = JSON.stringify({ encoder, decoder });
  else delete meta.widths;
  return { ...graph, meta };
}

/**
 * Keeps channels `keep` (strictly increasing indices) of unit `unitId`: slices every producer's
 * filters and bias, every carrier's BN vectors or depthwise filters (and its groups), and every
 * consumer's input channels at the unit's offset. A pure model pass.
 */
export function pruneUnit(model: Model, unitId: string, keep: readonly number[]): Model {
  const unit = unitById(model.graph, unitId);
  checkKeep(unit, keep);
  const weights = new Map(model.weights);
  const w = (name: string): TensorF32 => {
    const t = model.weights.get(name);
    if (!t) throw new FastDepthError(`pruneUnit: missing weight "${name}"`);
    return t;
  };
  const nodes = new Map(model.graph.nodes.map((n) => [n.name, n]));
  const width = unit.channels;
  const cut = (name: string, axis: number, offset: number): void => {
    weights.set(name, sliceAxis(w(name), axis, offset, width, keep));
  };
  for (const site of unit.sites) {
    const node = nodes.get(site.layer)!;
    if (node.op === 'batchNorm') {
      for (const s of ['weight', 'bias', 'running_mean', 'running_var'])
        cut(`${node.name}.${s}`, 0, site.kind === 'carrier' ? site.offset : 0);
      continue;
    }
    if (node.op !== 'conv2d' && node.op !== 'convTranspose2d') continue;
    const transposed = node.op === 'convTranspose2d';
    switch (site.kind) {
      case 'producer':
        cut(`${node.name}.weight`, transposed ? 1 : 0, 0);
        if (node.attrs.bias) cut(`${node.name}.bias`, 0, 0);
        break;
      case 'carrier':
        cut(`${node.name}.weight`, 0, site.offset);
        if (node.attrs.bias) cut(`${node.name}.bias`, 0, site.offset);
        break;
      case 'consumer':
        cut(`${node.name}.weight`, transposed ? 0 : 1, site.offset);
        break;
    }
  }
  return { graph: resizeUnitGraph(model.graph, unit, keep.length), weights };
}

/** Per-channel filter L2 norm of one producer. */
function filterNorms(model: Model, producer: string): Float64Array {
  const node = model.graph.nodes.find((n) => n.name === producer)!;
  const t = model.weights.get(`${producer}.weight`);
  if (!t) throw new FastDepthError(`chooseChannels: missing weight "${producer}.weight"`);
  const transposed = node.op === 'convTranspose2d';
  const [d0, d1] = t.shape as [number, number];
  const inner = t.data.length / (d0 * d1);
  const out = new Float64Array(transposed ? d1 : d0);
  for (let a = 0; a < d0; a++)
    for (let b = 0; b < d1; b++)
      for (let k = 0; k < inner; k++) {
        const v = t.data[(a * d1 + b) * inner + k]!;
        out[transposed ? b : a]! += v * v;
      }
  return out.map(Math.sqrt);
}

/**
 * The `n` channels of `unit` to keep: the largest sums, over every producer of the tied set,
 * of the filters' L2 norms (one shared choice, so an add stays aligned). Increasing order.
 */
export function chooseChannels(model: Model, unit: PrunableUnit | string, n: number): number[] {
  const u = typeof unit === 'string' ? unitById(model.graph, unit) : unit;
  if (!Number.isInteger(n) || n < 1 || n > u.channels)
    throw new FastDepthError(`unit "${u.id}": cannot keep ${n} of ${u.channels} channels`);
  const score = new Float64Array(u.channels);
  for (const p of u.producers) filterNorms(model, p).forEach((v, c) => (score[c]! += v));
  const order = Array.from({ length: u.channels }, (_, c) => c).sort(
    (a, b) => score[b]! - score[a]! || a - b,
  );
  return order.slice(0, n).sort((a, b) => a - b);
}

/** Per channel of `unit`: the squared filter L2 norms summed over its producers. */
export function filterEnergy(model: Model, unit: PrunableUnit): Float64Array {
  const energy = new Float64Array(unit.channels);
  for (const p of unit.producers) filterNorms(model, p).forEach((v, c) => (energy[c]! += v * v));
  return energy;
}

/** `pruneUnit(model, unitId, chooseChannels(model, unitId, n))`. */
export function shrinkUnit(model: Model, unitId: string, n: number): Model {
  return pruneUnit(model, unitId, chooseChannels(model, unitId, n));
}

/** Unused weights of a map (not in `graph`) are dropped by surgery; this copies a map for callers. */
export function cloneWeights(weights: WeightMap): Map<string, TensorF32> {
  return new Map([...weights].map(([k, t]) => [k, { shape: [...t.shape], data: t.data.slice() }]));
}
