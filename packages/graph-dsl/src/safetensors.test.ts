import { describe, expect, it } from 'vitest';
import { GraphBuilder } from './builder.js';
import { FormatError, WeightsError } from './errors.js';
import { decodeSafetensors, encodeSafetensors } from './safetensors.js';
import { checkWeights, initWeights } from './weights.js';

function tinyGraph() {
  const g = new GraphBuilder('tiny');
  const x = g.input('input', [1, 3, 8, 8]);
  g.output(
    'depth',
    g.batchNorm('bn', g.conv2d('conv', x, { outChannels: 4, kernel: 3, pads: 1, bias: true })),
  );
  return g.build();
}

describe('safetensors', () => {
  it('round-trips weights bit for bit, with metadata', () => {
    const graph = tinyGraph();
    const weights = initWeights(graph, 3);
    const bytes = encodeSafetensors(weights, { arch: 'tiny' });
    const back = decodeSafetensors(bytes, 'w.safetensors');
    expect(back.metadata).toEqual({ arch: 'tiny' });
    expect([...back.weights.keys()].sort()).toEqual([...weights.keys()].sort());
    for (const [name, t] of weights) {
      expect(back.weights.get(name)!.shape).toEqual(t.shape);
      expect(back.weights.get(name)!.data).toEqual(t.data);
    }
    // The data section starts 8-byte aligned, as the reference implementation writes it.
    const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + headerLen) % 8).toBe(0);
    checkWeights(graph, back.weights, 'w.safetensors');
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const graph = tinyGraph();
    expect(encodeSafetensors(initWeights(graph, 1))).toEqual(encodeSafetensors(initWeights(graph, 1)));
    expect(encodeSafetensors(initWeights(graph, 1))).not.toEqual(encodeSafetensors(initWeights(graph, 2)));
  });

  it('rejects truncated files, naming the file', () => {
    const bytes = encodeSafetensors(initWeights(tinyGraph(), 0));
    expect(() => decodeSafetensors(bytes.subarray(0, 4), 'w.safetensors')).toThrow(
      /w\.safetensors: too short/,
    );
    expect(() => decodeSafetensors(bytes.subarray(0, 40), 'w.safetensors')).toThrow(FormatError);
    expect(() => decodeSafetensors(bytes.subarray(0, bytes.length - 4), 'w.safetensors')).toThrow(
      /lies outside the .* data bytes \(file truncated\?\)/,
    );
  });

  it('rejects a garbage header and unsupported dtypes', () => {
    const junk = new Uint8Array(16);
    new DataView(junk.buffer).setBigUint64(0, 8n, true);
    expect(() => decodeSafetensors(junk, 'x.safetensors')).toThrow(/header is not valid JSON/);
    const header = new TextEncoder().encode(
      JSON.stringify({ t: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }),
    );
    const file = new Uint8Array(8 + header.length + 8);
    new DataView(file.buffer).setBigUint64(0, BigInt(header.length), true);
    file.set(header, 8);
    expect(() => decodeSafetensors(file, 'x.safetensors')).toThrow(/tensor "t": unsupported dtype "I64"/);
  });

  it('reads F16 and F64 tensors as float32', () => {
    const header = new TextEncoder().encode(
      JSON.stringify({
        h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] },
        d: { dtype: 'F64', shape: [1], data_offsets: [4, 12] },
      }),
    );
    const file = new Uint8Array(8 + header.length + 12);
    const view = new DataView(file.buffer);
    view.setBigUint64(0, BigInt(header.length), true);
    file.set(header, 8);
    const at = 8 + header.length;
    view.setUint16(at, 0x3c00, true); // 1.0
    view.setUint16(at + 2, 0xc000, true); // -2.0
    view.setFloat64(at + 4, 0.25, true);
    const { weights } = decodeSafetensors(file);
    expect([...weights.get('h')!.data]).toEqual([1, -2]);
    expect([...weights.get('d')!.data]).toEqual([0.25]);
  });
});

describe('checkWeights', () => {
  const graph = tinyGraph();
  it('names the first missing, misshapen, non-finite or unexpected tensor', () => {
    const good = initWeights(graph, 0);
    const missing = new Map(good);
    missing.delete('bn.running_var');
    expect(() => checkWeights(graph, missing, 'w.safetensors')).toThrow(WeightsError);
    expect(() => checkWeights(graph, missing, 'w.safetensors')).toThrow(
      /w\.safetensors: tensor "bn\.running_var": missing \(expected shape 4\)/,
    );
    const shaped = new Map(good).set('conv.weight', { shape: [4, 3, 1, 1], data: new Float32Array(12) });
    expect(() => checkWeights(graph, shaped)).toThrow(
      /tensor "conv\.weight": shape 4x3x1x1 does not match the graph's 4x3x3x3/,
    );
    const nan = new Map(good).set('conv.bias', { shape: [4], data: Float32Array.of(0, Number.NaN, 0, 0) });
    expect(() => checkWeights(graph, nan)).toThrow(
      /tensor "conv\.bias": value NaN at flat index 1 is not finite/,
    );
    const extra = new Map(good).set('ghost.weight', { shape: [1], data: new Float32Array(1) });
    expect(() => checkWeights(graph, extra)).toThrow(
      /tensor "ghost\.weight": is not a parameter of graph "tiny"/,
    );
  });
});
