import { FastDepthError } from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import {
  ARCH_NAMES,
  describeArch,
  editDistance,
  formatArchName,
  parseArchName,
  suggestArchNames,
  unknownArchError,
} from './names.js';

describe('architecture names', () => {
  it('lists the aliases first, then 4 encoders x 34 decoders x 3 skip modes, without duplicates', () => {
    expect(ARCH_NAMES.slice(0, 2)).toEqual(['fastdepth', 'fastdepth-pruned']);
    expect(ARCH_NAMES).toHaveLength(2 + 4 * 34 * 3);
    expect(new Set(ARCH_NAMES).size).toBe(ARCH_NAMES.length);
    expect(ARCH_NAMES).toContain('mobilenet-nnconv5dw-skipadd');
    expect(ARCH_NAMES).toContain('resnet50-upproj-skipconcat');
    expect(ARCH_NAMES).toContain('resnet18-deconv3');
    expect(ARCH_NAMES).not.toContain('mobilenet-upconv5');
  });

  it('parses family names and aliases', () => {
    expect(parseArchName('fastdepth')).toEqual({
      encoder: 'mobilenet',
      decoder: { kind: 'nnconv', kernel: 5, depthwise: true },
      skip: 'add',
    });
    expect(parseArchName('fastdepth-pruned')).toEqual(parseArchName('mobilenet-nnconv5dw-skipadd'));
    expect(parseArchName('resnet50-upproj-skipconcat')).toEqual({
      encoder: 'resnet50',
      decoder: { kind: 'upproj', depthwise: false },
      skip: 'concat',
    });
    expect(parseArchName('resnet34-shuffle9')).toEqual({
      encoder: 'resnet34',
      decoder: { kind: 'shuffle', kernel: 9, depthwise: false },
      skip: 'none',
    });
  });

  it('formats every family name back to itself', () => {
    for (const name of ARCH_NAMES.slice(2)) expect(formatArchName(parseArchName(name))).toBe(name);
  });

  it('rejects an unknown name in one line with close matches and the list hint', () => {
    expect(() => parseArchName('fastdeph')).toThrow(FastDepthError);
    const message = unknownArchError('fastdeph').message;
    expect(message).toMatch(/^unknown architecture "fastdeph" \(did you mean "fastdepth"/);
    expect(message).toContain('`fastdepth list`');
    expect(message).not.toContain('\n');
    expect(suggestArchNames('mobilenet-nnconv4dw-skipadd')).toEqual([
      'mobilenet-nnconv3dw-skipadd',
      'mobilenet-nnconv5dw-skipadd',
      'mobilenet-nnconv7dw-skipadd',
    ]);
    expect(unknownArchError('vgg16').message).toBe(
      `unknown architecture "vgg16"; run \`fastdepth list\` to see all ${ARCH_NAMES.length} names`,
    );
  });

  it('computes edit distances', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('same', 'same')).toBe(0);
  });

  it('describes every name in one line', () => {
    for (const name of ARCH_NAMES) {
      const text = describeArch(name);
      expect(text.length).toBeGreaterThan(10);
      expect(text).not.toContain('\n');
    }
    expect(describeArch('resnet18-blconv7dw-skipconcat')).toBe(
      'ResNet-18 encoder (+1x1 conv to 1024), BLConv7dw decoder (depthwise 7x7 + pointwise, bilinear x2), concatenated skips',
    );
    expect(() => describeArch('nope')).toThrow(/unknown architecture "nope"/);
  });
});
