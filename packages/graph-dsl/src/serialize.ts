/** Graph JSON: `saveGraph` / `loadGraph` round-trip exactly; loading checks everything. */
import { FormatError, GraphError } from './errors.js';
import { GRAPH_FORMAT, GRAPH_FORMAT_VERSION, type Graph, type Node } from './ir.js';
import { isOpKind, OPS } from './ops.js';
import { validateGraph } from './passes/validate.js';
import { parseQuantization } from './quant/validate.js';

/** Serialises a graph as stable, pretty JSON (two-space indent, trailing newline). */
export function saveGraph(graph: Graph): string {
  return `${JSON.stringify(graph, null, 2)}\n`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parses and validates graph JSON. `source` names the file in errors. Rejects other formats and
 * versions, unknown ops, missing fields, bad attributes, dangling inputs and shape errors, and
 * checks an int8 `quantization` annotation against the nodes.
 */
export function loadGraph(text: string, source = 'graph'): Graph {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new FormatError(source, `not valid JSON (${(e as Error).message})`);
  }
  return parseGraph(raw, source);
}

/** Validates an already-parsed JSON value as a graph. */
export function parseGraph(raw: unknown, source = 'graph'): Graph {
  if (!isRecord(raw)) throw new FormatError(source, 'expected a JSON object');
  if (raw.format !== GRAPH_FORMAT) {
    throw new FormatError(
      source,
      `field "format" must be "${GRAPH_FORMAT}", found ${JSON.stringify(raw.format)}`,
    );
  }
  if (raw.version !== GRAPH_FORMAT_VERSION) {
    throw new FormatError(
      source,
      `unsupported graph format version ${JSON.stringify(raw.version)} (this build reads version ${GRAPH_FORMAT_VERSION})`,
    );
  }
  if (typeof raw.name !== 'string' || raw.name === '')
    throw new FormatError(source, 'field "name" must be a non-empty string');
  if (!Array.isArray(raw.nodes)) throw new FormatError(source, 'field "nodes" must be an array');
  if (raw.meta !== undefined) {
    if (
      !isRecord(raw.meta) ||
      !Object.values(raw.meta).every((v) => ['string', 'number', 'boolean'].includes(typeof v))
    ) {
      throw new FormatError(source, 'field "meta" must be an object of strings, numbers and booleans');
    }
  }
  const nodes = raw.nodes.map((n: unknown, i: number): Node => {
    const where = `nodes[${i}]`;
    if (!isRecord(n)) throw new FormatError(source, `${where} must be an object`);
    const name = typeof n.name === 'string' ? n.name : undefined;
    if (!name) throw new FormatError(source, `${where}: field "name" must be a non-empty string`);
    if (!isOpKind(n.op))
      throw new FormatError(
        source,
        `layer "${name}": unknown op ${JSON.stringify(n.op)} (known: ${Object.keys(OPS).join(', ')})`,
      );
    if (!Array.isArray(n.inputs) || !n.inputs.every((x) => typeof x === 'string')) {
      throw new FormatError(source, `layer "${name}": field "inputs" must be an array of layer names`);
    }
    if (!isRecord(n.attrs)) throw new FormatError(source, `layer "${name}": field "attrs" must be an object`);
    const extra = Object.keys(n).filter((k) => !['op', 'name', 'inputs', 'attrs'].includes(k));
    if (extra.length > 0)
      throw new FormatError(source, `layer "${name}": unknown field ${JSON.stringify(extra[0])}`);
    return { op: n.op, name, inputs: n.inputs, attrs: n.attrs } as unknown as Node;
  });
  const graph: Graph = {
    format: GRAPH_FORMAT,
    version: GRAPH_FORMAT_VERSION,
    name: raw.name,
    nodes,
    ...(raw.meta !== undefined ? { meta: raw.meta as Record<string, string | number | boolean> } : {}),
  };
  try {
    validateGraph(graph);
  } catch (e) {
    if (e instanceof GraphError) throw new FormatError(source, e.message);
    throw e;
  }
  if (raw.quantization === undefined) return graph;
  return { ...graph, quantization: parseQuantization(raw.quantization, graph, source) };
}
