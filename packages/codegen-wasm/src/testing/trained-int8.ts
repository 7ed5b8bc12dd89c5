/**
 * The paper's trained int8 model (`../shared/data/weights/fast_depth_224.tflite`, beside the
 * repository) as a `QuantizedModel`, through importers' `importTfliteQuantized` (the file's own
 * quantisation, BN folded, on the fastdepth-arch layer names); and the int8 reference output.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { executeQuantized, type QuantizedModel } from '@fastdepth/graph-dsl';
import { importTfliteQuantized } from '@fastdepth/importers';

export const DATA =
  process.env['FASTDEPTH_DATA'] ??
  resolve(dirname(fileURLToPath(import.meta.url)), '../../../../../shared/data');
export const TFLITE_PATH = resolve(DATA, 'weights/fast_depth_224.tflite');
export const NYU = resolve(DATA, 'nyu-sample');

export function loadTrainedInt8(): QuantizedModel {
  return importTfliteQuantized(readFileSync(TFLITE_PATH), TFLITE_PATH).quantized;
}

/** `executeQuantized`'s int8 output (NCHW) for a float NCHW input. */
export function executeInt8(model: QuantizedModel, input: Float32Array): Int8Array {
  const inName = model.graph.nodes.find((n) => n.op === 'input')!.name;
  const outName = model.graph.nodes.find((n) => n.op === 'output')!.name;
  const inNode = model.graph.nodes.find((n) => n.op === 'input')!;
  const shape = inNode.op === 'input' ? inNode.attrs.shape : [0];
  return executeQuantized(model, { [inName]: { shape, data: input } })[outName]!.data;
}
