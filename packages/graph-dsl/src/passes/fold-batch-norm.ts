import { consumers } from '../graph.js';
import type { Graph, Node } from '../ir.js';
import type { Model, TensorF32 } from '../weights.js';

/**
 * Folds every BatchNorm whose input is a conv (or conv-transpose) read by nothing else into
 * that conv: w' = w * gamma / sqrt(var + eps) per output channel, b' = (b - mean) * scale + beta.
 * The BN node disappears; its consumers read the conv. Inference-only (BN becomes fixed).
 */
export function foldBatchNorm(model: Model): Model {
  const { graph } = model;
  const users = consumers(graph);
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const weights = new Map(model.weights);
  const renamed = new Map<string, string>(); // bn name -> conv name
  const foldedConvs = new Set<string>();

  for (const bn of graph.nodes) {
    if (bn.op !== 'batchNorm') continue;
    const conv = byName.get(bn.inputs[0]!);
    if (!conv || (conv.op !== 'conv2d' && conv.op !== 'convTranspose2d')) continue;
    if (users.get(conv.name)!.length !== 1) continue;
    const get = (suffix: string): Float32Array => {
      const t = model.weights.get(`${bn.name}.${suffix}`);
      if (!t) throw new Error(`foldBatchNorm: missing weight "${bn.name}.${suffix}"`);
      return t.data;
    };
    const gamma = get('weight');
    const beta = get('bias');
    const mean = get('running_mean');
    const variance = get('running_var');
    const w = model.weights.get(`${conv.name}.weight`)!;
    const oldBias = conv.attrs.bias ? model.weights.get(`${conv.name}.bias`)!.data : undefined;
    const outChannels = conv.attrs.outChannels;
    const scale = Float64Array.from(
      { length: outChannels },
      (_, o) => gamma[o]! / Math.sqrt(variance[o]! + bn.attrs.epsilon),
    );
    const data = new Float32Array(w.data.length);
    const [d0, d1, kh, kw] = w.shape as [number, number, number, number];
    const k = kh * kw;
    if (conv.op === 'conv2d') {
      // (out, in/groups, kh, kw): output channel is axis 0.
      for (let o = 0; o < d0; o++)
        for (let i = 0; i < d1 * k; i++) data[o * d1 * k + i] = w.data[o * d1 * k + i]! * scale[o]!;
    } else {
      // (in, out/groups, kh, kw): output channel = group * (out/groups) + axis-1 index.
      const groups = conv.attrs.groups;
      const inPerGroup = d0 / groups;
      for (let i = 0; i < d0; i++) {
        const g = Math.floor(i / inPerGroup);
        for (let oc = 0; oc < d1; oc++) {
          const s = scale[g * d1 + oc]!;
          for (let j = 0; j < k; j++) data[(i * d1 + oc) * k + j] = w.data[(i * d1 + oc) * k + j]! * s;
        }
      }
    }
    const bias = Float32Array.from(
      { length: outChannels },
      (_, o) => ((oldBias?.[o] ?? 0) - mean[o]!) * scale[o]! + beta[o]!,
    );
    const folded: TensorF32 = { shape: w.shape, data };
    weights.set(`${conv.name}.weight`, folded);
    weights.set(`${conv.name}.bias`, { shape: [outChannels], data: bias });
    for (const s of ['weight', 'bias', 'running_mean', 'running_var']) weights.delete(`${bn.name}.${s}`);
    renamed.set(bn.name, conv.name);
    foldedConvs.add(conv.name);
  }

  const nodes: Node[] = [];
  for (const node of graph.nodes) {
    if (renamed.has(node.name)) continue;
    const inputs = node.inputs.map((i) => renamed.get(i) ?? i);
    if (foldedConvs.has(node.name) && (node.op === 'conv2d' || node.op === 'convTranspose2d')) {
      nodes.push({ ...node, inputs, attrs: { ...node.attrs, bias: true } } as Node);
    } else {
      nodes.push({ ...node, inputs });
    }
  }
  const out: Graph = { ...graph, nodes };
  return { graph: out, weights };
}
