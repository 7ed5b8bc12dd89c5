/**
 * XᵀX and XᵀY of a block of rows, computed by onnxruntime's SGEMM (a two-MatMul ONNX model
 * per column count, rows dynamic). Plain JavaScript loops reach about 0.6 GFLOP/s here, which
 * made the normal equations the cost of reconstruction; onnxruntime's multithreaded GEMM is
 * tens of times faster. Each block's float32 products are accumulated in float64
 * (`NormalEquations.accumulate`), so precision does not depend on the calibration set's size.
 */
import { proto } from '@fastdepth/codegen-onnx';
import type { NormalEquations } from './linalg.js';

type Ort = typeof import('onnxruntime-node');
type Session = Awaited<ReturnType<Ort['InferenceSession']['create']>>;

const FLOAT = 1;

function gramModel(columns: number, outputs: number): Uint8Array {
  const info = (name: string, dims: readonly (number | string)[]) =>
    proto.ValueInfoProto.create({
      name,
      type: {
        tensorType: {
          elemType: FLOAT,
          shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
        },
      },
    });
  const model = proto.ModelProto.create({
    irVersion: 7,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'fastdepth-netadapt',
    graph: proto.GraphProto.create({
      name: 'gram',
      node: [
        proto.NodeProto.create({ opType: 'Transpose', input: ['x'], output: ['xt'], name: 't' }),
        proto.NodeProto.create({ opType: 'MatMul', input: ['xt', 'x'], output: ['xx'], name: 'g' }),
        proto.NodeProto.create({ opType: 'MatMul', input: ['xt', 'y'], output: ['xy'], name: 'c' }),
      ],
      input: [info('x', ['rows', columns]), info('y', ['rows', outputs])],
      output: [info('xx', [columns, columns]), info('xy', [columns, outputs])],
    }),
  });
  return proto.ModelProto.encode(model).finish();
}

/** Cached sessions, one per (columns, outputs). */
export class GramKernel {
  private readonly sessions = new Map<string, Promise<Session>>();
  private ort: Promise<Ort> | undefined;

  private session(columns: number, outputs: number): Promise<Session> {
    const key = `${columns}x${outputs}`;
    let s = this.sessions.get(key);
    if (!s) {
      s = (this.ort ??= import('onnxruntime-node')).then((ort) =>
        ort.InferenceSession.create(gramModel(columns, outputs)),
      );
      this.sessions.set(key, s);
    }
    return s;
  }

  /**
   * Adds `rows` rows to `eq`: `x` is rows x (inputs + 1) with the constant 1 already in the
   * last column, `y` is rows x outputs (both row-major).
   */
  async add(eq: NormalEquations, x: Float32Array, y: Float32Array, rows: number): Promise<void> {
    if (rows === 0) return;
    const n = eq.inputs + 1;
    const ort = await (this.ort ??= import('onnxruntime-node'));
    const session = await this.session(n, eq.outputs);
    const r = await session.run({
      x: new ort.Tensor('float32', x.subarray(0, rows * n), [rows, n]),
      y: new ort.Tensor('float32', y.subarray(0, rows * eq.outputs), [rows, eq.outputs]),
    });
    eq.accumulate(r.xx!.data as Float32Array, r.xy!.data as Float32Array, y, rows);
  }

  async close(): Promise<void> {
    const all = await Promise.all(this.sessions.values());
    this.sessions.clear();
    await Promise.all(all.map((s) => s.release()));
  }
}
