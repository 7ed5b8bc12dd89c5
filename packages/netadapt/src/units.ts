/**
 * Prunable units: the sets of convolutions whose output channels must shrink together.
 *
 * Channels are traced through the graph as *segments*: every tensor is a list of channel
 * ranges, each owned by the unit that produced it (or by nobody: the network input, a pixel
 * shuffle's output). Per-channel ops (BatchNorm, activations, upsample, resize, unpool, maxPool and
 * depthwise convolutions) keep the segments; `concat` lays them end to end (so a producer
 * feeding a concat owns a slice of the consumer's input); `add` ties the units of matching
 * segments into one (union-find); a channel-mixing conv ends the segments and starts its own.
 * Pure over the graph: units are recomputed after every surgery, so offsets stay right.
 */
import {
  assertNever,
  FastDepthError,
  inferShapes,
  type Graph,
  type Node,
  type Shape,
} from '@fastdepth/graph-dsl';

/** Where a unit's channels live in one layer. */
export type UnitSite =
  /** A channel-mixing conv whose output channels are the unit's (conv2d axis 0, convTranspose2d axis 1). */
  | { readonly kind: 'producer'; readonly layer: string }
  /** A per-channel layer carrying the unit's channels at `offset`: BN (vectors), depthwise conv (weight axis 0, groups). */
  | { readonly kind: 'carrier'; readonly layer: string; readonly offset: number }
  /** A channel-mixing conv reading the unit's channels at input offset `offset`. */
  | { readonly kind: 'consumer'; readonly layer: string; readonly offset: number };

/** One prunable unit: producers tied through adds, and every layer its channels touch. */
export interface PrunableUnit {
  /** Stable id: the producers' names in graph order joined by `+`, e.g. `conv1_pw+decode_conv4_pw`. */
  readonly id: string;
  /** Channel-mixing convolutions whose output channels are this unit's (one unless tied by an add). */
  readonly producers: readonly string[];
  /** Current width (output channels of every producer). */
  readonly channels: number;
  /** Whether NetAdapt may shrink it; `reason` says why not. */
  readonly prunable: boolean;
  readonly reason?: string;
  /** Every layer touched by shrinking this unit, in graph order (producers, carriers, consumers). */
  readonly sites: readonly UnitSite[];
}

interface Segment {
  /** Index into the union-find of raw units, or -1 for channels no unit owns. */
  readonly unit: number;
  readonly width: number;
}

class UnionFind {
  private readonly parent: number[] = [];
  add(): number {
    this.parent.push(this.parent.length);
    return this.parent.length - 1;
  }
  find(i: number): number {
    let r = i;
    while (this.parent[r] !== r) r = this.parent[r]!;
    this.parent[i] = r;
    return r;
  }
  union(a: number, b: number): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent[Math.max(ra, rb)] = Math.min(ra, rb);
  }
}

/** A conv that keeps channels apart: groups = in = out. */
function isDepthwise(node: Node, shapes: ReadonlyMap<string, Shape>): boolean {
  if (node.op !== 'conv2d' && node.op !== 'convTranspose2d') return false;
  const cin = shapes.get(node.inputs[0]!)![1];
  return node.attrs.groups > 1 && node.attrs.groups === cin && node.attrs.outChannels === cin;
}

interface RawSite {
  readonly unit: number;
  readonly site: UnitSite;
  readonly order: number;
}

/**
 * All units of `graph` (prunable or not), producers in graph order. Pixel shuffle is treated
 * as not prunable (its channels regroup in fours; the units feeding it are frozen), like the
 * network output and any grouped (non-depthwise) convolution.
 */
export function findUnits(graph: Graph): PrunableUnit[] {
  const shapes = inferShapes(graph);
  const uf = new UnionFind();
  const producerOf: string[] = [];
  const frozen = new Map<number, string>();
  const sites: RawSite[] = [];
  const segs = new Map<string, readonly Segment[]>();
  const freeze = (list: readonly Segment[], reason: string): void => {
    for (const s of list) if (s.unit >= 0 && !frozen.has(s.unit)) frozen.set(s.unit, reason);
  };
  const place = (list: readonly Segment[], make: (offset: number) => UnitSite, order: number): void => {
    let offset = 0;
    for (const s of list) {
      if (s.unit >= 0) sites.push({ unit: s.unit, site: make(offset), order });
      offset += s.width;
    }
  };

  graph.nodes.forEach((node, order) => {
    const input = (i: number): readonly Segment[] => segs.get(node.inputs[i]!)!;
    const channels = shapes.get(node.name)![1];
    switch (node.op) {
      case 'input':
        segs.set(node.name, [{ unit: -1, width: channels }]);
        return;
      case 'conv2d':
      case 'convTranspose2d': {
        const x = input(0);
        if (isDepthwise(node, shapes)) {
          place(x, (offset) => ({ kind: 'carrier', layer: node.name, offset }), order);
          segs.set(node.name, x);
          return;
        }
        if (node.attrs.groups !== 1) freeze(x, `grouped convolution "${node.name}" reads it`);
        else place(x, (offset) => ({ kind: 'consumer', layer: node.name, offset }), order);
        const unit = uf.add();
        producerOf.push(node.name);
        if (node.attrs.groups !== 1) frozen.set(unit, `"${node.name}" is a grouped convolution`);
        sites.push({ unit, site: { kind: 'producer', layer: node.name }, order });
        segs.set(node.name, [{ unit, width: channels }]);
        return;
      }
      case 'batchNorm':
        place(input(0), (offset) => ({ kind: 'carrier', layer: node.name, offset }), order);
        segs.set(node.name, input(0));
        return;
      case 'relu':
      case 'relu6':
      case 'sigmoid':
      case 'hardSigmoid':
      case 'hardSwish':
      case 'clip':
      case 'upsample':
      case 'resize':
      case 'unpool':
      case 'maxPool':
      case 'avgPool2d':
      case 'globalAvgPool':
        segs.set(node.name, input(0));
        return;
      // A product ties its operands' channels like a sum (squeeze-excite: the gate's channels
      // are the features' channels).
      case 'mul':
      case 'add': {
        const first = input(0);
        const aligned = node.inputs.every((_, i) => {
          const s = input(i);
          return s.length === first.length && s.every((seg, k) => seg.width === first[k]!.width);
        });
        if (!aligned) {
          node.inputs.forEach((_, i) =>
            freeze(input(i), `${node.op} "${node.name}" mixes differently split inputs`),
          );
          segs.set(node.name, first);
          return;
        }
        first.forEach((seg, k) => {
          const units = node.inputs.map((_, i) => input(i)[k]!.unit);
          if (units.includes(-1)) {
            freeze(
              units.map((unit) => ({ unit, width: seg.width })),
              `${node.op} "${node.name}" combines fixed channels`,
            );
          }
          const owned = units.filter((u) => u >= 0);
          for (const u of owned.slice(1)) uf.union(owned[0]!, u);
        });
        segs.set(node.name, first);
        return;
      }
      case 'concat':
        segs.set(
          node.name,
          node.inputs.flatMap((_, i) => input(i)),
        );
        return;
      case 'pixelShuffle':
        freeze(input(0), `pixel shuffle "${node.name}" regroups its channels in fours`);
        segs.set(node.name, [{ unit: -1, width: channels }]);
        return;
      case 'output':
        freeze(input(0), `it reaches the network output "${node.name}"`);
        segs.set(node.name, input(0));
        return;
      default:
        assertNever(node);
    }
  });

  // Freezing is per root: a tie with a frozen unit freezes the whole set.
  const rootReason = new Map<number, string>();
  for (const [u, reason] of frozen) {
    const r = uf.find(u);
    if (!rootReason.has(r)) rootReason.set(r, reason);
  }
  const byRoot = new Map<number, { producers: string[]; sites: RawSite[] }>();
  producerOf.forEach((name, u) => {
    const r = uf.find(u);
    let entry = byRoot.get(r);
    if (!entry) byRoot.set(r, (entry = { producers: [], sites: [] }));
    entry.producers.push(name);
  });
  for (const s of sites) byRoot.get(uf.find(s.unit))!.sites.push(s);

  return [...byRoot.entries()].map(([root, entry]): PrunableUnit => {
    const reason = rootReason.get(root);
    const ordered = [...entry.sites].sort((a, b) => a.order - b.order);
    const seen = new Set<string>();
    const unique = ordered.filter((s) => {
      const key = `${s.site.kind}:${s.site.layer}:${'offset' in s.site ? s.site.offset : ''}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    return {
      id: entry.producers.join('+'),
      producers: entry.producers,
      channels: shapes.get(entry.producers[0]!)![1],
      prunable: reason === undefined,
      ...(reason !== undefined ? { reason } : {}),
      sites: unique.map((s) => s.site),
    };
  });
}

/** The units NetAdapt may shrink. */
export function prunableUnits(graph: Graph): PrunableUnit[] {
  return findUnits(graph).filter((u) => u.prunable);
}

/** Finds one unit by id (or by any of its producers' names); throws naming the known ids. */
export function unitById(graph: Graph, id: string): PrunableUnit {
  const units = findUnits(graph);
  const unit = units.find((u) => u.id === id) ?? units.find((u) => u.producers.includes(id));
  if (!unit) {
    throw new FastDepthError(
      `no prunable unit "${id}" in graph "${graph.name}"; units: ${units.map((u) => u.id).join(', ')}`,
    );
  }
  return unit;
}
