import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildArch } from '@fastdepth/fastdepth-arch';
import { GraphBuilder, type Model } from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import {
  LatencyTable,
  latencyLayers,
  onnxRunner,
  PROVENANCE_KEY,
  tfjsRunner,
  type LatencyRunner,
} from './table.js';

/** Tests of real runtimes check what is measured and where it is kept, never how fast: any load passes. */
const ANY_LOAD = { protocol: { allowNoisy: true } } as const;

/** A fake runtime: latency = MACs-ish of the one-layer graph, so interpolation is checkable. */
function fakeRunner(calls: string[]): LatencyRunner {
  return {
    backend: 'fake',
    measure(model: Model) {
      const conv = model.graph.nodes.find((n) => n.op === 'conv2d');
      const input = model.graph.nodes[0]!;
      const cin = input.op === 'input' ? input.attrs.shape[1] : 0;
      calls.push(`${cin}x${conv?.op === 'conv2d' ? conv.attrs.outChannels : 0}`);
      return Promise.resolve(conv?.op === 'conv2d' ? 1 + cin * conv.attrs.outChannels * 0.01 : 1);
    },
  };
}

describe('latencyLayers', () => {
  it('groups conv + BN + activation and keeps other ops apart', () => {
    const layers = latencyLayers(buildArch('fastdepth', { inputSize: 64 }));
    const names = layers.map((l) => l.name);
    expect(names.slice(0, 3)).toEqual(['conv0', 'conv1_dw', 'conv1_pw']);
    expect(names).toContain('decode_conv1_up');
    expect(names).toContain('skip2_add');
    expect(names).not.toContain('conv0_bn');
    // 27 encoder + 10 decoder convs + head, 5 upsamples, 3 adds
    expect(layers).toHaveLength(27 + 10 + 1 + 5 + 3);
    expect(layers.find((l) => l.name === 'conv1_dw')!.channelwise).toBe(true);
  });
});

describe('LatencyTable', () => {
  it('measures grid points lazily and interpolates bilinearly', async () => {
    const calls: string[] = [];
    const table = new LatencyTable(fakeRunner(calls), { step: 8, cacheFile: false });
    const g = new GraphBuilder('one');
    g.output('out', g.conv2d('c', g.input('input', [1, 20, 4, 4]), { outChannels: 12, kernel: 1 }));
    const [layer] = latencyLayers(g.build());
    const ms = await table.layerLatency(layer!, 20, 12);
    // grid corners 16/24 x 8/16; the fake is bilinear in (cin, cout), so interpolation is exact
    expect(ms).toBeCloseTo(20 * 12 * 0.01, 9);
    const measured = calls.length;
    // four corners + one identity, each timed in 5 rounds
    expect(calls.filter((c) => c !== '16x0' && c !== '24x0').length).toBeGreaterThanOrEqual(4 * 5);
    await table.layerLatency(layer!, 20, 12);
    expect(calls.length).toBe(measured);
  });

  it('never estimates a negative latency when whole networks cost less than their layers', async () => {
    // The fake prices a network by its first conv only, so every whole network is far cheaper
    // than its layers timed alone: an additive calibration would go negative.
    const table = new LatencyTable(fakeRunner([]), { step: 8, cacheFile: false });
    const { overhead, scale } = await table.calibration();
    expect(overhead).toBeLessThan(0);
    expect(scale).toBeGreaterThan(0);
    const graph = buildArch('fastdepth', { inputSize: 32 });
    const estimate = await table.estimate(graph);
    expect(estimate).toBeGreaterThan(0);
    let sum = 0;
    for (const layer of latencyLayers(graph)) sum += await table.layerLatency(layer);
    expect(estimate).toBeCloseTo(sum * scale, 9);
  });

  it('measures generated tfjs code on wasm and sums close to the whole network', async () => {
    const graph = buildArch('fastdepth', { inputSize: 32 });
    const table = new LatencyTable(tfjsRunner({ runs: 1, warmup: 1 }), {
      step: 512,
      cacheFile: false,
      ...ANY_LOAD,
    });
    const layers = latencyLayers(graph);
    const one = await table.layerLatency(layers.find((l) => l.name === 'conv13_pw')!);
    expect(one).toBeGreaterThanOrEqual(0);
    expect(table.size).toBeGreaterThan(0);
  });
});

describe('onnxRunner', () => {
  it('times one-layer ONNX models in onnxruntime-node under its own cache key', async () => {
    const graph = buildArch('fastdepth', { inputSize: 32 });
    const runner = onnxRunner({ runs: 1, warmup: 1 });
    expect(runner.backend).toBe('onnxruntime-node-1t');
    const cacheFile = join(mkdtempSync(join(tmpdir(), 'netadapt-lut-')), 'latency.json');
    const onnx = new LatencyTable(runner, { step: 512, cacheFile, ...ANY_LOAD });
    const wasm = new LatencyTable(tfjsRunner({ runs: 1, warmup: 1 }), { step: 512, cacheFile, ...ANY_LOAD });
    const layers = latencyLayers(graph);
    // a conv block, a depthwise block, an upsample, an add: each a one-layer ONNX model (+ identity)
    for (const name of ['conv13_pw', 'conv13_dw', 'decode_conv1_up', 'skip2_add']) {
      const ms = await onnx.layerLatency(layers.find((l) => l.name === name)!);
      expect(Number.isFinite(ms) && ms >= 0).toBe(true);
    }
    expect(onnx.size).toBeGreaterThanOrEqual(8);
    onnx.save();
    const file = JSON.parse(readFileSync(cacheFile, 'utf8')) as Record<string, unknown>;
    // Entries, and how they were measured (the protocol's provenance) under its own key.
    const saved = Object.keys(file).filter((k) => k !== PROVENANCE_KEY);
    expect(saved.length).toBe(onnx.size);
    expect(Object.keys(file[PROVENANCE_KEY] as object)).toEqual([
      expect.stringMatching(/\|onnxruntime-node-1t$/),
    ]);
    expect(saved.every((k) => k.includes('|onnxruntime-node-1t|'))).toBe(true);
    // the same layer on another runtime is a miss: measured again under its own key
    await wasm.layerLatency(layers.find((l) => l.name === 'conv13_pw')!);
    expect(wasm.size).toBe(3); // the layer, its own time before the overhead, the per-call overhead
  });
});
