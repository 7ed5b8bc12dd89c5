import { consumers } from '../graph.js';
import type { Graph, Node } from '../ir.js';

/**
 * Rewrites `mul(x, hardSigmoid(x))` (either order) as one `hardSwish(x)` under the mul's name,
 * where the hardSigmoid has no other reader: what PyTorch's ONNX exporter writes for
 * `nn.Hardswish` before opset 14, which has no HardSwish op. Float results are the same
 * function (x * relu6(x + 3) / 6); the fused op is one elementwise step instead of two, and the
 * int8 build computes it as one table instead of a rounded gate and a rescaled product.
 * Weights are untouched (neither op has any).
 */
export function fuseHardSwish(graph: Graph): Graph {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const readers = consumers(graph);
  const dropped = new Set<string>();
  const nodes: Node[] = graph.nodes.map((node) => {
    if (node.op !== 'mul' || node.inputs.length !== 2) return node;
    const [a, b] = node.inputs as [string, string];
    for (const [x, gate] of [
      [a, b],
      [b, a],
    ] as const) {
      const g = byName.get(gate);
      if (g?.op === 'hardSigmoid' && g.inputs[0] === x && readers.get(gate)!.length === 1) {
        dropped.add(gate);
        return { op: 'hardSwish', name: node.name, inputs: [x], attrs: {} };
      }
    }
    return node;
  });
  return dropped.size === 0 ? graph : { ...graph, nodes: nodes.filter((n) => !dropped.has(n.name)) };
}
