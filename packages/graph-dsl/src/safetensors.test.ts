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

/** A safetensors file made by hand: `header` as JSON, then `dataBytes` bytes counting up. */
function craft(header: unknown, dataBytes: number, rawHeaderLen?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const file = new Uint8Array(8 + json.length + dataBytes);
  new DataView(file.buffer).setBigUint64(0, rawHeaderLen ?? BigInt(json.length), true);
  file.set(json, 8);
  for (let i = 0; i < dataBytes; i++) file[8 + json.length + i] = i & 0xff;
  return file;
}

describe('safetensors offsets follow the format rules', () => {
  const f32 = (shape: number[], begin: number, end: number) => ({
    dtype: 'F32',
    shape,
    data_offsets: [begin, end],
  });
  const decode = (bytes: Uint8Array) => () => decodeSafetensors(bytes, 'evil.safetensors');

  it('accepts tensors that tile the data section in any header order', () => {
    const { weights } = decodeSafetensors(
      craft({ b: f32([1], 4, 8), a: f32([1], 0, 4), e: f32([0], 8, 8) }, 8),
    );
    expect(weights.get('a')!.shape).toEqual([1]);
    expect(weights.get('e')!.data.length).toBe(0);
  });

  it('refuses a negative begin (which would read the header as data), naming file and tensor', () => {
    expect(decode(craft({ w: f32([432], -1728, 0) }, 0))).toThrow(
      'evil.safetensors: tensor "w": data_offsets must be two non-negative integers [begin, end], found [-1728,0]',
    );
    expect(decode(craft({ w: f32([1], -1e12, -1e12 + 4) }, 4))).toThrow(/tensor "w": data_offsets must be/);
  });

  it('refuses non-integer, missing, reversed and out-of-range offsets', () => {
    expect(decode(craft({ w: f32([1], 0.5, 4.5) }, 8))).toThrow(/tensor "w": data_offsets must be/);
    expect(decode(craft({ w: { dtype: 'F32', shape: [1] } }, 4))).toThrow(/tensor "w": data_offsets must be/);
    expect(decode(craft({ w: f32([0], 4, 0) }, 4))).toThrow(
      'evil.safetensors: tensor "w": data_offsets [4, 0] end before they begin',
    );
    expect(decode(craft({ w: f32([1], 4, 8) }, 4))).toThrow(
      'evil.safetensors: tensor "w": data [4, 8) lies outside the 4 data bytes (file truncated?)',
    );
    expect(decode(craft({ w: f32([2], 0, 4) }, 4))).toThrow(
      'evil.safetensors: tensor "w": 4 bytes for shape [2] of F32 (needs 8)',
    );
  });

  it('refuses overlapping tensors', () => {
    expect(decode(craft({ a: f32([2], 0, 8), b: f32([1], 4, 8) }, 8))).toThrow(
      'evil.safetensors: tensor "b": data [4, 8) overlaps tensor "a" (which ends at 8)',
    );
    // The same bytes read twice.
    expect(decode(craft({ a: f32([1], 0, 4), b: f32([1], 0, 4) }, 4))).toThrow(/overlaps tensor/);
  });

  it('refuses holes and bytes after the last tensor', () => {
    expect(decode(craft({ a: f32([1], 0, 4), b: f32([1], 8, 12) }, 12))).toThrow(
      'evil.safetensors: tensor "b": data begins at 8 but tensor "a" ends at 4 (a hole of 4 bytes)',
    );
    expect(decode(craft({ a: f32([1], 4, 8) }, 8))).toThrow(
      'evil.safetensors: tensor "a": data begins at 4 but the data section begins at 0 (a hole of 4 bytes)',
    );
    expect(decode(craft({ a: f32([1], 0, 4) }, 12))).toThrow(
      'evil.safetensors: 8 bytes after the last tensor ("a", ending at 4) belong to no tensor (the data section is 12 bytes)',
    );
    expect(decode(craft({}, 4))).toThrow(/4 bytes after the last tensor belong to no tensor/);
  });

  it('refuses a huge or overlong header length and a header that is not a JSON object', () => {
    expect(decode(craft({}, 0, 2n ** 63n))).toThrow(
      `evil.safetensors: header length ${2n ** 63n} is more than the 104857600 bytes a safetensors header may have`,
    );
    expect(decode(craft({}, 0, 1000n))).toThrow(
      /evil\.safetensors: header length 1000 exceeds the file size 10 \(truncated or not safetensors\)/,
    );
    expect(decode(craft('{"w": [1, 2', 0))).toThrow('evil.safetensors: header is not valid JSON');
    expect(decode(craft('[1, 2]', 0))).toThrow('evil.safetensors: header must be a JSON object');
    expect(decode(craft({ w: 7 }, 0))).toThrow('evil.safetensors: tensor "w": entry must be an object');
    expect(decode(craft({ __metadata__: { a: 1 } }, 0))).toThrow(
      /"__metadata__" must be an object of strings/,
    );
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
