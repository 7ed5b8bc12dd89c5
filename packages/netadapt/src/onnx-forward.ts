/**
 * Forward passes where they are fast: a model emitted as ONNX (BatchNorm kept, so a conv's
 * output is its pre-BN value) and run in onnxruntime-node over a set of images, with any
 * intermediate layers as extra graph outputs ("taps"). Layers the requested outputs do not
 * need are removed first, so tapping an early layer runs only the start of the network.
 */
import { encodeOnnx } from '@fastdepth/codegen-onnx';
import {
  FastDepthError,
  graphOutputs,
  removeDeadNodes,
  removeDeadNodesModel,
  type Graph,
  type Model,
  type Node,
  type TensorF32,
} from '@fastdepth/graph-dsl';
import { withInputShape } from './train.js';

/** One output of a batch: NCHW float32. */
export interface ForwardTensor {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

export interface ForwardOptions {
  /** Layers whose outputs are returned besides (or instead of) the network output. */
  readonly taps?: readonly string[];
  /** Return the network output too (default true). */
  readonly output?: boolean;
  /** Images per run (default 8). */
  readonly batch?: number;
  /** onnxruntime intra-op threads (default: its own default, every core). */
  readonly threads?: number;
}

const tapName = (layer: string): string => `${layer}__tap`;

/** The graph with `taps` as extra outputs and, unless `keepOutput`, without its own output. */
export function tappedGraph(graph: Graph, taps: readonly string[], keepOutput: boolean): Graph {
  const names = new Set(graph.nodes.map((n) => n.name));
  for (const t of taps)
    if (!names.has(t)) throw new FastDepthError(`no layer "${t}" to tap in "${graph.name}"`);
  const nodes: Node[] = graph.nodes.filter((n) => keepOutput || n.op !== 'output');
  for (const t of taps) nodes.push({ op: 'output', name: tapName(t), inputs: [t], attrs: {} });
  return removeDeadNodes({ ...graph, nodes });
}

type Ort = typeof import('onnxruntime-node');
let ortModule: Promise<Ort> | undefined;
/** onnxruntime-node, imported on first use (its native binding is large). */
const ort = (): Promise<Ort> => (ortModule ??= import('onnxruntime-node'));

/**
 * Runs `model` over `images` ([3, H, W] each, all the same size) in batches and hands every
 * batch's outputs to `onBatch` (first image index, count, outputs keyed by layer name; the
 * network output under its output layer's name). Outputs are views valid during the call.
 */
export async function forwardOnnx(
  model: Model,
  images: readonly TensorF32[],
  onBatch: (first: number, count: number, outputs: ReadonlyMap<string, ForwardTensor>) => void,
  options: ForwardOptions = {},
): Promise<void> {
  const first = images[0];
  if (!first) return;
  const [, h, w] = first.shape as [number, number, number];
  const taps = options.taps ?? [];
  const keepOutput = options.output ?? true;
  const batch = Math.max(1, Math.min(options.batch ?? 8, images.length));
  const runtime = await ort();
  const sessions = new Map<number, Awaited<ReturnType<Ort['InferenceSession']['create']>>>();
  const graphFor = (n: number): Graph =>
    tappedGraph(withInputShape(model.graph, [n, 3, h, w]), taps, keepOutput);
  const outputNames = graphOutputs(graphFor(1)).map((o) => o.name);
  const inputName = model.graph.nodes.find((n) => n.op === 'input')!.name;
  try {
    for (let start = 0; start < images.length; start += batch) {
      const n = Math.min(batch, images.length - start);
      let session = sessions.get(n);
      if (!session) {
        // Layers the outputs do not need are gone, and so are their weights.
        const pruned = removeDeadNodesModel({ graph: graphFor(n), weights: model.weights });
        session = await runtime.InferenceSession.create(encodeOnnx(pruned), {
          graphOptimizationLevel: 'all',
          ...(options.threads !== undefined ? { intraOpNumThreads: options.threads } : {}),
        });
        sessions.set(n, session);
      }
      const input = new Float32Array(n * 3 * h * w);
      for (let i = 0; i < n; i++) {
        const img = images[start + i]!;
        if (img.shape[1] !== h || img.shape[2] !== w)
          throw new FastDepthError(`image ${start + i} is ${img.shape.join('x')}, expected 3x${h}x${w}`);
        input.set(img.data, i * 3 * h * w);
      }
      const result = await session.run({ [inputName]: new runtime.Tensor('float32', input, [n, 3, h, w]) });
      const outputs = new Map<string, ForwardTensor>();
      for (const name of outputNames) {
        const t = result[name]!;
        const layer = name.endsWith('__tap') ? name.slice(0, -'__tap'.length) : name;
        outputs.set(layer, { data: t.data as Float32Array, dims: t.dims });
      }
      onBatch(start, n, outputs);
    }
  } finally {
    await Promise.all([...sessions.values()].map((s) => s.release()));
  }
}

/** The network output for every image (one [1, H, W] tensor each). */
export async function predictOnnx(
  model: Model,
  images: readonly TensorF32[],
  options: Omit<ForwardOptions, 'taps' | 'output'> = {},
): Promise<TensorF32[]> {
  const out: TensorF32[] = [];
  const outputName = graphOutputs(model.graph)[0]!.name;
  await forwardOnnx(
    model,
    images,
    (_first, count, outputs) => {
      const t = outputs.get(outputName)!;
      const per = t.data.length / count;
      const [, c, h, w] = t.dims as [number, number, number, number];
      for (let i = 0; i < count; i++)
        out.push({ shape: [c, h, w], data: t.data.slice(i * per, (i + 1) * per) });
    },
    options,
  );
  return out;
}
