/** Per-layer and total sizes: output shape, MACs, parameters, activation bytes. */
import { inferShapes, inputShapes, opDef } from './graph.js';
import type { Graph, OpKind, Shape } from './ir.js';
import { numel } from './weights.js';

/** One layer's row of {@link analyze}: output shape, MACs, parameters, activation bytes. */
export interface LayerStats {
  readonly name: string;
  readonly op: OpKind;
  readonly inputs: readonly string[];
  readonly shape: Shape;
  readonly macs: number;
  /** Trainable parameters (conv weights and biases, BN gamma and beta). */
  readonly params: number;
  /** Convolution weights alone (what the paper counts as "weights"). */
  readonly convWeights: number;
  /** Bytes of this layer's float32 output. */
  readonly activationBytes: number;
}

/** What {@link analyze} returns: one row per layer and the totals. */
export interface GraphStats {
  readonly name: string;
  readonly layers: readonly LayerStats[];
  readonly macs: number;
  readonly params: number;
  readonly convWeights: number;
  /** Sum of all float32 layer outputs (an upper bound on activation memory). */
  readonly activationBytes: number;
  readonly inputShape: Shape;
  readonly outputShape: Shape;
}

/**
 * Per-layer output shapes, multiply-accumulates (convolutions only, as the paper counts them),
 * parameters and activation bytes, with the totals. Needs no weights.
 */
export function analyze(graph: Graph): GraphStats {
  const shapes = inferShapes(graph);
  const layers = graph.nodes.map((node): LayerStats => {
    const def = opDef(node);
    const ins = inputShapes(node, shapes);
    const shape = shapes.get(node.name)!;
    const specs = def.params(node.attrs, ins);
    const isConv = node.op === 'conv2d' || node.op === 'convTranspose2d';
    return {
      name: node.name,
      op: node.op,
      inputs: node.inputs,
      shape,
      macs: def.macs(node.attrs, ins, shape),
      params: specs.filter((s) => s.trainable).reduce((a, s) => a + numel(s.shape), 0),
      convWeights: isConv
        ? specs.filter((s) => s.role === 'weight').reduce((a, s) => a + numel(s.shape), 0)
        : 0,
      // Pure views (output) hold no memory of their own.
      activationBytes: node.op === 'output' ? 0 : numel(shape) * 4,
    };
  });
  const sum = (f: (l: LayerStats) => number): number => layers.reduce((a, l) => a + f(l), 0);
  const input = graph.nodes.find((n) => n.op === 'input')!;
  const output = graph.nodes.find((n) => n.op === 'output')!;
  return {
    name: graph.name,
    layers,
    macs: sum((l) => l.macs),
    params: sum((l) => l.params),
    convWeights: sum((l) => l.convWeights),
    activationBytes: sum((l) => l.activationBytes),
    inputShape: shapes.get(input.name)!,
    outputShape: shapes.get(output.name)!,
  };
}
