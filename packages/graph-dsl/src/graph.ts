/** Queries over a graph: shapes, parameter specs, consumers. All derived, never stored. */
import { GraphError } from './errors.js';
import type { Graph, Node, OpAttrMap, OpKind, Shape } from './ir.js';
import { OPS, type OpDef, type ParamSpec } from './ops.js';
import { checkSizeCaps } from './size-caps.js';

/** The op table entry for a node, typed loosely enough to call with the node's own attrs. */
export function opDef(node: Node): OpDef<OpKind> {
  return OPS[node.op] as unknown as OpDef<OpKind>;
}

function attrsOf(node: Node): OpAttrMap[OpKind] {
  return node.attrs;
}

/**
 * Output shape of every node, in graph order. Throws `GraphError` on the first bad node,
 * including one over the size caps (`SIZE_CAPS`: channels, height, width, values).
 */
export function inferShapes(graph: Graph): ReadonlyMap<string, Shape> {
  const shapes = new Map<string, Shape>();
  for (const node of graph.nodes) {
    const inputs = node.inputs.map((name) => {
      const s = shapes.get(name);
      if (!s) throw new GraphError(node.name, `unknown input "${name}" (not declared before this layer)`);
      return s;
    });
    const shape = opDef(node).inferShape(node.name, attrsOf(node), inputs);
    checkSizeCaps(node.name, node.op, attrsOf(node), inputs, shape);
    shapes.set(node.name, shape);
  }
  return shapes;
}

/** Input shapes of a node given the graph's shape map. */
export function inputShapes(node: Node, shapes: ReadonlyMap<string, Shape>): Shape[] {
  return node.inputs.map((name) => shapes.get(name)!);
}

/** A {@link ParamSpec} placed in a graph: its full tensor name and its layer. */
export interface NamedParam extends ParamSpec {
  /** Full tensor name: `${layer}.${suffix}`. */
  readonly name: string;
  /** The layer that owns it. */
  readonly layer: string;
}

/** Every parameter tensor of the graph, in graph order. */
export function paramSpecs(
  graph: Graph,
  shapes: ReadonlyMap<string, Shape> = inferShapes(graph),
): NamedParam[] {
  const out: NamedParam[] = [];
  for (const node of graph.nodes) {
    for (const spec of opDef(node).params(attrsOf(node), inputShapes(node, shapes))) {
      out.push({ ...spec, name: `${node.name}.${spec.suffix}`, layer: node.name });
    }
  }
  return out;
}

/** Names of the nodes that read each node's output. */
export function consumers(graph: Graph): ReadonlyMap<string, readonly string[]> {
  const map = new Map<string, string[]>(graph.nodes.map((n) => [n.name, []]));
  for (const node of graph.nodes) for (const i of node.inputs) map.get(i)?.push(node.name);
  return map;
}

/** Every node by its name. */
export function nodeByName(graph: Graph): ReadonlyMap<string, Node> {
  return new Map(graph.nodes.map((n) => [n.name, n]));
}

/** The graph's `input` nodes, in graph order. */
export function graphInputs(graph: Graph): Extract<Node, { op: 'input' }>[] {
  return graph.nodes.filter((n): n is Extract<Node, { op: 'input' }> => n.op === 'input');
}

/** The graph's `output` nodes, in graph order. */
export function graphOutputs(graph: Graph): Extract<Node, { op: 'output' }>[] {
  return graph.nodes.filter((n): n is Extract<Node, { op: 'output' }> => n.op === 'output');
}

/**
 * The same network at another input size (height, width). Shapes are inferred from the
 * input, so a fully convolutional graph needs only its input node changed; a size that does
 * not fit (a skip connection that no longer lines up) throws `GraphError` naming the layer.
 */
export function withInputSize(graph: Graph, size: readonly [number, number]): Graph {
  const nodes = graph.nodes.map((n): Node => {
    if (n.op !== 'input') return n;
    const [batch, channels] = n.attrs.shape;
    return { ...n, attrs: { shape: [batch, channels, size[0], size[1]] } };
  });
  const meta =
    graph.meta && 'inputSize' in graph.meta
      ? { ...graph.meta, inputSize: `${size[0]}x${size[1]}` }
      : graph.meta;
  const resized: Graph = { ...graph, nodes, ...(meta ? { meta } : {}) };
  inferShapes(resized);
  return resized;
}
