import { GraphError } from '../errors.js';
import { inferShapes, opDef } from '../graph.js';
import type { Graph } from '../ir.js';
import { isLayerName, LAYER_NAME_RULE, quote } from '../names.js';

/**
 * Checks a graph completely: unique identifier names, inputs declared before use, arity,
 * attributes and shapes, at least one input and one output. Returns the graph unchanged, so
 * it can stand in a pass list.
 */
export function validateGraph(graph: Graph): Graph {
  const seen = new Set<string>();
  for (const node of graph.nodes) {
    if (!isLayerName(node.name)) {
      throw new GraphError(String(node.name), `layer names must be identifiers (${LAYER_NAME_RULE})`);
    }
    if (seen.has(node.name)) throw new GraphError(node.name, 'duplicate layer name');
    for (const input of node.inputs) {
      if (!seen.has(input))
        throw new GraphError(node.name, `unknown input ${quote(input)} (not declared before this layer)`);
    }
    const def = opDef(node);
    const n = node.inputs.length;
    const arityOk = def.arity === 'variadic' ? n >= 2 : n === def.arity;
    if (!arityOk)
      throw new GraphError(
        node.name,
        `op ${node.op} expects ${def.arity === 'variadic' ? 'at least 2' : def.arity} inputs, found ${n}`,
      );
    def.checkAttrs(node.name, node.attrs);
    seen.add(node.name);
  }
  if (!graph.nodes.some((n) => n.op === 'input'))
    throw new GraphError(graph.name, 'graph has no input layer');
  if (!graph.nodes.some((n) => n.op === 'output'))
    throw new GraphError(graph.name, 'graph has no output layer');
  inferShapes(graph);
  return graph;
}
