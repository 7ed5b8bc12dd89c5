/**
 * The thread schedule trusts each stage's declared reads (`floatStageAccess`) to place barriers:
 * a read region too small would let a thread read a neighbour's rows before they are written,
 * a race the 2-thread parity runs catch only by chance. Here every output pixel of each per-pixel
 * stage is checked against the input pixels its op really reads (from the op's definition, not
 * from the kernel or the read axes): all must lie inside the declared region.
 */
import { foldBatchNorm, GraphBuilder, type Graph, type Tensor } from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { bilinearTaps } from './kernels/pixel.js';
import { planFloatGraph, type FloatStage, type PixelStage } from './plan.js';
import { floatStageAccess, readRegion } from './schedule.js';
import { seededWeights } from './testing/harness.js';

function stagesOf(
  shape: readonly [number, number, number],
  body: (g: GraphBuilder, x: Tensor) => Tensor,
): FloatStage[] {
  const g = new GraphBuilder('t');
  const x = g.input('input', [1, ...shape]);
  g.output('out', body(g, x));
  const graph: Graph = g.build();
  const folded = foldBatchNorm({ graph, weights: seededWeights(graph, 1) });
  return planFloatGraph(folded.graph, folded.weights).stages;
}

/** Input rows (or columns) output index o of a pixel stage reads along one axis. */
function trueReads(s: PixelStage, o: number, axis: 'rows' | 'cols'): number[] {
  const inSize = axis === 'rows' ? s.in.h : s.in.w;
  const outSize = axis === 'rows' ? s.rows : s.cols;
  const range = (a: number, n: number): number[] => Array.from({ length: n }, (_, k) => a + k);
  switch (s.kind) {
    case 'resize':
      if (s.mode === 'nearest') return [Math.floor((o * inSize) / outSize)];
      return [bilinearTaps(inSize, outSize)[o]!.i0, bilinearTaps(inSize, outSize)[o]!.i1];
    case 'unpool':
      return [Math.floor(o / s.scale)];
    case 'pixelShuffle':
      return [Math.floor(o / s.block)];
    case 'pool': {
      const [st, p, k] = axis === 'rows' ? [s.sh, s.pt, s.kh] : [s.sw, s.pl, s.kw];
      return range(o * st - p, k).filter((i) => i >= 0 && i < inSize);
    }
    case 'gap':
      return range(0, inSize);
    case 'convT': {
      const [st, p, k] =
        axis === 'rows' ? [s.conv.sh, s.conv.pt, s.conv.kh] : [s.conv.sw, s.conv.pl, s.conv.kw];
      return range(0, k)
        .map((t) => o + p - t)
        .filter((n) => n >= 0 && n % st === 0 && n / st < inSize)
        .map((n) => n / st);
    }
    case 'map':
      return [o];
  }
}

function expectCovered(stages: FloatStage[], kind: PixelStage['kind']): void {
  const pixelStages = stages.filter((s): s is PixelStage => s.kind === kind);
  expect(pixelStages.length).toBeGreaterThan(0);
  for (const s of pixelStages) {
    const read = floatStageAccess(s).reads.find((r) => r.buffer === s.in.name)!;
    for (let y = 0; y < s.rows; y++)
      for (let x = 0; x < s.cols; x++) {
        const reg = readRegion(read, { r0: y, r1: y + 1, x0: x, x1: x + 1 });
        for (const iy of trueReads(s, y, 'rows'))
          expect(iy >= reg.r0 && iy < reg.r1, `${s.name} (${y}, ${x}) reads row ${iy}`).toBe(true);
        for (const ix of trueReads(s, x, 'cols'))
          expect(ix >= reg.x0 && ix < reg.x1, `${s.name} (${y}, ${x}) reads col ${ix}`).toBe(true);
      }
  }
}

describe('declared reads of the per-pixel stages cover what their ops read', () => {
  it('bilinear and nearest resize (of a concat)', () => {
    const stages = stagesOf([3, 5, 7], (g, x) =>
      g.upsample('bl', g.upsample('nn', g.concat('cat', x, g.relu('r', x)), 'nearest'), 'bilinear'),
    );
    expectCovered(stages, 'resize');
  });
  it.each([
    [3, 2, 1],
    [2, 2, 0],
    [3, 1, 1],
  ] as const)('max and average pools, kernel %i stride %i pad %i', (k, s, p) => {
    expectCovered(
      stagesOf([4, 10, 14], (g, x) => g.maxPool('pool', x, { kernel: k, stride: s, pads: p })),
      'pool',
    );
    expectCovered(
      stagesOf([4, 10, 14], (g, x) =>
        g.avgPool2d('pool', x, { kernel: k, stride: s, pads: p, countIncludePad: false }),
      ),
      'pool',
    );
  });
  it.each([
    [3, 2, 1, 1],
    [2, 2, 0, 0],
    [4, 2, 1, 0],
    [3, 1, 1, 0],
  ] as const)('transposed conv kernel %i stride %i pad %i outputPadding %i', (k, s, p, op) => {
    expectCovered(
      stagesOf([4, 5, 7], (g, x) =>
        g.convTranspose2d('ct', x, { outChannels: 6, kernel: k, stride: s, pads: p, outputPadding: op }),
      ),
      'convT',
    );
  });
  it('unpool, pixel shuffle, global average pool, a per-channel mul', () => {
    expectCovered(
      stagesOf([4, 5, 7], (g, x) => g.unpool('u', x)),
      'unpool',
    );
    expectCovered(
      stagesOf([8, 5, 7], (g, x) => g.pixelShuffle('ps', x)),
      'pixelShuffle',
    );
    expectCovered(
      stagesOf([4, 5, 7], (g, x) => g.globalAvgPool('gap', x)),
      'gap',
    );
    const se = stagesOf([4, 5, 7], (g, x) => g.mul('m', x, g.sigmoid('s', g.globalAvgPool('gap', x))));
    expectCovered(se, 'map');
    const map = se.find(
      (s): s is Extract<PixelStage, { kind: 'map' }> => s.kind === 'map' && s.mul !== undefined,
    )!;
    const mulRead = floatStageAccess(map).reads.find((r) => r.buffer === map.mul!.name)!;
    // Every output pixel reads the 1x1 factor at (0, 0).
    expect(readRegion(mulRead, { r0: 3, r1: 5, x0: 4, x1: 7 })).toEqual({ r0: 0, r1: 1, x0: 0, x1: 1 });
  });
});
