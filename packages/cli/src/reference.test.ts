// The check case `compile` uses must be able to fail: its reference output must vary. Seeded
// weights are what `compile` writes and checks when no --weights is given.
import { ARCH_NAMES } from '@fastdepth/fastdepth-arch';
import { constantValue } from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { referenceCase } from './reference.js';
import { loadModel } from './weights-source.js';

/**
 * The family is 4 encoders x 34 decoders x 3 skip kinds (+ fastdepth, fastdepth-pruned).
 * All 410 take over 10 minutes in the float64 executor on a busy 2-core machine, so this
 * covers every decoder once, every encoder with every skip kind (the first 12 decoders take
 * the 12 pairings; the rest use the cheap MobileNet encoder, skip kinds in turn) and both
 * FastDepth networks: 36 networks. The seeded init is not specific to any of them.
 */
function representativeArchs(): string[] {
  const encoders = ['mobilenet', 'resnet18', 'resnet34', 'resnet50'];
  const skips = ['', '-skipadd', '-skipconcat'];
  const decoders = [
    ...new Set(
      ARCH_NAMES.filter((n) => n.startsWith('mobilenet-') && !n.includes('-skip')).map((n) => n.slice(10)),
    ),
  ];
  const picked = decoders.map((d, i) =>
    i < 12 ? `${encoders[i % 4]!}-${d}${skips[Math.floor(i / 4)]!}` : `mobilenet-${d}${skips[i % 3]!}`,
  );
  return ['fastdepth', 'fastdepth-pruned', ...picked];
}

describe('the seeded check case', () => {
  const archs = representativeArchs();

  it('covers every decoder, and every encoder with every skip kind, from the real list', () => {
    expect(archs).toHaveLength(36);
    for (const a of archs) expect(ARCH_NAMES).toContain(a);
    const parts = (a: string): string[] => /^(\w+?\d*)-(.+?)(-skipadd|-skipconcat)?$/.exec(a)!.slice(1);
    const family = ARCH_NAMES.filter((a) => !a.startsWith('fastdepth'));
    const all = (pick: (p: string[]) => string, names: readonly string[]): Set<string> =>
      new Set(names.map((a) => pick(parts(a))));
    expect(all(([, decoder]) => decoder!, archs.slice(2))).toEqual(all(([, decoder]) => decoder!, family));
    expect(all(([enc, , skip]) => `${enc} ${skip}`, archs.slice(2)).size).toBe(12);
  });

  // 32x32 (the smallest size the encoders take) keeps this to a minute or two.
  it.each(archs)('%s: seeded reference output is not constant', async (arch) => {
    const { model } = await loadModel({ arch, seed: 0, inputSize: 32 });
    const { expected } = referenceCase(model, arch);
    expect(constantValue(expected.data)).toBeUndefined();
    expect(expected.data.some((v) => v > 0)).toBe(true);
  });

  it('a constant reference is refused with the message, not checked', async () => {
    const { model } = await loadModel({ arch: 'fastdepth-pruned', seed: 0, inputSize: 32 });
    const weights = new Map(model.weights);
    // The last BatchNorm's scale at 0 and shift at 0.25: every pixel of the output is 0.25.
    weights.set('decode_conv6_bn.weight', { shape: [1], data: Float32Array.of(0) });
    weights.set('decode_conv6_bn.bias', { shape: [1], data: Float32Array.of(0.25) });
    expect(() => referenceCase({ graph: model.graph, weights }, 'fastdepth-pruned')).toThrow(
      'fastdepth-pruned: the reference output on the check input is constant (0.25 everywhere), so no parity check could fail against it: use weights whose output varies — nothing was written',
    );
  });
});
