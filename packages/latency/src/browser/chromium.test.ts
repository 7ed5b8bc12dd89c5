/**
 * The browser latency runner in headless Chromium (Debian's /usr/bin/chromium): tfjs-wasm at 1
 * and 2 threads on a cross-origin isolated page, onnxruntime-web, and tfjs-webgl on SwiftShader
 * (the code path only: software WebGL times nothing worth keeping). Small layers, few runs; no
 * assertion on how fast anything is.
 */
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '@fastdepth/graph-dsl';
import { LatencyTable, latencyLayers } from '../table.js';
import { chromiumRunner } from './chromium.js';
import { probeModel } from './server.js';

function smallNet() {
  const g = new GraphBuilder('small');
  const x = g.input('input', [1, 12, 16, 16]);
  const dw = g.relu6(
    'dw_act',
    g.batchNorm('dw_bn', g.conv2d('dw', x, { outChannels: 12, kernel: 3, pads: 1, groups: 12 })),
  );
  const pw = g.relu('pw_act', g.batchNorm('pw_bn', g.conv2d('pw', dw, { outChannels: 20, kernel: 1 })));
  g.output('out', g.upsample('up', pw, 'nearest'));
  return g.build();
}

async function measureIn(options: Parameters<typeof chromiumRunner>[0]) {
  const runner = await chromiumRunner({ runs: 3, warmup: 1, ...options });
  try {
    // What is measured and where it goes, never how fast: any load passes.
    const table = new LatencyTable(runner, {
      cacheFile: false,
      calibrate: false,
      protocol: { allowNoisy: true },
    });
    const graph = smallNet();
    const perLayer: number[] = [];
    for (const layer of latencyLayers(graph)) perLayer.push(await table.layerLatency(layer));
    // An interpolated point: pw at 10 in x 18 out lies between grid points 8 and 16.
    const interpolated = await table.layerLatency(latencyLayers(graph)[1]!, 10, 18);
    const whole = await runner.measure(probeModel(graph));
    return { runner, perLayer, interpolated, whole, size: table.size };
  } finally {
    await runner.close();
  }
}

describe('chromiumRunner', () => {
  for (const threads of [1, 2]) {
    it(`tfjs wasm, ${threads} thread(s): every layer timed, keyed by the browser and the threads`, async () => {
      const r = await measureIn({ threads });
      expect(r.runner.backend).toBe(`web-tfjs-wasm-${threads}t`);
      expect(r.runner.machine).toMatch(/^Chromium \d+ headless\|Linux \S+\|\d+ cores$/);
      expect(r.runner.device.info).toMatchObject({
        isolated: true,
        threads,
        engine: 'tfjs',
        backend: 'wasm',
      });
      expect(r.perLayer).toHaveLength(3);
      for (const ms of [...r.perLayer, r.interpolated, r.whole]) {
        expect(Number.isFinite(ms)).toBe(true);
        expect(ms).toBeGreaterThanOrEqual(0);
      }
      expect(r.whole).toBeGreaterThan(0);
      // 3 layers and their 3 identity probes, plus the new grid points around (10, 18).
      expect(r.size).toBeGreaterThanOrEqual(8);
    });
  }

  it('onnxruntime-web wasm, 2 threads', async () => {
    const r = await measureIn({ threads: 2, engine: 'onnx' });
    expect(r.runner.backend).toBe('web-onnx-wasm-2t');
    expect(r.whole).toBeGreaterThan(0);
    expect(r.perLayer.every((ms) => Number.isFinite(ms) && ms >= 0)).toBe(true);
  });

  it('tfjs webgl on SwiftShader (code path only)', async () => {
    const r = await measureIn({ backend: 'webgl' });
    expect(r.runner.backend).toBe('web-tfjs-webgl-1t');
    expect(r.whole).toBeGreaterThan(0);
    expect(r.perLayer.every((ms) => Number.isFinite(ms) && ms >= 0)).toBe(true);
  });

  it('a missing browser is one clear error', async () => {
    await expect(chromiumRunner({ executablePath: '/nonexistent/chromium' })).rejects.toThrow(
      '/nonexistent/chromium is missing',
    );
  });
});
