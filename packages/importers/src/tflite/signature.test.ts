import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FormatError } from '@fastdepth/graph-dsl';
import { beforeAll, describe, expect, it } from 'vitest';
import { readTflite } from './read.js';
import { readTfliteSignatures, withoutSignatureDefs } from './signature.js';

const DATA =
  process.env.FASTDEPTH_DATA ??
  resolve(dirname(fileURLToPath(import.meta.url)), '../../../../../shared/data');
const TFLITE = resolve(DATA, 'weights/fast_depth_224.tflite');
const NONE = new Uint8Array(0);
/** Byte equality (vitest's deep equality walks 1.4 MB typed arrays element by element: slow). */
const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0;

describe('SignatureDefs of the published FastDepth', () => {
  let bytes: Uint8Array;
  beforeAll(() => {
    bytes = new Uint8Array(readFileSync(TFLITE));
  });

  it('reads the stale signature: int8 tensors 0 and 148, not the uint8 graph I/O', () => {
    const [signature, ...rest] = readTfliteSignatures(bytes, TFLITE);
    expect(rest).toHaveLength(0);
    expect(signature!.subgraphIndex).toBe(0);
    expect(signature!.inputs.map((m) => m.tensor)).toEqual([0]);
    expect(signature!.outputs.map((m) => m.tensor)).toEqual([148]);
    const file = readTflite(bytes, TFLITE);
    expect(file.inputs).toEqual([149]);
    expect(file.outputs).toEqual([150]);
    expect(file.tensors[0]!.type).not.toBe(file.tensors[149]!.type);
  });

  it('marks signature_defs absent in a copy that parses to the same graph', () => {
    const original = Uint8Array.from(bytes);
    const patched = withoutSignatureDefs(bytes, TFLITE);
    expect(same(bytes, original)).toBe(true);
    expect(patched).not.toBe(bytes);
    expect(readTfliteSignatures(patched, 'patched')).toEqual([]);
    // Only the 2-byte vtable entry differs (its high byte may have been 0 already), now 0.
    const changed: number[] = [];
    for (let i = 0; i < bytes.length; i++) if (patched[i] !== bytes[i]) changed.push(i);
    expect(changed.length).toBeGreaterThanOrEqual(1);
    expect(changed.at(-1)! - changed[0]!).toBeLessThanOrEqual(1);
    expect(changed.every((i) => patched[i] === 0)).toBe(true);
    // The same graph: tensors, operators, inputs and outputs.
    const [a, b] = [readTflite(patched, 'patched'), readTflite(bytes, TFLITE)];
    const strip = (f: typeof a) => ({ ...f, tensors: f.tensors.map((t) => ({ ...t, data: null })) });
    expect(strip(a)).toEqual(strip(b));
    expect(a.tensors.every((t, i) => same(t.data ?? NONE, b.tensors[i]!.data ?? NONE))).toBe(true);
    // Idempotent: a file without the field comes back as an equal copy.
    expect(same(withoutSignatureDefs(patched, 'patched'), patched)).toBe(true);
  });

  it('rejects a file that is not TFLite, naming it', () => {
    expect(() => withoutSignatureDefs(bytes.subarray(0, 6), 'tiny.tflite')).toThrow(FormatError);
    expect(() => readTfliteSignatures(bytes.subarray(0, 100_000), 'cut.tflite')).toThrow(
      /cut\.tflite: truncated or corrupt/,
    );
  });
});
