/**
 * Decisions taken over the whole graph before any code is written: which activations fuse
 * into their convolution, which convolutions permute their output channels so a following
 * PixelShuffle becomes a plain `depthToSpace`, the variable name of every value and where each
 * value is used for the last time (so `predict` can free it early).
 */
import { consumers, GraphError, type Graph, type Node } from '@fastdepth/graph-dsl';
import { crdToDcrPermutation } from './layout.js';

export type FusedActivation = 'relu' | 'relu6';

export interface Plan {
  /** Conv (or conv-transpose) name -> activation applied inside its call. */
  readonly fusedActivation: ReadonlyMap<
    string,
    { readonly node: string; readonly activation: FusedActivation }
  >;
  /** Activation nodes whose work happens inside their producer's call. */
  readonly absorbed: ReadonlySet<string>;
  /** Conv name -> output-channel permutation (CRD -> DCR) baked into its weights. */
  readonly channelPermutation: ReadonlyMap<string, readonly number[]>;
  /** PixelShuffle nodes whose input channels already arrive in DCR order. */
  readonly dcrReady: ReadonlySet<string>;
  /** Node name -> variable holding its value in `predict`. */
  readonly variable: ReadonlyMap<string, string>;
  /** Variable -> index (in graph order) of the last node that reads it. */
  readonly lastUse: ReadonlyMap<string, number>;
  readonly inputNode: Extract<Node, { op: 'input' }>;
  readonly outputNode: Extract<Node, { op: 'output' }>;
}

/** Names the generated module uses itself; a layer with one of these names gets a `_` suffix. */
const RESERVED = new Set([
  ...'break case catch class const continue debugger default delete do else enum export extends false finally for function if import in instanceof new null return super switch this throw true try typeof var void while with yield let static implements interface package private protected public await'.split(
    ' ',
  ),
  'tf',
  'w',
  'input',
  'weights',
  'undefined',
  'NaN',
  'Infinity',
  'arguments',
  'eval',
]);

/** The variable name for a layer: its own name (an identifier by DSL rule) unless reserved. */
export function variableName(layer: string): string {
  return RESERVED.has(layer) ? `${layer}_` : layer;
}

function isConvLike(node: Node | undefined): node is Extract<Node, { op: 'conv2d' | 'convTranspose2d' }> {
  return node !== undefined && (node.op === 'conv2d' || node.op === 'convTranspose2d');
}

export function planGraph(graph: Graph): Plan {
  const inputs = graph.nodes.filter((n): n is Extract<Node, { op: 'input' }> => n.op === 'input');
  const outputs = graph.nodes.filter((n): n is Extract<Node, { op: 'output' }> => n.op === 'output');
  if (inputs.length !== 1)
    throw new GraphError(
      graph.name,
      `the tfjs emitter needs exactly one input layer, found ${inputs.length}`,
    );
  if (outputs.length !== 1)
    throw new GraphError(
      graph.name,
      `the tfjs emitter needs exactly one output layer, found ${outputs.length}`,
    );
  const users = consumers(graph);
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const soleUser = (name: string): Node | undefined => {
    const u = users.get(name) ?? [];
    return u.length === 1 ? byName.get(u[0]!) : undefined;
  };

  const fusedActivation = new Map<string, { node: string; activation: FusedActivation }>();
  const absorbed = new Set<string>();
  for (const node of graph.nodes) {
    if (!isConvLike(node)) continue;
    const next = soleUser(node.name);
    if (next && (next.op === 'relu' || next.op === 'relu6')) {
      fusedActivation.set(node.name, { node: next.name, activation: next.op });
      absorbed.add(next.name);
    }
  }

  // conv -> [relu | relu6] -> pixelShuffle, each read only by the next: permuting the conv's
  // output channels commutes with the activation, so the shuffle needs no runtime reorder.
  const channelPermutation = new Map<string, readonly number[]>();
  const dcrReady = new Set<string>();
  for (const node of graph.nodes) {
    if (node.op !== 'pixelShuffle') continue;
    let reader: Node = node;
    let producer = byName.get(node.inputs[0]!);
    if (producer && (producer.op === 'relu' || producer.op === 'relu6') && soleUser(producer.name) === node) {
      reader = producer;
      producer = byName.get(producer.inputs[0]!);
    }
    if (!isConvLike(producer) || producer.attrs.groups !== 1 || soleUser(producer.name) !== reader) continue;
    channelPermutation.set(
      producer.name,
      crdToDcrPermutation(producer.attrs.outChannels, node.attrs.blockSize),
    );
    dcrReady.add(node.name);
  }

  const variable = new Map<string, string>();
  const used = new Set<string>();
  for (const node of graph.nodes) {
    let v: string;
    if (node.op === 'input') v = 'input';
    else if (node.op === 'output') v = variable.get(node.inputs[0]!)!;
    else v = variableName(node.name);
    if (node.op !== 'output' && used.has(v))
      throw new GraphError(node.name, `variable name "${v}" is taken by another layer`);
    used.add(v);
    variable.set(node.name, v);
  }
  // A fused conv writes its activation's variable; the conv's own name is never read.
  for (const [conv, { node }] of fusedActivation) variable.set(conv, variable.get(node)!);
  // The output node aliases its input, which may itself be an absorbed activation.
  const outputNode = outputs[0]!;
  variable.set(outputNode.name, variable.get(outputNode.inputs[0]!)!);

  const lastUse = new Map<string, number>();
  graph.nodes.forEach((node, index) => {
    if (node.op === 'output' || absorbed.has(node.name)) return;
    for (const input of node.inputs) lastUse.set(variable.get(input)!, index);
  });
  return {
    fusedActivation,
    absorbed,
    channelPermutation,
    dcrReady,
    variable,
    lastUse,
    inputNode: inputs[0]!,
    outputNode,
  };
}
