import type { Graph } from '../ir.js';
import type { Model } from '../weights.js';

/** Drops every node no output depends on. */
export function removeDeadNodes(graph: Graph): Graph {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const live = new Set<string>();
  const stack = graph.nodes.filter((n) => n.op === 'output').map((n) => n.name);
  while (stack.length > 0) {
    const name = stack.pop()!;
    if (live.has(name)) continue;
    live.add(name);
    stack.push(...(byName.get(name)?.inputs ?? []));
  }
  // Inputs stay: removing one would change the model's signature.
  return { ...graph, nodes: graph.nodes.filter((n) => live.has(n.name) || n.op === 'input') };
}

/** `removeDeadNodes` on a model: also drops the weights of removed layers. */
export function removeDeadNodesModel(model: Model): Model {
  const graph = removeDeadNodes(model.graph);
  const layers = new Set(graph.nodes.map((n) => n.name));
  const weights = new Map(
    [...model.weights].filter(([name]) => layers.has(name.slice(0, name.indexOf('.')))),
  );
  return { graph, weights };
}
