import { GraphError } from '../errors.js';
import type { Graph, Node } from '../ir.js';

/**
 * Reorders nodes so every node follows its inputs (stable: among ready nodes, the original
 * order is kept). Throws on cycles and dangling inputs. Graphs assembled by hand or by other
 * tools may list nodes out of order; everything else assumes this order.
 */
export function topologicalSort(graph: Graph): Graph {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const state = new Map<string, 'visiting' | 'done'>();
  const order: Node[] = [];
  const visit = (node: Node, from: string): void => {
    const s = state.get(node.name);
    if (s === 'done') return;
    if (s === 'visiting')
      throw new GraphError(node.name, `cycle through this layer (reached from "${from}")`);
    state.set(node.name, 'visiting');
    for (const input of node.inputs) {
      const dep = byName.get(input);
      if (!dep) throw new GraphError(node.name, `unknown input "${input}"`);
      visit(dep, node.name);
    }
    state.set(node.name, 'done');
    order.push(node);
  };
  for (const node of graph.nodes) visit(node, node.name);
  return { ...graph, nodes: order };
}
