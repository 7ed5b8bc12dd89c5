/**
 * Matches a model recovered from a foreign file (TFLite, ONNX) against an architecture's DSL
 * graph, node by node in topological order, and moves the weights over to the architecture's
 * layer names. The file may keep BatchNorm separate or folded into the convolutions:
 *
 * - separate: BN parameters are copied (a conv bias in front of it moves into running_mean);
 * - folded (a conv with bias, no BN): the architecture's BN becomes identity-plus-bias:
 *   gamma = 1, beta = bias, running_mean = 0, running_var = 1 - eps, so that
 *   (x - 0) / sqrt(1 - eps + eps) * 1 + beta = x + beta. In float32, 1 - eps rounds to
 *   1 - 1.0014e-5, so the scale is 1 + 7e-9 rather than exactly 1: far below the float32 noise
 *   of the conv itself.
 */
import {
  checkWeights,
  consumers,
  fmt,
  FormatError,
  GRAPH_NAME_RULE,
  inferShapes,
  isGraphName,
  quote,
  type Graph,
  type Model,
  type Node,
  type NodeOf,
  type TensorF32,
  type WeightMap,
} from '@fastdepth/graph-dsl';

/**
 * The name an import goes by (it names the CLI's output files and appears in generated code):
 * `arch` when given, else the graph's `meta.arch`, else its name. A graph handed in by a caller
 * has not necessarily been through `loadGraph`, so the name is checked here too.
 */
export function archNameOf(graph: Graph, source: string, arch?: string): string {
  const name = arch ?? String(graph.meta?.arch ?? graph.name);
  if (!isGraphName(name)) {
    throw new FormatError(
      source,
      `the architecture name ${quote(name)} must be a plain file name (${GRAPH_NAME_RULE})`,
    );
  }
  return name;
}

export interface MatchOptions {
  /** File name for errors. */
  readonly source: string;
  /** The architecture's name as the user knows it, for errors ("not a fastdepth-pruned network"). */
  readonly archName: string;
  /** Says where a recovered node came from (e.g. "operator 12 (CONV_2D)"). Default: its name. */
  readonly describe?: (node: Node) => string;
}

export interface MatchResult {
  /** Weights under the architecture's names; `checkWeights`-clean. */
  readonly weights: Map<string, TensorF32>;
  /** Architecture layer -> recovered node it took its weights or structure from. */
  readonly layerMap: ReadonlyMap<string, string>;
  /** BatchNorm layers built as identity-plus-bias from a folded conv bias. */
  readonly identityBatchNorms: readonly string[];
}

/** The attributes that must agree for two nodes to be "the same layer". */
function structure(node: Node): string {
  switch (node.op) {
    case 'conv2d':
    case 'convTranspose2d': {
      // A bias is not structure: folded files have one where the architecture has BN instead.
      return JSON.stringify({ ...node.attrs, bias: null });
    }
    case 'batchNorm':
      return '{}';
    default:
      return JSON.stringify(node.attrs);
  }
}

function describeNode(node: Node): string {
  switch (node.op) {
    case 'conv2d': {
      const a = node.attrs;
      const dw =
        a.groups > 1 && a.groups === a.outChannels ? 'depthwise ' : a.groups > 1 ? `${a.groups}-group ` : '';
      return `${dw}conv ${a.kernel.join('x')} -> ${a.outChannels} channels, stride ${a.stride.join('x')}, pads [${a.pads.join(', ')}]`;
    }
    case 'convTranspose2d': {
      const a = node.attrs;
      return `transposed conv ${a.kernel.join('x')} -> ${a.outChannels} channels, stride ${a.stride.join('x')}`;
    }
    case 'upsample':
      return `upsample (${node.attrs.mode})`;
    case 'resize': {
      const a = node.attrs;
      return `resize (${a.mode}, ${'scale' in a ? `x${a.scale.join('x')}` : `to ${a.size.join('x')}`})`;
    }
    default:
      return node.op;
  }
}

function sameInputs(t: readonly string[], r: readonly string[], commutative: boolean): boolean {
  if (t.length !== r.length) return false;
  if (!commutative) return t.every((x, i) => x === r[i]);
  const a = [...t].sort();
  const b = [...r].sort();
  return a.every((x, i) => x === b[i]);
}

function tensor(weights: WeightMap, name: string, source: string): TensorF32 {
  const t = weights.get(name);
  if (!t) throw new FormatError(source, `internal: recovered weight ${quote(name)} is missing`);
  return t;
}

/**
 * Maps `recovered` onto `graph`. Throws `FormatError` naming the first architecture layer the
 * file does not match, and what the file has there instead.
 */
export function matchModel(graph: Graph, recovered: Model, options: MatchOptions): MatchResult {
  const { source, archName } = options;
  const describeFile = options.describe ?? ((n: Node) => quote(n.name));
  const tShapes = inferShapes(graph);
  const rNodes = recovered.graph.nodes;
  const rUsers = consumers(recovered.graph);
  const rByName = new Map(rNodes.map((n) => [n.name, n]));
  const map = new Map<string, string>();
  const matched = new Set<string>();
  const weights = new Map<string, TensorF32>();
  const identity: string[] = [];
  /** Conv bias of a recovered conv that the architecture's following BN must absorb. */
  const pendingBias = new Map<string, { data: Float32Array; from: string }>();

  const fail = (t: Node, detail: string): never => {
    throw new FormatError(
      source,
      `not a ${archName} network: at layer ${quote(t.name)} (${describeNode(t)}) ${detail}`,
    );
  };
  const mapped = (t: Node, input: string): string => {
    const r = map.get(input);
    if (r === undefined) return fail(t, `its input ${quote(input)} was not matched`);
    return r;
  };

  const copy = (tName: string, data: Float32Array, shape: readonly number[]): void => {
    weights.set(tName, { shape, data: Float32Array.from(data) });
  };

  const matchConv = (t: NodeOf<'conv2d'> | NodeOf<'convTranspose2d'>, r: Node): void => {
    if (r.op !== t.op) return;
    const w = tensor(recovered.weights, `${r.name}.weight`, source);
    copy(`${t.name}.weight`, w.data, w.shape);
    const hasBias = r.attrs.bias;
    if (t.attrs.bias) {
      copy(
        `${t.name}.bias`,
        hasBias
          ? tensor(recovered.weights, `${r.name}.bias`, source).data
          : new Float32Array(t.attrs.outChannels),
        [t.attrs.outChannels],
      );
    } else if (hasBias) {
      pendingBias.set(t.name, {
        data: tensor(recovered.weights, `${r.name}.bias`, source).data,
        from: r.name,
      });
    }
  };

  for (const t of graph.nodes) {
    if (t.op === 'input') {
      const r = rNodes.find((n) => n.op === 'input' && !matched.has(n.name));
      if (!r || r.op !== 'input') return fail(t, 'the file has no (further) input');
      if (fmt(r.attrs.shape) !== fmt(t.attrs.shape))
        fail(
          t,
          `the file's input ${describeFile(r)} has shape ${fmt(r.attrs.shape)}, expected ${fmt(t.attrs.shape)}`,
        );
      map.set(t.name, r.name);
      matched.add(r.name);
      continue;
    }
    const rInputs = t.inputs.map((i) => mapped(t, i));
    const candidates = [...new Set(rInputs.flatMap((i) => rUsers.get(i) ?? []))]
      .map((n) => rByName.get(n)!)
      .filter((n) => !matched.has(n.name));

    if (t.op === 'batchNorm') {
      const producer = t.inputs[0]!;
      const bn = candidates.find((n) => n.op === 'batchNorm');
      const pending = pendingBias.get(producer);
      pendingBias.delete(producer);
      const count = tShapes.get(t.name)![1];
      if (bn) {
        if (bn.op !== 'batchNorm') return fail(t, 'internal');
        const get = (s: string): Float32Array => tensor(recovered.weights, `${bn.name}.${s}`, source).data;
        const mean = Float32Array.from(get('running_mean'));
        // BN(x + b) = (x - (mean - b)) * scale + beta: a conv bias moves into the mean.
        if (pending) for (let i = 0; i < mean.length; i++) mean[i] = mean[i]! - pending.data[i]!;
        let variance = get('running_var');
        if (bn.attrs.epsilon !== t.attrs.epsilon) {
          // Keep var + eps (what the file computes) under the architecture's epsilon.
          variance = variance.map((v) => v + bn.attrs.epsilon - t.attrs.epsilon);
        }
        copy(`${t.name}.weight`, get('weight'), [count]);
        copy(`${t.name}.bias`, get('bias'), [count]);
        copy(`${t.name}.running_mean`, mean, [count]);
        copy(`${t.name}.running_var`, variance, [count]);
        map.set(t.name, bn.name);
        matched.add(bn.name);
      } else {
        weights.set(`${t.name}.weight`, { shape: [count], data: new Float32Array(count).fill(1) });
        weights.set(`${t.name}.bias`, {
          shape: [count],
          data: pending ? Float32Array.from(pending.data) : new Float32Array(count),
        });
        weights.set(`${t.name}.running_mean`, { shape: [count], data: new Float32Array(count) });
        weights.set(`${t.name}.running_var`, {
          shape: [count],
          data: new Float32Array(count).fill(1 - t.attrs.epsilon),
        });
        identity.push(t.name);
        map.set(t.name, rInputs[0]!);
      }
      continue;
    }

    const want = structure(t);
    const r = candidates.find(
      (n) => n.op === t.op && sameInputs(rInputs, n.inputs, t.op === 'add') && structure(n) === want,
    );
    if (!r) {
      const sameOp = candidates.find((n) => n.op === t.op && sameInputs(rInputs, n.inputs, t.op === 'add'));
      if (sameOp) return fail(t, `the file has ${describeFile(sameOp)}: ${describeNode(sameOp)}`);
      const found = candidates.map((n) => `${describeFile(n)}: ${describeNode(n)}`);
      return fail(
        t,
        found.length > 0
          ? `the file has ${found.join('; ')}`
          : 'the file has nothing there (its graph ends or branches differently)',
      );
    }
    if (t.op === 'conv2d' || t.op === 'convTranspose2d') matchConv(t, r);
    map.set(t.name, r.name);
    matched.add(r.name);
  }

  for (const [conv, b] of pendingBias) {
    if (b.data.some((v) => v !== 0)) {
      throw new FormatError(
        source,
        `not a ${archName} network: layer ${quote(conv)} has no bias and no BatchNorm after it, but the file's ${b.from} has a non-zero bias`,
      );
    }
  }
  const extra = rNodes.find((n) => !matched.has(n.name));
  if (extra)
    throw new FormatError(
      source,
      `not a ${archName} network: the file has an extra layer ${describeFile(extra)} (${describeNode(extra)}) the architecture lacks`,
    );
  checkWeights(graph, weights, source);
  return { weights, layerMap: map, identityBatchNorms: identity };
}
