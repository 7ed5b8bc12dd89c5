/**
 * The browser-safe loader: what it refuses (with one clear line), the variant choice, the
 * feature probes, and that it imports nothing a browser lacks.
 */
import { readFileSync } from 'node:fs';
import { GraphBuilder } from '@fastdepth/graph-dsl';
import { beforeAll, describe, expect, it } from 'vitest';
import { emitWasm, wasmArtifactFiles, type WasmArtifact } from './emit.js';
import {
  checkManifest,
  chooseVariant,
  createWasmMemory,
  loadWasmModel,
  relaxedSimdSupported,
  threadsSupported,
  type WasmManifest,
} from './runtime.js';
import { seededWeights } from './testing/harness.js';

describe('runtime', () => {
  let artifact: WasmArtifact;
  beforeAll(() => {
    const g = new GraphBuilder('tiny', { arch: 'tiny' });
    const x = g.input('input', [1, 3, 8, 8]);
    g.output('depth', g.relu('r', g.conv2d('c', x, { outChannels: 1, kernel: 3, pads: 1, bias: true })));
    const graph = g.build();
    artifact = emitWasm({ graph, weights: seededWeights(graph, 1) });
  });

  it('imports no binaryen and no node: module (it runs in browsers and workers)', () => {
    const source = readFileSync(new URL('./runtime.ts', import.meta.url), 'utf8');
    expect(source).not.toMatch(/from ['"](binaryen|node:[^'"]+)['"]/);
    expect(source).not.toMatch(/import\(/);
  });

  it('chooses the module for what the host supports', () => {
    expect(chooseVariant({ threads: false, relaxed: false })).toBe('simd');
    expect(chooseVariant({ threads: true, relaxed: false })).toBe('simd-threads');
    expect(chooseVariant({ threads: false, relaxed: true })).toBe('relaxed');
    expect(chooseVariant({ threads: true, relaxed: true })).toBe('relaxed-threads');
    // The probe agrees with validating a real relaxed module; Node always has SharedArrayBuffer.
    expect(relaxedSimdSupported()).toBe(WebAssembly.validate(artifact.modules.relaxed));
    expect(WebAssembly.validate(artifact.modules.simd)).toBe(true);
    expect(threadsSupported()).toBe(true);
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

  it('refuses a wrong manifest, wrong weights, a small memory and a wrong input', async () => {
    const { manifest } = artifact;
    expect(() => checkManifest({ ...manifest, format: 'x' } as unknown as WasmManifest)).toThrow(
      /not a fastdepth-wasm manifest/,
    );
    expect(() => checkManifest({ ...manifest, version: 2 } as unknown as WasmManifest)).toThrow(/version 2/);
    await expect(
      loadWasmModel(manifest, artifact.modules.simd, artifact.weights.subarray(4)),
    ).rejects.toThrow(/weights hold \d+ bytes, the manifest expects/);
    await expect(
      loadWasmModel(manifest, artifact.modules.simd, artifact.weights, {
        memory: new WebAssembly.Memory({ initial: 1 }),
      }),
    ).rejects.toThrow(/needs \d+ pages/);
    const m = await loadWasmModel(manifest, artifact.modules.simd, artifact.weights, {
      memory: createWasmMemory(manifest, false),
    });
    expect(() => m.writeInput(new Float32Array(5))).toThrow(/input has 5 values, expected 192 \(1x3x8x8\)/);
    // Thread indices past the reserved scratch tiles trap instead of corrupting memory.
    expect(() => m.exports.run(0, manifest.maxThreads + 1)).toThrow(WebAssembly.RuntimeError);
    expect(() => m.exports.run(2, 2)).toThrow(WebAssembly.RuntimeError);
    expect(() => m.exports.run_stage(0, 0, 1, manifest.maxThreads)).toThrow(WebAssembly.RuntimeError);
    const out = m.runSingleThread(new Float32Array(192).fill(1));
    expect(out.length).toBe(64);
    expect(out.every((v) => v >= 0)).toBe(true);
  });
});
