/**
 * Constant folding of the shape arithmetic PyTorch's exporter writes around Resize and
 * reshapes (`Shape -> Gather -> Unsqueeze -> Concat -> Cast -> ...`): every such node whose
 * inputs are all known at import time is evaluated here, so the recoverer only ever sees
 * constants where the DSL needs attributes. Values are float64 (exact for the small integers
 * of shapes and sizes).
 */
export interface Constant {
  readonly dims: readonly number[];
  readonly data: Float64Array;
}

/** The ops this module can evaluate on constants. */
export const FOLDABLE_OPS: ReadonlySet<string> = new Set([
  'Gather',
  'Unsqueeze',
  'Squeeze',
  'Concat',
  'Cast',
  'Slice',
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Floor',
  'Ceil',
  'Reshape',
  'ConstantOfShape',
  'Range',
]);

function numel(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

function axisOf(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** Numpy-style broadcast of two constants through `f`. */
function broadcast(a: Constant, b: Constant, f: (x: number, y: number) => number): Constant {
  const rank = Math.max(a.dims.length, b.dims.length);
  const pad = (d: readonly number[]): number[] => [...Array<number>(rank - d.length).fill(1), ...d];
  const da = pad(a.dims);
  const db = pad(b.dims);
  const dims = da.map((x, i) => Math.max(x, db[i]!));
  if (da.some((x, i) => x !== 1 && x !== dims[i]) || db.some((x, i) => x !== 1 && x !== dims[i]))
    throw new Error(`shapes [${a.dims.join(', ')}] and [${b.dims.join(', ')}] do not broadcast`);
  const data = new Float64Array(numel(dims));
  const index = (d: readonly number[], coords: readonly number[]): number =>
    coords.reduce((acc, c, i) => acc * d[i]! + (d[i] === 1 ? 0 : c), 0);
  for (let flat = 0; flat < data.length; flat++) {
    const coords: number[] = [];
    let rest = flat;
    for (let i = rank - 1; i >= 0; i--) {
      coords[i] = rest % dims[i]!;
      rest = Math.floor(rest / dims[i]!);
    }
    data[flat] = f(a.data[index(da, coords)]!, b.data[index(db, coords)]!);
  }
  return { dims, data };
}

/** Elements of `c` along `axis` at the given indices (numpy `take`). */
function take(c: Constant, indices: readonly number[], axis: number): { dims: number[]; data: number[] } {
  const ax = axisOf(axis, c.dims.length);
  const outer = numel(c.dims.slice(0, ax));
  const size = c.dims[ax]!;
  const inner = numel(c.dims.slice(ax + 1));
  const data: number[] = [];
  for (let o = 0; o < outer; o++)
    for (const raw of indices) {
      const i = raw < 0 ? raw + size : raw;
      if (i < 0 || i >= size) throw new Error(`index ${raw} is out of range for size ${size}`);
      for (let k = 0; k < inner; k++) data.push(c.data[(o * size + i) * inner + k]!);
    }
  return { dims: [...c.dims.slice(0, ax), indices.length, ...c.dims.slice(ax + 1)], data };
}

export interface FoldInput {
  readonly opType: string;
  /** Constant inputs in order; `undefined` for an omitted optional input. */
  readonly inputs: readonly (Constant | undefined)[];
  readonly int: (name: string, fallback: number) => number;
  readonly ints: (name: string) => readonly number[] | undefined;
  readonly tensor: (name: string) => Constant | undefined;
}

/**
 * Evaluates one foldable node on constant inputs. Throws an `Error` (turned into the importer's
 * error naming the node) when the inputs do not fit the op.
 */
export function foldConstant(n: FoldInput): Constant {
  const [a, b] = n.inputs;
  const need = (c: Constant | undefined, what: string): Constant => {
    if (!c) throw new Error(`needs its ${what} input`);
    return c;
  };
  switch (n.opType) {
    case 'Gather': {
      const data = need(a, 'data');
      const idx = need(b, 'indices');
      const r = take(data, [...idx.data], n.int('axis', 0));
      const ax = axisOf(n.int('axis', 0), data.dims.length);
      // Scalar indices drop the axis.
      const dims = idx.dims.length === 0 ? r.dims.filter((_, i) => i !== ax) : r.dims;
      return { dims, data: Float64Array.from(r.data) };
    }
    case 'Unsqueeze': {
      const x = need(a, 'data');
      const axes = n.ints('axes') ?? (b ? [...b.data] : undefined);
      if (!axes) throw new Error('needs axes');
      const rank = x.dims.length + axes.length;
      const norm = axes.map((v) => axisOf(v, rank)).sort((p, q) => p - q);
      const dims = [...x.dims];
      for (const ax of norm) dims.splice(ax, 0, 1);
      return { dims, data: x.data };
    }
    case 'Squeeze': {
      const x = need(a, 'data');
      const axes = n.ints('axes') ?? (b ? [...b.data] : undefined);
      const drop = new Set(
        (axes ?? x.dims.flatMap((d, i) => (d === 1 ? [i] : []))).map((v) => axisOf(v, x.dims.length)),
      );
      return { dims: x.dims.filter((_, i) => !drop.has(i)), data: x.data };
    }
    case 'Concat': {
      const parts = n.inputs.map((c) => need(c, 'data'));
      const axis = axisOf(n.int('axis', 0), parts[0]!.dims.length);
      if (axis !== 0 || parts.some((p) => p.dims.length !== 1))
        throw new Error('only 1-D constants are concatenated at import time');
      const data = Float64Array.from(parts.flatMap((p) => [...p.data]));
      return { dims: [data.length], data };
    }
    case 'Cast': {
      const x = need(a, 'input');
      // ONNX TensorProto data types: 1 float, 6 int32, 7 int64, 10 float16, 11 double.
      const to = n.int('to', 1);
      const integer = to === 6 || to === 7 || to === 2 || to === 3 || to === 4 || to === 5;
      return {
        dims: x.dims,
        data: integer ? x.data.map((v) => Math.trunc(v)) : x.data.map((v) => Math.fround(v)),
      };
    }
    case 'Slice': {
      const x = need(a, 'data');
      if (x.dims.length !== 1) throw new Error('only 1-D constants are sliced at import time');
      const starts = n.ints('starts') ?? [...need(b, 'starts').data];
      const ends = n.ints('ends') ?? [...need(n.inputs[2], 'ends').data];
      const steps = n.inputs[4] ? [...n.inputs[4].data] : [1];
      const size = x.dims[0]!;
      const clampIndex = (v: number): number => Math.max(0, Math.min(size, v < 0 ? v + size : v));
      const step = steps[0] ?? 1;
      if (step !== 1) throw new Error(`slice step ${step} is not folded`);
      const data = x.data.slice(clampIndex(starts[0]!), clampIndex(ends[0]!));
      return { dims: [data.length], data };
    }
    case 'Add':
      return broadcast(need(a, 'A'), need(b, 'B'), (x, y) => x + y);
    case 'Sub':
      return broadcast(need(a, 'A'), need(b, 'B'), (x, y) => x - y);
    case 'Mul':
      return broadcast(need(a, 'A'), need(b, 'B'), (x, y) => x * y);
    case 'Div':
      return broadcast(need(a, 'A'), need(b, 'B'), (x, y) => x / y);
    case 'Floor':
      return { dims: need(a, 'X').dims, data: need(a, 'X').data.map(Math.floor) };
    case 'Ceil':
      return { dims: need(a, 'X').dims, data: need(a, 'X').data.map(Math.ceil) };
    case 'Reshape': {
      const x = need(a, 'data');
      const shape = [...need(b, 'shape').data];
      const known = shape.reduce((p, d, i) => p * (d === -1 ? 1 : d === 0 ? x.dims[i]! : d), 1);
      const dims = shape.map((d, i) => (d === -1 ? numel(x.dims) / known : d === 0 ? x.dims[i]! : d));
      if (numel(dims) !== numel(x.dims))
        throw new Error(`cannot reshape [${x.dims.join(', ')}] to [${shape.join(', ')}]`);
      return { dims, data: x.data };
    }
    case 'ConstantOfShape': {
      const dims = [...need(a, 'shape').data];
      const value = n.tensor('value')?.data[0] ?? 0;
      return { dims, data: new Float64Array(numel(dims)).fill(value) };
    }
    case 'Range': {
      const [start, limit, delta] = n.inputs.map((c) => need(c, 'scalar').data[0]!);
      const data: number[] = [];
      for (let v = start!; delta! > 0 ? v < limit! : v > limit!; v += delta!) data.push(v);
      return { dims: [data.length], data: Float64Array.from(data) };
    }
    default:
      throw new Error(`${n.opType} is not folded`);
  }
}
