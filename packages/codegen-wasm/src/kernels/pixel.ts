/**
 * The float build's per-pixel stages (`PixelStage` in plan.ts) and the concat copy: each output
 * pixel of a thread's rectangle computed from a few input pixels, one v128 (4 channels) at a time,
 * then sent through the conv epilogue (activations, skip add, NCHW output). These ops move data
 * rather than multiply it (a transposed conv aside), so the loops stay simple: one pixel at a
 * time, a runtime loop over channel vectors with every pointer bumped by 16 bytes.
 *
 * Taps of a pooling window that fall in the padding read the buffer's zero halo (its width is at
 * least the pool's pad); max pooling masks them to -inf, average pooling divides by the window or
 * by the taps inside the input (`countIncludePad`).
 */
import binaryen from 'binaryen';
import { nearestSourceIndex } from '@fastdepth/graph-dsl';
import type { Buffer, ConcatStage, PixelStage } from '../plan.js';
import { geomOf } from '../layout.js';
import type { Expr, Fn } from './builder.js';
import type { EpilogueWriter } from './epilogue.js';

/** Params of every stage function: rows [r0, r1), columns [x0, x1). */
export interface Rect {
  readonly r0: number;
  readonly r1: number;
  readonly x0: number;
  readonly x1: number;
}

interface Loop {
  readonly rect: Rect;
  /** Output channels padded to 4. */
  readonly cp: number;
  readonly epi: EpilogueWriter;
  /** Per output row, before its pixels (y: the row's local). */
  readonly row?: (y: number) => Expr[];
  /** Per pixel, before the channel loop (y, x: locals of the output pixel). */
  readonly pixel: (y: number, x: number) => Expr[];
  /** One output vector; then `step` moves every input pointer on by 4 channels. */
  readonly value: () => Expr;
  readonly step: () => Expr[];
}

function pixelLoop(f: Fn, c: Loop): Expr {
  const y = f.i32Local();
  const x = f.i32Local();
  const k = f.i32Local();
  return f.loop(y, f.get(c.rect.r0), () => f.get(c.rect.r1), 1, [
    ...(c.row ? c.row(y) : []),
    f.loop(x, f.get(c.rect.x0), () => f.get(c.rect.x1), 1, [
      ...c.epi.setup(
        () => f.get(y),
        () => f.get(x),
        () => f.c(0),
      ),
      ...c.pixel(y, x),
      f.repeat(k, c.cp / 4, [...c.epi.store(c.value(), 0, 0), ...c.epi.advance(4), ...c.step()]),
    ]),
  ]);
}

/** ptr := address of pixel (y, x) of `b` (y, x: i32 expressions). */
function at(f: Fn, ptr: number, b: Buffer, y: Expr, x: Expr, extra = 0): Expr {
  const g = geomOf(b);
  return f.set(ptr, f.add(f.c(g.origin + extra), f.add(f.mul(y, f.c(g.rs)), f.mul(x, f.c(g.pix)))));
}

/** The stage function body of a pixel stage; `wAddr`: its packed constants (map affine, convT). */
export function pixelRows(
  f: Fn,
  s: PixelStage,
  epi: EpilogueWriter,
  rect: Rect,
  w: { wAddr: number; bAddr: number },
): Expr {
  const m = f.m;
  const cpOut = s.kind === 'convT' ? Math.ceil(s.conv.cout / 4) * 4 : Math.ceil(outChannels(s) / 4) * 4;
  switch (s.kind) {
    case 'map': {
      const ip = f.i32Local();
      const tps = s.terms.map(() => f.i32Local());
      const mp = f.i32Local();
      const ap = f.i32Local();
      const perChannel = s.mul !== undefined && s.mul.h === 1 && s.mul.w === 1;
      return pixelLoop(f, {
        rect,
        cp: s.in.cp,
        epi,
        pixel: (y, x) => [
          at(f, ip, s.in, f.get(y), f.get(x)),
          ...s.terms.map((t, j) => at(f, tps[j]!, t, f.get(y), f.get(x))),
          ...(s.mul
            ? [perChannel ? f.set(mp, f.c(geomOf(s.mul).origin)) : at(f, mp, s.mul, f.get(y), f.get(x))]
            : []),
          ...(s.affine ? [f.set(ap, f.c(w.wAddr))] : []),
        ],
        value: () => {
          let v = f.load(f.get(ip), 0);
          for (const tp of tps) v = m.f32x4.add(v, f.load(f.get(tp), 0));
          if (s.mul) v = m.f32x4.mul(v, f.load(f.get(mp), 0));
          if (s.affine) v = m.f32x4.add(m.f32x4.mul(v, f.load(f.get(ap), 0)), f.load(f.get(ap), s.in.cp * 4));
          return v;
        },
        step: () => [
          f.bump(ip, 16),
          ...tps.map((t) => f.bump(t, 16)),
          ...(s.mul ? [f.bump(mp, 16)] : []),
          ...(s.affine ? [f.bump(ap, 16)] : []),
        ],
      });
    }
    case 'resize':
      return s.mode === 'nearest' ? nearest(f, s, epi, rect, w.wAddr) : bilinear(f, s, epi, rect, w.wAddr);
    case 'unpool': {
      const ip = f.i32Local();
      const on = f.i32Local();
      const sc = s.scale;
      return pixelLoop(f, {
        rect,
        cp: s.in.cp,
        epi,
        pixel: (y, x) => [
          at(f, ip, s.in, m.i32.div_u(f.get(y), f.c(sc)), m.i32.div_u(f.get(x), f.c(sc))),
          f.set(on, m.i32.eqz(m.i32.or(m.i32.rem_u(f.get(y), f.c(sc)), m.i32.rem_u(f.get(x), f.c(sc))))),
        ],
        value: () => m.select(f.get(on), f.load(f.get(ip), 0), f.zero()),
        step: () => [f.bump(ip, 16)],
      });
    }
    case 'pixelShuffle': {
      const r = s.block;
      const ip = f.i32Local();
      const y = f.i32Local();
      const x = f.i32Local();
      const c = outChannels(s);
      const body: Expr[] = [
        ...epi.setup(
          () => f.get(y),
          () => f.get(x),
          () => f.c(0),
        ),
        // Output channel c at (y, x) is input channel c r^2 + (y % r) r + x % r at (y / r, x / r).
        at(f, ip, s.in, m.i32.div_u(f.get(y), f.c(r)), m.i32.div_u(f.get(x), f.c(r))),
        f.set(
          ip,
          f.add(
            f.get(ip),
            f.mul(f.add(f.mul(m.i32.rem_u(f.get(y), f.c(r)), f.c(r)), m.i32.rem_u(f.get(x), f.c(r))), f.c(4)),
          ),
        ),
      ];
      for (let cv = 0; cv < cpOut / 4; cv++) {
        let v = f.zero();
        for (let l = 0; l < 4 && cv * 4 + l < c; l++)
          v = m.f32x4.replace_lane(v, l, m.f32.load((cv * 4 + l) * r * r * 4, 4, f.get(ip)));
        body.push(...epi.store(v, 0, cv * 4));
      }
      return f.loop(y, f.get(rect.r0), () => f.get(rect.r1), 1, [
        f.loop(x, f.get(rect.x0), () => f.get(rect.x1), 1, body),
      ]);
    }
    case 'pool':
      return pool(f, s, epi, rect);
    case 'gap': {
      const g = geomOf(s.in);
      const k = f.i32Local();
      const yy = f.i32Local();
      const xx = f.i32Local();
      const cb = f.i32Local();
      const acc = f.v128Local();
      const body = [
        f.set(acc, f.zero()),
        f.loop(yy, f.c(0), () => f.c(s.in.h), 1, [
          f.loop(xx, f.c(0), () => f.c(s.in.w), 1, [
            f.set(
              acc,
              m.f32x4.add(
                f.get(acc),
                f.load(f.add(f.get(cb), f.add(f.mul(f.get(yy), f.c(g.rs)), f.mul(f.get(xx), f.c(g.pix)))), 0),
              ),
            ),
          ]),
        ]),
        ...epi.store(m.f32x4.mul(f.get(acc), f.f32x4(1 / (s.in.h * s.in.w))), 0, 0),
        ...epi.advance(4),
        f.bump(cb, 16),
      ];
      // One output pixel: computed by the thread given row 0.
      return m.if(
        m.i32.lt_s(f.get(rect.r0), f.get(rect.r1)),
        f.block([
          ...epi.setup(
            () => f.c(0),
            () => f.c(0),
            () => f.c(0),
          ),
          f.set(cb, f.c(g.origin)),
          f.repeat(k, s.in.cp / 4, body),
        ]),
      );
    }
    case 'convT':
      return convTranspose(f, s, epi, rect, w);
  }
}

/** Channels of a pixel stage's output. */
function outChannels(s: PixelStage): number {
  switch (s.kind) {
    case 'pixelShuffle':
      return s.in.c / (s.block * s.block);
    case 'convT':
      return s.conv.cout;
    default:
      return s.in.c;
  }
}

/**
 * The source row of every output row, then the source column of every output column, of a
 * nearest resize: graph-dsl's `nearestSourceIndex`, PyTorch's float32 arithmetic, which reads
 * other rows than exact division for some sizes (2 -> 82), so it is tabled at emit time, not
 * recomputed in integers.
 */
export function nearestTable(s: Extract<PixelStage, { kind: 'resize' }>): Int32Array {
  return Int32Array.from([
    ...Array.from({ length: s.rows }, (_, o) => nearestSourceIndex(o, s.in.h, s.rows)),
    ...Array.from({ length: s.cols }, (_, o) => nearestSourceIndex(o, s.in.w, s.cols)),
  ]);
}

/** Nearest through the index table at `tAddr` (`nearestTable`). */
function nearest(
  f: Fn,
  s: Extract<PixelStage, { kind: 'resize' }>,
  epi: EpilogueWriter,
  rect: Rect,
  tAddr: number,
): Expr {
  const m = f.m;
  const ip = f.i32Local();
  const rowAt = (y: number): Expr => m.i32.load(0, 4, f.add(f.c(tAddr), f.mul(f.get(y), f.c(4))));
  const colAt = (x: number): Expr =>
    m.i32.load(0, 4, f.add(f.c(tAddr + s.rows * 4), f.mul(f.get(x), f.c(4))));
  return pixelLoop(f, {
    rect,
    cp: s.in.cp,
    epi,
    pixel: (y, x) => [at(f, ip, s.in, rowAt(y), colAt(x))],
    value: () => f.load(f.get(ip), 0),
    step: () => [f.bump(ip, 16)],
  });
}

/**
 * Bilinear, align_corners false (PyTorch): source s = max(0, (o + 0.5) in / out - 0.5), taps
 * i0 = min(floor(s), in - 1) and min(i0 + 1, in - 1), weight s - i0. Any ratio: the resize to a
 * size or by any scale reuses this kernel.
 */
export function bilinearTaps(inSize: number, outSize: number): { i0: number; i1: number; l: number }[] {
  return Array.from({ length: outSize }, (_, o) => {
    const src = Math.max(0, ((o + 0.5) * inSize) / outSize - 0.5);
    const i0 = Math.min(Math.floor(src), inSize - 1);
    return { i0, i1: Math.min(i0 + 1, inSize - 1), l: src - i0 };
  });
}

/**
 * The taps of every output row and column as a table of 16-byte records (byte offset of tap 0
 * and tap 1 in the input, the weight as f32), computed at emit time (`resizeTable`), so a pixel
 * costs two record reads and no float arithmetic on indices.
 */
export function resizeTable(s: Extract<PixelStage, { kind: 'resize' }>): Int32Array {
  const g = geomOf(s.in);
  const t = new Int32Array((s.rows + s.cols) * 4);
  const fl = new Float32Array(t.buffer);
  bilinearTaps(s.in.h, s.rows).forEach(({ i0, i1, l }, o) => {
    t.set([i0 * g.rs, i1 * g.rs], o * 4);
    fl[o * 4 + 2] = l;
  });
  bilinearTaps(s.in.w, s.cols).forEach(({ i0, i1, l }, o) => {
    const at = (s.rows + o) * 4;
    t.set([i0 * g.pix, i1 * g.pix], at);
    fl[at + 2] = l;
  });
  return t;
}

/** Bilinear through the tap table at `tAddr` (`resizeTable`; rows first, then columns). */
function bilinear(
  f: Fn,
  s: Extract<PixelStage, { kind: 'resize' }>,
  epi: EpilogueWriter,
  rect: Rect,
  tAddr: number,
): Expr {
  const m = f.m;
  const g = geomOf(s.in);
  const p = [f.i32Local(), f.i32Local(), f.i32Local(), f.i32Local()] as const;
  const [row0, row1, rt, ct] = [f.i32Local(), f.i32Local(), f.i32Local(), f.i32Local()];
  const [ly, lx] = [f.v128Local(), f.v128Local()];
  const [top, bot] = [f.v128Local(), f.v128Local()];
  // a + (b - a) l; binaryen expressions are a tree, so each operand is built where it is used.
  const lerp = (a: () => Expr, b: () => Expr, l: number): Expr =>
    m.f32x4.add(a(), m.f32x4.mul(m.f32x4.sub(b(), a()), f.get(l)));
  const load = (ptr: number, offset: number): Expr => m.i32.load(offset, 4, f.get(ptr));
  return pixelLoop(f, {
    rect,
    cp: s.in.cp,
    epi,
    row: (y) => [
      f.set(rt, f.add(f.c(tAddr), f.mul(f.get(y), f.c(16)))),
      f.set(row0, f.add(f.c(g.origin), load(rt, 0))),
      f.set(row1, f.add(f.c(g.origin), load(rt, 4))),
      f.set(ly, f.splat(f.get(rt), 8)),
    ],
    pixel: (_y, x) => [
      f.set(ct, f.add(f.c(tAddr + s.rows * 16), f.mul(f.get(x), f.c(16)))),
      f.set(p[0], f.add(f.get(row0), load(ct, 0))),
      f.set(p[1], f.add(f.get(row0), load(ct, 4))),
      f.set(p[2], f.add(f.get(row1), load(ct, 0))),
      f.set(p[3], f.add(f.get(row1), load(ct, 4))),
      f.set(lx, f.splat(f.get(ct), 8)),
    ],
    value: () =>
      m.block(
        null,
        [
          f.set(
            top,
            lerp(
              () => f.load(f.get(p[0]), 0),
              () => f.load(f.get(p[1]), 0),
              lx,
            ),
          ),
          f.set(
            bot,
            lerp(
              () => f.load(f.get(p[2]), 0),
              () => f.load(f.get(p[3]), 0),
              lx,
            ),
          ),
          lerp(
            () => f.get(top),
            () => f.get(bot),
            ly,
          ),
        ],
        binaryen.v128,
      ),
    step: () => p.map((q) => f.bump(q, 16)),
  });
}

function pool(f: Fn, s: Extract<PixelStage, { kind: 'pool' }>, epi: EpilogueWriter, rect: Rect): Expr {
  const m = f.m;
  const g = geomOf(s.in);
  const ip = f.i32Local();
  const iy = f.i32Local();
  const ix = f.i32Local();
  // Whether a window can reach outside the input at all (else no masks, one divisor).
  const inside =
    s.pt === 0 && s.pl === 0 && (s.rows - 1) * s.sh + s.kh <= s.in.h && (s.cols - 1) * s.sw + s.kw <= s.in.w;
  const rv = Array.from({ length: s.kh }, () => f.i32Local());
  const cv = Array.from({ length: s.kw }, () => f.i32Local());
  const inv = f.v128Local();
  const taps: [number, number][] = [];
  for (let ky = 0; ky < s.kh; ky++) for (let kx = 0; kx < s.kw; kx++) taps.push([ky, kx]);
  const negInf = (): Expr => f.f32x4(Number.NEGATIVE_INFINITY);
  const clampCount = (i: number, k: number, size: number): Expr =>
    m.i32.sub(
      m.select(m.i32.lt_s(f.add(f.get(i), f.c(k)), f.c(size)), f.add(f.get(i), f.c(k)), f.c(size)),
      m.select(m.i32.gt_s(f.get(i), f.c(0)), f.get(i), f.c(0)),
    );
  return pixelLoop(f, {
    rect,
    cp: s.in.cp,
    epi,
    pixel: (y, x) => {
      const out: Expr[] = [
        f.set(iy, m.i32.sub(f.mul(f.get(y), f.c(s.sh)), f.c(s.pt))),
        f.set(ix, m.i32.sub(f.mul(f.get(x), f.c(s.sw)), f.c(s.pl))),
        at(f, ip, s.in, f.get(iy), f.get(ix)),
      ];
      if (!inside && s.max) {
        rv.forEach((r, ky) => out.push(f.set(r, m.i32.lt_u(f.add(f.get(iy), f.c(ky)), f.c(s.in.h)))));
        cv.forEach((c, kx) => out.push(f.set(c, m.i32.lt_u(f.add(f.get(ix), f.c(kx)), f.c(s.in.w)))));
      }
      if (!s.max && !inside && !s.countIncludePad)
        out.push(
          f.set(
            inv,
            m.f32x4.splat(
              m.f32.div(
                m.f32.const(1),
                m.f32.convert_s.i32(f.mul(clampCount(iy, s.kh, s.in.h), clampCount(ix, s.kw, s.in.w))),
              ),
            ),
          ),
        );
      return out;
    },
    value: () => {
      const load = (ky: number, kx: number): Expr => f.load(f.get(ip), ky * g.rs + kx * g.pix);
      if (s.max) {
        let v = negInf();
        for (const [ky, kx] of taps) {
          const t = inside
            ? load(ky, kx)
            : m.select(m.i32.and(f.get(rv[ky]!), f.get(cv[kx]!)), load(ky, kx), negInf());
          v = m.f32x4.pmax(v, t);
        }
        return v;
      }
      let v: Expr | undefined;
      for (const [ky, kx] of taps) v = v ? m.f32x4.add(v, load(ky, kx)) : load(ky, kx);
      return m.f32x4.mul(v!, inside || s.countIncludePad ? f.f32x4(1 / (s.kh * s.kw)) : f.get(inv));
    },
    step: () => [f.bump(ip, 16)],
  });
}

/**
 * Transposed conv gathered per output pixel: out(y, x) = b + sum over taps (ky, kx) with
 * y + pt - ky = iy * sh (0 <= iy < H), likewise x, of in(iy, ix) . W[tap]. Weights packed
 * [tap][input channel (padded)][output channel (padded)], zero between groups (`packConvT`), so
 * one vector of 4 outputs multiplies a broadcast input value at a time.
 */
function convTranspose(
  f: Fn,
  s: Extract<PixelStage, { kind: 'convT' }>,
  epi: EpilogueWriter,
  rect: Rect,
  w: { wAddr: number; bAddr: number },
): Expr {
  const m = f.m;
  const c = s.conv;
  const g = geomOf(s.in);
  const cinP = s.in.cp;
  const coP = Math.ceil(c.cout / 4) * 4;
  const vy = Array.from({ length: c.kh }, () => f.i32Local());
  const ry = Array.from({ length: c.kh }, () => f.i32Local());
  const vx = Array.from({ length: c.kw }, () => f.i32Local());
  const rx = Array.from({ length: c.kw }, () => f.i32Local());
  const y = f.i32Local();
  const x = f.i32Local();
  const cb = f.i32Local();
  const ci = f.i32Local();
  const ip = f.i32Local();
  const wp = f.i32Local();
  const acc = f.v128Local();
  const xv = f.v128Local();
  const t = f.i32Local();
  /** valid := n >= 0 && n % s == 0 && n / s < size; idx := n / s. */
  const tap = (valid: number, idx: number, n: Expr, stride: number, size: number): Expr[] => [
    f.set(t, n),
    f.set(idx, m.i32.div_s(f.get(t), f.c(stride))),
    f.set(
      valid,
      m.i32.and(
        m.i32.and(m.i32.ge_s(f.get(t), f.c(0)), m.i32.eqz(m.i32.rem_s(f.get(t), f.c(stride)))),
        m.i32.lt_s(f.get(idx), f.c(size)),
      ),
    ),
  ];
  const pixel: Expr[] = [
    ...epi.setup(
      () => f.get(y),
      () => f.get(x),
      () => f.c(0),
    ),
  ];
  for (let ky = 0; ky < c.kh; ky++)
    pixel.push(...tap(vy[ky]!, ry[ky]!, f.add(f.get(y), f.c(c.pt - ky)), c.sh, s.in.h));
  for (let kx = 0; kx < c.kw; kx++)
    pixel.push(...tap(vx[kx]!, rx[kx]!, f.add(f.get(x), f.c(c.pl - kx)), c.sw, s.in.w));
  /** `nb` blocks of 4 output channels from byte offset `cb`: one broadcast feeds nb multiply-adds. */
  const block = (nb: number): Expr[] => {
    const accs = [acc, ...Array.from({ length: nb - 1 }, () => f.v128Local())];
    const out: Expr[] = accs.map((a, j) => f.set(a, f.load(f.add(f.c(w.bAddr), f.get(cb)), j * 16)));
    for (let ky = 0; ky < c.kh; ky++)
      for (let kx = 0; kx < c.kw; kx++) {
        const tapIndex = ky * c.kw + kx;
        const inner: Expr[] = [];
        for (let l = 0; l < 4; l++) {
          inner.push(f.set(xv, f.splat(f.get(ip), l * 4)));
          accs.forEach((a, j) =>
            inner.push(f.set(a, f.madd(f.get(xv), f.load(f.get(wp), l * coP * 4 + j * 16), f.get(a)))),
          );
        }
        inner.push(f.bump(ip, 16), f.bump(wp, 16 * coP));
        out.push(
          m.if(
            m.i32.and(f.get(vy[ky]!), f.get(vx[kx]!)),
            f.block([
              f.set(
                ip,
                f.add(
                  f.c(g.origin),
                  f.add(f.mul(f.get(ry[ky]!), f.c(g.rs)), f.mul(f.get(rx[kx]!), f.c(g.pix))),
                ),
              ),
              f.set(wp, f.add(f.c(w.wAddr + tapIndex * cinP * coP * 4), f.get(cb))),
              f.repeat(ci, cinP / 4, inner),
            ]),
          ),
        );
      }
    accs.forEach((a, j) => out.push(...epi.store(f.get(a), 0, j * 4)));
    out.push(...epi.advance(4 * nb));
    return out;
  };
  // cb: byte offset of the output channel block (16 per 4 channels); pairs of blocks, then a
  // last single one when the padded count is 4 mod 8.
  const pairsEnd = Math.floor(coP / 8) * 32;
  pixel.push(f.loop(cb, f.c(0), () => f.c(pairsEnd), 32, block(2)));
  if (coP % 8 !== 0) pixel.push(f.set(cb, f.c(pairsEnd)), ...block(1));
  return f.loop(y, f.get(rect.r0), () => f.get(rect.r1), 1, [
    f.loop(x, f.get(rect.x0), () => f.get(rect.x1), 1, pixel),
  ]);
}

/** Concat: each input copied to its channel offset (v128 where the offset is a multiple of 4). */
export function concatRows(f: Fn, s: ConcatStage, rect: Rect): Expr {
  const m = f.m;
  const y = f.i32Local();
  const x = f.i32Local();
  const k = f.i32Local();
  const ip = f.i32Local();
  const op = f.i32Local();
  const pixel: Expr[] = [];
  // In channel order: a vector copy's padded lanes land on the next input's first channels, which
  // its own copy then overwrites (or in the output's padded lanes). Inputs whose producers write
  // the concat buffer themselves are aligned whole vectors (or last), so no copy clobbers them.
  for (const { buffer: b, offset: off } of s.ins) {
    pixel.push(at(f, ip, b, f.get(y), f.get(x)), at(f, op, s.out, f.get(y), f.get(x), off * 4));
    if (off % 4 === 0) {
      pixel.push(
        f.repeat(k, b.cp / 4, [f.store(f.get(op), 0, f.load(f.get(ip), 0)), f.bump(ip, 16), f.bump(op, 16)]),
      );
    } else {
      // An unaligned offset: whole vectors of real channels as unaligned v128 stores (wasm
      // allows any address), the last c % 4 channels one by one.
      const n4 = Math.floor(b.c / 4);
      if (n4 > 0)
        pixel.push(
          f.repeat(k, n4, [f.store(f.get(op), 0, f.load(f.get(ip), 0)), f.bump(ip, 16), f.bump(op, 16)]),
        );
      for (let l = 0; l < b.c % 4; l++)
        pixel.push(m.f32.store(l * 4, 4, f.get(op), m.f32.load(l * 4, 4, f.get(ip))));
    }
  }
  return f.loop(y, f.get(rect.r0), () => f.get(rect.r1), 1, [
    f.loop(x, f.get(rect.x0), () => f.get(rect.x1), 1, pixel),
  ]);
}
