/**
 * The artifact: the files the manifest names, and modules that trap on thread indices past the
 * reserved scratch tiles. (What a host refuses is runtime-web's wasm engine's to test.)
 */
import { GraphBuilder } from '@fastdepth/graph-dsl';
import { beforeAll, describe, expect, it } from 'vitest';
import { emitWasm, wasmArtifactFiles, type WasmArtifact } from './emit.js';
import type { WasmManifest } from './manifest.js';
import { seededWeights } from './testing/harness.js';
import { createWasmMemory, loadWasmModel } from './testing/load.js';

describe('artifact', () => {
  let artifact: WasmArtifact;
  beforeAll(() => {
    const g = new GraphBuilder('tiny', { arch: 'tiny' });
    const x = g.input('input', [1, 3, 8, 8]);
    g.output('depth', g.relu('r', g.conv2d('c', x, { outChannels: 1, kernel: 3, pads: 1, bias: true })));
    const graph = g.build();
    artifact = emitWasm({ graph, weights: seededWeights(graph, 1) });
  });

  it('lists the artifact files the manifest names', () => {
    const files = wasmArtifactFiles(artifact).map((f) => f.path);
    expect(files).toEqual([
      'tiny.wasm-manifest.json',
      'tiny.simd.wasm',
      'tiny.simd-threads.wasm',
      'tiny.relaxed.wasm',
      'tiny.relaxed-threads.wasm',
      'tiny.weights.bin',
    ]);
    const manifest = JSON.parse(
      new TextDecoder().decode(wasmArtifactFiles(artifact)[0]!.data),
    ) as WasmManifest;
    expect(manifest).toEqual(artifact.manifest);
    expect(manifest.weights.byteLength).toBe(artifact.weights.byteLength);
  });

  it('traps on a thread index past the reserved scratch tiles instead of corrupting memory', async () => {
    const { manifest } = artifact;
    const m = await loadWasmModel(manifest, artifact.modules.simd, artifact.weights, {
      memory: createWasmMemory(manifest, false),
    });
    expect(() => m.exports.run(0, manifest.maxThreads + 1)).toThrow(WebAssembly.RuntimeError);
    expect(() => m.exports.run(2, 2)).toThrow(WebAssembly.RuntimeError);
    expect(() => m.exports.run_stage(0, 0, 1, manifest.maxThreads)).toThrow(WebAssembly.RuntimeError);
    const out = m.runSingleThread(new Float32Array(192).fill(1));
    expect(out.length).toBe(64);
    expect(out.every((v) => v >= 0)).toBe(true);
  });
});
