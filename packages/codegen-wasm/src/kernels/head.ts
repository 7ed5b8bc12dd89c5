/**
 * A 1x1 conv to one output channel (the depth head, `decode_conv6`): per pixel a dot product
 * over the input channels, vectorised over channels (4 per v128) and reduced with two shuffles.
 * Vectorising over output channels, as the GEMM does, would waste 3 of 4 lanes here. Two pixels
 * per iteration give the CPU two independent multiply-add chains.
 */
import { pad4, type Buffer, type ConvGeom } from '../plan.js';
import { geomOf } from '../layout.js';
import type { Expr, Fn } from './builder.js';
import type { EpilogueWriter } from './epilogue.js';

export function headRows(
  f: Fn,
  c: { in: Buffer; g: ConvGeom; wAddr: number; bAddr: number; epi: EpilogueWriter; r0: number; r1: number },
): Expr {
  const m = f.m;
  const { g } = c;
  const gi = geomOf(c.in);
  const vecs = pad4(g.cin) / 4;
  const y = f.i32Local();
  const x = f.i32Local();
  const ip = f.i32Local();
  const acc = [f.v128Local(), f.v128Local()];
  const t = f.v128Local();
  const P = g.ow % 2 === 0 ? 2 : 1;

  const pixel: Expr[] = [
    f.set(ip, f.add(f.c(gi.origin), f.add(f.mul(f.get(y), f.c(gi.rs)), f.mul(f.get(x), f.c(gi.pix))))),
  ];
  for (let p = 0; p < P; p++) pixel.push(f.set(acc[p]!, f.zero()));
  for (let v = 0; v < vecs; v++) {
    for (let p = 0; p < P; p++)
      pixel.push(
        f.set(
          acc[p]!,
          f.madd(f.load(f.get(ip), p * gi.pix + v * 16), f.load(f.c(c.wAddr), v * 16), f.get(acc[p]!)),
        ),
      );
  }
  pixel.push(
    ...c.epi.setup(
      () => f.get(y),
      () => f.get(x),
      () => f.c(0),
    ),
  );
  for (let p = 0; p < P; p++) {
    // Horizontal sum: swap halves and add, swap pairs and add; lane 0 holds the total.
    const a = (): Expr => f.get(acc[p]!);
    pixel.push(
      f.set(
        t,
        m.f32x4.add(a(), m.i8x16.shuffle(a(), a(), [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7])),
      ),
    );
    pixel.push(
      f.set(
        t,
        m.f32x4.add(
          f.get(t),
          m.i8x16.shuffle(f.get(t), f.get(t), [4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11]),
        ),
      ),
    );
    // Lanes 1..3 must be zero: they are the padded channels of an NHWC result.
    const sum = m.f32.add(m.f32x4.extract_lane(f.get(t), 0), m.f32.load(0, 4, f.c(c.bAddr)));
    pixel.push(...c.epi.store(m.f32x4.replace_lane(f.zero(), 0, sum), p, 0));
  }
  return f.loop(y, f.get(c.r0), () => f.get(c.r1), 1, [f.loop(x, f.c(0), () => f.c(g.ow), P, pixel)]);
}
