import { buildArch } from '@fastdepth/fastdepth-arch';
import { FastDepthError, initWeights } from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { emitWasm } from './emit.js';

describe('wasm memory cap', () => {
  it('refuses at emit time a network whose layout exceeds the 4 GiB wasm32 can address', () => {
    const graph = buildArch('fastdepth-pruned', { inputSize: 4096 });
    const emit = () => emitWasm({ graph, weights: initWeights(graph, 0) });
    expect(emit).toThrow(FastDepthError);
    expect(emit).toThrow(
      /^wasm target: fastdepth-pruned at 4096x4096 needs \d+ MiB of linear memory \(weights, activations, scratch\), more than the 4096 MiB WebAssembly can address/,
    );
  });
});
