import { GraphError } from '../errors.js';
import type { Graph, Node, NodeOf, Pads } from '../ir.js';
import type { Model } from '../weights.js';

/**
 * Rewrites every stride-2 and stride-1 transposed conv as the same computation on ops that
 * every int8 backend has: a stride-1 `conv2d` whose kernel is the transposed conv's flipped in
 * both axes, with input and output channels swapped per group, after zero insertion for stride 2
 * (`unpool`: input (y, x) at (2y, 2x), zeros between). The conv's padding places the kernel so
 * that output (oy, ox) sums exactly the products the transposed conv scatters there. Stride 2:
 * top = kh - 1 - padTop, bottom = kh - 1 - padBottom + outputPadding - 1 (the unpool's last,
 * all-zero row stands for the rest), likewise left and right. Stride 1 is the same without the
 * zero insertion and without that last row: top = kh - 1 - padTop, bottom = kh - 1 - padBottom
 * + outputPadding (H + top + bottom - kh + 1 is then the transposed conv's H - 1 - padTop -
 * padBottom + kh + outputPadding rows).
 *
 * Exact in real arithmetic, and in int8 it gives TFLite's TRANSPOSE_CONV integers: the unpool
 * carries its input's parameters, so an inserted zero is the zero point and contributes
 * (zp - zp) * w = 0; every output channel keeps the same weights (permuted), hence the same
 * per-channel scale; the products summed in int32 are the same ones. At stride 2 the conv does
 * 4x the transposed conv's multiply-adds (a quarter of its taps read zeros): the price of running
 * on the conv kernels; at stride 1 it does exactly as many. The conv keeps the transposed conv's
 * name (its parameters and the BatchNorm folded into it stay attached); the unpool is named
 * `<name>_zero_insert`.
 *
 * Transposed convs that do not fit (stride other than 1x1 or 2x2, a padding larger than the
 * kernel) are left as they are; `convTransposeLoweringProblem` says why. `only` lowers only the
 * ones it accepts.
 */
export function lowerConvTranspose(
  model: Model,
  options: { readonly only?: (node: NodeOf<'convTranspose2d'>) => boolean } = {},
): Model {
  const { graph } = model;
  const taken = new Set(graph.nodes.map((n) => n.name));
  const weights = new Map(model.weights);
  const nodes: Node[] = [];
  for (const node of graph.nodes) {
    if (
      node.op !== 'convTranspose2d' ||
      convTransposeLoweringProblem(node) !== undefined ||
      (options.only && !options.only(node))
    ) {
      nodes.push(node);
      continue;
    }
    const pads = loweredPads(node);
    let inputs = node.inputs;
    if (node.attrs.stride[0] === 2) {
      const zerosName = freshName(`${node.name}_zero_insert`, taken);
      nodes.push({ op: 'unpool', name: zerosName, inputs: node.inputs, attrs: { scale: 2 } });
      inputs = [zerosName];
    }
    const { outChannels, kernel, groups, bias } = node.attrs;
    nodes.push({
      op: 'conv2d',
      name: node.name,
      inputs,
      attrs: { outChannels, kernel, stride: [1, 1], pads, dilation: [1, 1], groups, bias },
    });
    const w = model.weights.get(`${node.name}.weight`);
    if (!w) throw new GraphError(node.name, `missing weight "${node.name}.weight"`);
    weights.set(`${node.name}.weight`, flippedTransposedKernel(w, groups, node.name));
  }
  const lowered: Graph = { ...graph, nodes };
  return { graph: lowered, weights };
}

/** Why `lowerConvTranspose` leaves `node` as it is, or undefined when it lowers it. */
export function convTransposeLoweringProblem(node: NodeOf<'convTranspose2d'>): string | undefined {
  const { stride } = node.attrs;
  // Mixed strides (1x2) would need zero insertion along one axis only, which `unpool` has not.
  if (!((stride[0] === 2 && stride[1] === 2) || (stride[0] === 1 && stride[1] === 1)))
    return `stride ${stride[0]}x${stride[1]} (only 2x2 transposed convs run as zero insertion + conv, and 1x1 ones as a conv)`;
  if (loweredPads(node).some((p) => p < 0))
    return `padding [${node.attrs.pads.join(', ')}] with output padding [${node.attrs.outputPadding.join(', ')}] crops more than the kernel covers`;
  return undefined;
}

function loweredPads(node: NodeOf<'convTranspose2d'>): Pads {
  const {
    kernel: [kh, kw],
    pads: [pt, pl, pb, pr],
    outputPadding: [oph, opw],
  } = node.attrs;
  // Stride 2: the unpool's last row and column (all zero point) stand for one pad each.
  const last = node.attrs.stride[0] === 2 ? 1 : 0;
  return [kh - 1 - pt, kw - 1 - pl, kh - 1 - pb + oph - last, kw - 1 - pr + opw - last];
}

/**
 * conv2d weight [out, in / groups, kh, kw] from a transposed conv's [in, out / groups, kh, kw]:
 * w'[g * outG + o][i][y][x] = w[g * inG + i][o][kh - 1 - y][kw - 1 - x].
 */
function flippedTransposedKernel(
  w: { readonly shape: readonly number[]; readonly data: Float32Array },
  groups: number,
  layer: string,
): { shape: readonly number[]; data: Float32Array } {
  const [cin, outG, kh, kw] = w.shape as [number, number, number, number];
  if (w.shape.length !== 4 || cin % groups !== 0)
    throw new GraphError(
      layer,
      `transposed conv weight of shape [${w.shape.join(', ')}] for ${groups} groups`,
    );
  const inG = cin / groups;
  const data = new Float32Array(w.data.length);
  for (let g = 0; g < groups; g++)
    for (let o = 0; o < outG; o++)
      for (let i = 0; i < inG; i++)
        for (let y = 0; y < kh; y++)
          for (let x = 0; x < kw; x++)
            data[(((g * outG + o) * inG + i) * kh + y) * kw + x] =
              w.data[(((g * inG + i) * outG + o) * kh + (kh - 1 - y)) * kw + (kw - 1 - x)]!;
  return { shape: [groups * outG, inG, kh, kw], data };
}

function freshName(base: string, taken: Set<string>): string {
  let name = base;
  for (let k = 2; taken.has(name); k++) name = `${base}${k}`;
  taken.add(name);
  return name;
}
