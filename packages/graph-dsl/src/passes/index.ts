/**
 * Passes are named, pure functions. Graph passes map a graph to a graph; model passes map a
 * graph with its weights to another. `runPasses` applies a list and, with `validate`, checks
 * the graph after each one so a broken pass is caught where it broke.
 */
import type { Graph } from '../ir.js';
import type { Model } from '../weights.js';
import { checkWeights } from '../weights.js';
import { validateGraph } from './validate.js';

export { foldBatchNorm } from './fold-batch-norm.js';
export { fuseHardSwish } from './fuse-hard-swish.js';
export { convTransposeLoweringProblem, lowerConvTranspose } from './lower-conv-transpose.js';
export { removeDeadNodes, removeDeadNodesModel } from './remove-dead-nodes.js';
export { topologicalSort } from './topological-sort.js';
export { validateGraph } from './validate.js';

/** A pure function from a graph to a graph (weights untouched). */
export type GraphPass = (graph: Graph) => Graph;
/** A pure function from a model (graph and weights) to another. */
export type ModelPass = (model: Model) => Model;

/** A model pass with a name, for {@link runPasses}'s error messages. */
export interface NamedPass {
  /** Named in the error when the graph is invalid after this pass. */
  readonly name: string;
  /** The pass itself. */
  readonly run: ModelPass;
}

/** Lifts a graph-only pass to a model pass (weights unchanged). */
export function graphPass(name: string, pass: GraphPass): NamedPass {
  return { name, run: (m) => ({ graph: pass(m.graph), weights: m.weights }) };
}

/**
 * Applies `passes` in order. With `validate`, checks the graph and its weights after each pass
 * and throws naming the pass that broke them.
 */
export function runPasses(
  model: Model,
  passes: readonly NamedPass[],
  options: { validate?: boolean } = {},
): Model {
  let current = model;
  for (const pass of passes) {
    current = pass.run(current);
    if (options.validate) {
      try {
        validateGraph(current.graph);
        checkWeights(current.graph, current.weights);
      } catch (e) {
        throw new Error(`after pass "${pass.name}": ${(e as Error).message}`, { cause: e });
      }
    }
  }
  return current;
}
