/**
 * Fine-tuning and the accuracy proxy, in TypeScript with tfjs. Both defaults are L1 on depth
 * over an in-memory set of (rgb, depth) pairs: with real labels (supervised), or with the
 * teacher network's predictions as labels (distillation on unlabelled images, so pruning
 * needs no labelled dataset). The teacher's outputs are computed once, up front.
 *
 * Trainers and evaluators built here are *portable*: they carry a plain-data spec that worker
 * threads rebuild them from. Custom implementations without one run in-process (`workers: 0`).
 */
import { FastDepthError, SeededRandom, type Graph, type Model, type TensorF32 } from '@fastdepth/graph-dsl';
import { tf, useTfBackend, type TfBackendName } from './tf-backend.js';
import { nchwToNhwcTensor, TfGraph } from './tf-graph.js';

/** One training pair: rgb [3, H, W] in [0, 1] and depth [1, H, W] (metres, or teacher output). */
export interface DepthSample {
  readonly rgb: TensorF32;
  readonly depth: TensorF32;
}

/** The plain-data description of the default trainer/evaluator (sent to worker threads). */
export interface PortableTask {
  readonly kind: 'l1';
  readonly samples: readonly DepthSample[];
  readonly batchSize: number;
  readonly learningRate: number;
  readonly seed: number;
  readonly backend: TfBackendName;
}

/** Fine-tunes a model. */
export interface Trainer {
  /** Returns `model` with weights trained for `steps` steps (`seed` fixes the batch order). */
  train(model: Model, steps: number, seed: number): Promise<Model>;
  readonly portable?: PortableTask;
}

/** Scores a model: higher is better (the defaults return minus the mean L1 error). */
export interface Evaluator {
  evaluate(model: Model): Promise<number>;
  readonly portable?: PortableTask;
}

/** The graph with its input resized to `[n, 3, h, w]` (the network is fully convolutional). */
export function withInputShape(graph: Graph, shape: readonly [number, number, number, number]): Graph {
  return {
    ...graph,
    nodes: graph.nodes.map((n) => (n.op === 'input' ? { ...n, attrs: { ...n.attrs, shape } } : n)),
  };
}

function batchTensors(
  samples: readonly DepthSample[],
  indices: readonly number[],
): { x: tf.Tensor4D; y: tf.Tensor4D } {
  const first = samples[indices[0]!]!;
  const [, h, w] = first.rgb.shape as [number, number, number];
  const rgb = new Float32Array(indices.length * 3 * h * w);
  const depth = new Float32Array(indices.length * h * w);
  indices.forEach((i, b) => {
    const s = samples[i]!;
    if (s.rgb.shape[1] !== h || s.rgb.shape[2] !== w)
      throw new FastDepthError(
        `sample ${i}: rgb ${s.rgb.shape.join('x')}, expected 3x${h}x${w} like sample 0`,
      );
    rgb.set(s.rgb.data, b * 3 * h * w);
    depth.set(s.depth.data, b * h * w);
  });
  return {
    x: nchwToNhwcTensor(rgb, [indices.length, 3, h, w]),
    y: tf.tensor4d(depth, [indices.length, h, w, 1]),
  };
}

function inputShapeOf(samples: readonly DepthSample[], n: number): [number, number, number, number] {
  const s = samples[0];
  if (!s) throw new FastDepthError('the training/evaluation set is empty');
  return [n, 3, s.rgb.shape[1]!, s.rgb.shape[2]!];
}

/** Fine-tunes with Adam on L1; BN statistics frozen (see `TfGraph`). */
export function l1Trainer(task: PortableTask): Trainer {
  return {
    portable: task,
    async train(model, steps, seed) {
      if (steps <= 0) return model;
      await useTfBackend(task.backend);
      const batch = Math.min(task.batchSize, task.samples.length);
      const graph = withInputShape(model.graph, inputShapeOf(task.samples, batch));
      const net = new TfGraph({ graph, weights: model.weights });
      const optimizer = tf.train.adam(task.learningRate);
      const rng = new SeededRandom(seed);
      try {
        for (let step = 0; step < steps; step++) {
          const indices = Array.from({ length: batch }, () =>
            Math.floor(rng.uniform() * task.samples.length),
          );
          const { x, y } = batchTensors(task.samples, indices);
          optimizer.minimize(() => tf.mean(tf.abs(tf.sub(net.forward(x), y))), false, net.variables);
          tf.dispose([x, y]);
        }
        return { graph: model.graph, weights: net.toWeights() };
      } finally {
        optimizer.dispose();
        net.dispose();
      }
    },
  };
}

/** Minus the mean L1 error over the set (0 is perfect). */
export function l1Evaluator(task: PortableTask): Evaluator {
  return {
    portable: task,
    async evaluate(model) {
      await useTfBackend(task.backend);
      const batch = Math.min(task.batchSize, task.samples.length);
      let sum = 0;
      let count = 0;
      for (let start = 0; start < task.samples.length; start += batch) {
        const indices = Array.from(
          { length: Math.min(batch, task.samples.length - start) },
          (_, k) => start + k,
        );
        const graph = withInputShape(model.graph, inputShapeOf(task.samples, indices.length));
        const net = new TfGraph({ graph, weights: model.weights });
        const { x, y } = batchTensors(task.samples, indices);
        const err = tf.tidy(() => tf.sum(tf.abs(tf.sub(net.forward(x), y))));
        sum += (await err.data())[0]!;
        count += y.size;
        tf.dispose([x, y, err]);
        net.dispose();
      }
      return -sum / count;
    },
  };
}

/** Rebuilds the default trainer/evaluator pair from a portable spec. */
export function fromPortable(task: PortableTask): { trainer: Trainer; evaluator: Evaluator } {
  return { trainer: l1Trainer(task), evaluator: l1Evaluator(task) };
}

/** Options of the default tasks. */
export interface TaskOptions {
  readonly batchSize?: number;
  readonly learningRate?: number;
  readonly seed?: number;
  /** tfjs backend for training and evaluation; default `wasm` (about 40x faster than cpu per step). */
  readonly backend?: TfBackendName;
}

function portable(samples: readonly DepthSample[], o: TaskOptions): PortableTask {
  return {
    kind: 'l1',
    samples,
    batchSize: o.batchSize ?? 4,
    learningRate: o.learningRate ?? 5e-4,
    seed: o.seed ?? 0,
    backend: o.backend ?? 'wasm',
  };
}

/** Supervised L1 on (rgb, depth) pairs. */
export function supervisedTask(
  samples: readonly DepthSample[],
  options: TaskOptions = {},
): { trainer: Trainer; evaluator: Evaluator } {
  return fromPortable(portable(samples, options));
}

/**
 * Distillation from `teacher` on unlabelled images (rgb [3, H, W] in [0, 1]): the teacher's
 * predictions become the labels, then it is the supervised task. `evalImages` (default: the
 * training images) score the student against the teacher.
 */
export async function distillationTask(
  teacher: Model,
  images: readonly TensorF32[],
  options: TaskOptions & { readonly evalImages?: readonly TensorF32[] } = {},
): Promise<{ trainer: Trainer; evaluator: Evaluator }> {
  const label = async (list: readonly TensorF32[]): Promise<DepthSample[]> => {
    await useTfBackend(options.backend ?? 'wasm');
    const out: DepthSample[] = [];
    for (const rgb of list) {
      const [, h, w] = rgb.shape as [number, number, number];
      const graph = withInputShape(teacher.graph, [1, 3, h, w]);
      const net = new TfGraph({ graph, weights: teacher.weights });
      const y = tf.tidy(() => net.forward(nchwToNhwcTensor(rgb.data, [1, 3, h, w])));
      out.push({ rgb, depth: { shape: [1, h, w], data: Float32Array.from(await y.data()) } });
      y.dispose();
      net.dispose();
    }
    return out;
  };
  const train = await label(images);
  const evalSet = options.evalImages ? await label(options.evalImages) : train;
  const t = portable(train, options);
  return { trainer: l1Trainer(t), evaluator: l1Evaluator(portable(evalSet, options)) };
}

/** `n` seeded random images [3, size, size] in [0, 1] (smooth-ish: 4x4 blocks), for distillation. */
export function randomImages(n: number, size: number | readonly [number, number], seed = 0): TensorF32[] {
  const [h, w] = typeof size === 'number' ? [size, size] : size;
  const rng = new SeededRandom(seed);
  return Array.from({ length: n }, () => {
    const data = new Float32Array(3 * h * w);
    const bh = Math.ceil(h / 4);
    const bw = Math.ceil(w / 4);
    for (let c = 0; c < 3; c++) {
      const blocks = Float32Array.from({ length: bh * bw }, () => rng.uniform());
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++)
          data[(c * h + y) * w + x] = 0.7 * blocks[(y >> 2) * bw + (x >> 2)]! + 0.3 * rng.uniform();
    }
    return { shape: [3, h, w], data };
  });
}
