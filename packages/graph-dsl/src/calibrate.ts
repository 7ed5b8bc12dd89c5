/**
 * Seeded weights that make a meaningful check case. `initWeights` follows the authors' init
 * (BatchNorm as the identity, biases 0); on such a network the last ReLU is often dead for
 * every pixel, so the output is all zeros and a parity check against it passes whatever the
 * emitted code computes. Here every BatchNorm gets random statistics, scale and a positive
 * shift (so a check also exercises every BN parameter), and the last BatchNorm gets the mean
 * and variance its input actually has on a seeded image-like input: the output, the ReLU of a
 * standardised map shifted up a little, then varies from pixel to pixel.
 *
 * Only the last one is measured: standardising every layer on its own input subtracts nearly
 * equal numbers where a channel barely varies (a 2x2 bottleneck), and float32 runtimes then
 * differ from the float64 reference by far more than rounding.
 */
import { execute } from './executor.js';
import { graphInputs, inferShapes, withInputSize } from './graph.js';
import type { Graph } from './ir.js';
import { randomTensor } from './numeric.js';
import { initWeights, SeededRandom, type TensorF32 } from './weights.js';

/**
 * Statistics are measured at the graph's own size up to this side (224, FastDepth's), else at
 * this size: the network is fully convolutional, so they carry over, and a 4096x4096 graph
 * would take minutes in the float64 executor.
 */
const CALIBRATION_SIDE = 224;

/** Seed of the BN scales/shifts, apart from the conv weights'. */
const AFFINE_SEED_OFFSET = 0xbe7a;

function calibrationGraph(graph: Graph): Graph {
  const shape = inferShapes(graph).get(graphInputs(graph)[0]!.name)!;
  if (shape[2] * shape[3] <= CALIBRATION_SIDE * CALIBRATION_SIDE) return graph;
  try {
    return withInputSize(graph, [CALIBRATION_SIDE, CALIBRATION_SIDE]);
  } catch {
    return graph; // not resizable (a saved graph with fixed-size parts): measure at full size
  }
}

/**
 * `initWeights(graph, seed)` with every BatchNorm's gamma in [0.5, 1.5), beta in [0.1, 0.3),
 * running mean in [-0.1, 0.1) and variance in [0.5, 1.5), except the last BatchNorm's mean and
 * variance: those are measured on the input `randomTensor(shape, inputSeed, 0, 1)`.
 * Deterministic: same graph and seeds, same weights.
 *
 * A check that feeds that same input (graphs up to 224x224) sees the last BatchNorm exactly
 * standardise its input: the output then varies over the pixels whenever the last
 * convolution's output does. On other inputs the statistics are only approximately right.
 */
export function calibratedInitWeights(graph: Graph, seed = 0, inputSeed = seed): Map<string, TensorF32> {
  const weights = initWeights(graph, seed);
  const rng = new SeededRandom((seed + AFFINE_SEED_OFFSET) >>> 0);
  const batchNorms = graph.nodes.filter((n) => n.op === 'batchNorm');
  for (const node of batchNorms) {
    const channels = weights.get(`${node.name}.weight`)!.shape[0]!;
    const draw = (f: () => number): TensorF32 => ({
      shape: [channels],
      data: Float32Array.from({ length: channels }, f),
    });
    const gamma = draw(() => 0.5 + rng.uniform());
    const beta = draw(() => 0.1 + 0.2 * rng.uniform());
    const mean = draw(() => 0.2 * rng.uniform() - 0.1);
    const variance = draw(() => 0.5 + rng.uniform());
    weights.set(`${node.name}.weight`, gamma);
    weights.set(`${node.name}.bias`, beta);
    weights.set(`${node.name}.running_mean`, mean);
    weights.set(`${node.name}.running_var`, variance);
  }
  const last = batchNorms[batchNorms.length - 1];
  if (!last) return weights;

  const calibration = calibrationGraph(graph);
  const feeds = Object.fromEntries(
    graphInputs(calibration).map((n, i) => [n.name, randomTensor(n.attrs.shape, inputSeed + i, 0, 1)]),
  );
  // The executor reads a layer's weights only when that layer runs, so the statistics can be
  // set as soon as its input is computed, within one run.
  execute(calibration, weights, feeds, {
    onValue: (node, value) => {
      if (node.name !== last.inputs[0]) return;
      const { mean, variance } = channelStatistics(value.shape, value.data);
      weights.set(`${last.name}.running_mean`, { shape: [mean.length], data: mean });
      weights.set(`${last.name}.running_var`, { shape: [variance.length], data: variance });
    },
  });
  return weights;
}

/** Per-channel mean and (biased) variance over batch, height and width of an NCHW tensor. */
function channelStatistics(
  shape: readonly number[],
  data: Float64Array,
): { mean: Float32Array; variance: Float32Array } {
  const [n, c, h, w] = shape as [number, number, number, number];
  const plane = h * w;
  const mean = new Float32Array(c);
  const variance = new Float32Array(c);
  for (let k = 0; k < c; k++) {
    let sum = 0;
    for (let b = 0; b < n; b++) {
      const base = (b * c + k) * plane;
      for (let p = 0; p < plane; p++) sum += data[base + p]!;
    }
    const m = sum / (n * plane);
    let sumSq = 0;
    for (let b = 0; b < n; b++) {
      const base = (b * c + k) * plane;
      for (let p = 0; p < plane; p++) sumSq += (data[base + p]! - m) ** 2;
    }
    mean[k] = m;
    variance[k] = sumSq / (n * plane);
  }
  return { mean, variance };
}
