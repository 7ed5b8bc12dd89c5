/**
 * The SignatureDefs of a TFLite file (`Model.signature_defs`: named entry points mapping input
 * and output names to tensor indices), and a copy of a file with them marked absent. The
 * published FastDepth's SignatureDef is stale: it names the int8 tensors 0 and 148, while the
 * subgraph's real inputs and outputs are the uint8 tensors behind the QUANTIZE ops, so runtimes
 * that go through signatures (LiteRT.js) refuse it. Without the field they fall back to the
 * subgraph's own inputs and outputs.
 */
import { FormatError } from '@fastdepth/graph-dsl';
import { CheckedByteBuffer, OutOfBounds, readTflite } from './read.js';
import { Model } from './schema.js';

/** One SignatureDef: its key, subgraph and name -> tensor index maps. */
export interface TfliteSignature {
  readonly key: string;
  readonly subgraphIndex: number;
  readonly inputs: readonly { readonly name: string; readonly tensor: number }[];
  readonly outputs: readonly { readonly name: string; readonly tensor: number }[];
}

function withModel<T>(bytes: Uint8Array, source: string, read: (model: Model) => T): T {
  // Validates the identifier, schema version and every tensor / operator first.
  readTflite(bytes, source);
  try {
    return read(Model.getRootAsModel(new CheckedByteBuffer(bytes)));
  } catch (error) {
    if (error instanceof OutOfBounds || error instanceof RangeError) {
      throw new FormatError(source, `truncated or corrupt signature_defs (${error.message})`);
    }
    throw error;
  }
}

/** The file's SignatureDefs (none when the field is absent). */
export function readTfliteSignatures(bytes: Uint8Array, source: string): TfliteSignature[] {
  return withModel(bytes, source, (model) =>
    Array.from({ length: model.signatureDefsLength() }, (_, i) => {
      const def = model.signatureDefs(i)!;
      const map = (length: number, at: (j: number) => { name(): string | null; tensorIndex(): number }) =>
        Array.from({ length }, (_, j) => ({ name: at(j).name() ?? '', tensor: at(j).tensorIndex() }));
      return {
        key: def.signatureKey() ?? '',
        subgraphIndex: def.subgraphIndex(),
        inputs: map(def.inputsLength(), (j) => def.inputs(j)!),
        outputs: map(def.outputsLength(), (j) => def.outputs(j)!),
      };
    }),
  );
}

/**
 * A copy of `bytes` whose `Model.signature_defs` field is marked absent: its 2-byte vtable
 * entry set to 0 (the vector stays in the file, unreferenced). `bytes` is not modified. A file
 * without the field comes back as an unchanged copy.
 */
export function withoutSignatureDefs(bytes: Uint8Array, source: string): Uint8Array {
  const entry = withModel(bytes, source, (model) =>
    model.signatureDefsLength() === 0 ? null : model.vtableEntry(Model.SIGNATURE_DEFS),
  );
  const copy = Uint8Array.from(bytes);
  if (entry !== null) copy.set([0, 0], entry);
  return copy;
}
