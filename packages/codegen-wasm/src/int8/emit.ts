/**
 * `emitWasmInt8`: a quantised model (TFLite int8 semantics, `QuantizedModel`) to WebAssembly
 * SIMD modules whose integers equal the int8 reference executor's bit for bit, with int8
 * weights (~1 byte per parameter) in a separate file. Both integer arithmetics of
 * `quantization.arithmetic` are compiled: `tflite` (fixed-point requantisation) and `xnnpack`
 * (float32 scales, XNNPACK's ADD and activation bounds: LiteRT.js's integers).
 *
 * The host ABI is the float build's (`manifest.ts`): float32 NCHW input in [0, 1] quantised in
 * the first stage exactly as TFLite's QUANTIZE (so a u8 pixel p, fed as p / 255, becomes p - 128
 * for the paper's input parameters), dequantised float32 NCHW depth at `manifest.output`, and the
 * int8 output itself at `manifest.quantization.outputInt8.byteOffset`. Every activation halo is
 * filled with its zero point by the module's start function (at instantiation), since padding
 * reads the zero point in TFLite's semantics.
 *
 * Relaxed SIMD: `i32x4.relaxed_dot_i8x16_i7x16_add_s(a, b, c)` is deterministic only when b is
 * 7-bit; out of range an engine may read b signed (ARM sdot) or unsigned, and x86 without
 * AVX-VNNI lowers it with pmaddubsw, whose pair sums saturate at 16 bits. Engines on x86 with
 * AVX-VNNI (Chromium) lower it to `vpdpbusd`: b unsigned, no saturation, exact. The `relaxed`
 * builds use it in that form for the pointwise GEMMs (weights signed, activations x + 128, the
 * bias less 128 * sum(w): `DotI8` in kernels.ts), which is XNNPACK's and onnxruntime's
 * "usdot" choice; their start function computes the instruction on saturating operands and traps
 * unless the result is the exact unsigned x signed one, so a relaxed build never runs where its
 * integers would differ. runtime-web runs the same probe first and loads the plain-SIMD build
 * elsewhere. Everything else (depthwise, dense, head, epilogues) is the plain-SIMD code.
 */
import { analyze, GraphError, type QuantizedModel } from '@fastdepth/graph-dsl';
import binaryen from 'binaryen';
import { addBarrier } from '../kernels/barrier.js';
import { Fn, type Expr, type Variant } from '../kernels/builder.js';
import { stageRows, type Int8Stage } from '../plan.js';
import { addProfileImport, addRunExports, scheduleTable, STAGE_PARAMS } from '../run.js';
import { scheduleStages, type ThreadSplit } from '../schedule.js';
import {
  int8ManifestFile,
  WASM_MANIFEST_FORMAT,
  WASM_MANIFEST_VERSION,
  WASM_VARIANTS,
  type WasmManifest,
  type WasmVariant,
} from '../manifest.js';
import { PACKAGE_VERSION } from '../version.js';
import type { ArtifactFile } from '../emit.js';
import {
  convRowsI8,
  denseCinEffI8,
  type DotI8,
  dwLocalsI8,
  dwRowI8,
  EpilogueI8,
  gemmLocalsI8,
  gemmRowI8,
  headRowsI8,
  inputRowsI8,
  usdot,
} from './kernels.js';
import {
  BlobPacker,
  foldBias,
  packDense,
  packDepthwise,
  packHead,
  packPointwise,
  unsignedBias,
} from './pack.js';
import {
  BARRIER_OFFSET,
  geomI8,
  int8StageAccess,
  layoutI8,
  pad8,
  planInt8,
  tileBytes,
  type ConvQuant,
  type Int8Plan,
  type LayoutI8,
} from './plan.js';
import { addRowsI8 } from './add.js';
import { concatRowsI8 } from './concat.js';
import { bilinearRowsI8 } from './bilinear.js';
import { lutRowsI8 } from './lut.js';
import { mulRowsI8 } from './mul.js';
import { nearestRowsI8 } from './nearest.js';
import { outputRowsI8 } from './output.js';
import { avgPoolRowsI8, gapRowsI8, maxPoolRowsI8 } from './pool.js';
import { shuffleRowsI8 } from './shuffle.js';
import { unpoolRowsI8 } from './unpool.js';
import { makeRequant, makeRequantXnnpack, type Requant } from './requant.js';

export interface WasmInt8EmitOptions {
  /** Threads the module reserves scratch tiles for (default 8). */
  readonly maxThreads?: number;
  /** binaryen optimize level 0..4 (default 3). */
  readonly optimizeLevel?: number;
  /** Artifact base name (default: the graph's `meta.arch`, else its name); files are `<arch>.int8.*`. */
  readonly arch?: string;
  /** See `WasmEmitOptions.threadSplit` (default `auto`). */
  readonly threadSplit?: ThreadSplit;
  /** See `WasmEmitOptions.profile` (default false). */
  readonly profile?: boolean;
  /**
   * The relaxed builds' dot (default `usdot`). `usdot-emulated` computes the same integers with
   * plain SIMD (and declares no relaxed feature), for testing their data flow on engines without
   * relaxed SIMD; it is slower than the plain-SIMD build.
   */
  readonly relaxedDot?: 'usdot' | 'usdot-emulated';
}

/** The two int8 modules (unshared, shared memory), the packed int8 weights and the manifest. */
export interface WasmInt8Artifact {
  readonly manifest: WasmManifest;
  readonly modules: Readonly<Record<WasmVariant, Uint8Array<ArrayBuffer>>>;
  readonly weights: Uint8Array<ArrayBuffer>;
}

interface ConvPack {
  w: number;
  b: number;
  q: number;
  requant: Requant;
}
interface StagePack {
  conv?: ConvPack;
  dw?: ConvPack;
}

function packConv(
  packer: BlobPacker,
  g: Parameters<typeof packDense>[0],
  cq: ConvQuant,
  kind: 'pw' | 'dense' | 'dw' | 'head',
): ConvPack {
  const coutP = pad8(g.cout);
  const w =
    kind === 'pw'
      ? packPointwise(g, cq.weight)
      : kind === 'dense'
        ? packDense(g, cq.weight, denseCinEffI8(g))
        : kind === 'dw'
          ? packDepthwise(g, cq.weight)
          : packHead(g, cq.weight);
  const folded = foldBias(g, cq.weight, cq.bias, cq.inParams.zeroPoint, coutP, kind === 'dw');
  const out = { zp: cq.outParams.zeroPoint, lo: cq.lo, hi: cq.hi };
  const requant = cq.xnnpackScales
    ? makeRequantXnnpack(cq.xnnpackScales, coutP, out)
    : makeRequant(cq.multipliers, coutP, out, folded.bound, g.layer);
  // Every conv but the head computes sum(w * (x + 128)) (the usdot form, and the i16 kernels
  // alike so the blob holds one bias): its bias is the folded one less 128 * sum(w).
  const perOut = kind === 'dw' ? g.kh * g.kw : g.cin * g.kh * g.kw;
  const bias = kind === 'head' ? folded.bias : unsignedBias(folded.bias, cq.weight, perOut, g.cout);
  return { w: packer.int8(w), b: packer.int32(bias), q: packer.int32(requant.table), requant };
}

function packAll(p: Int8Plan): { packer: BlobPacker; packs: Map<Int8Stage, StagePack> } {
  const packer = new BlobPacker();
  const packs = new Map<Int8Stage, StagePack>();
  for (const s of p.plan.stages) {
    // Stages without weights.
    if (
      s.kind === 'input' ||
      s.kind === 'pool' ||
      s.kind === 'gap' ||
      s.kind === 'unpool' ||
      s.kind === 'pixelShuffle' ||
      s.kind === 'resize' ||
      s.kind === 'concat' ||
      s.kind === 'map'
    )
      continue;
    const q = p.quant.get(s)!;
    switch (s.kind) {
      case 'conv':
        packs.set(s, { conv: packConv(packer, s.conv, q.conv!, 'dense') });
        break;
      case 'pw':
        packs.set(s, { conv: packConv(packer, s.conv, q.conv!, 'pw') });
        break;
      case 'head':
        packs.set(s, { conv: packConv(packer, s.conv, q.conv!, 'head') });
        break;
      case 'dw':
        packs.set(s, { conv: packConv(packer, s.conv, q.conv!, 'dw') });
        break;
      case 'dwpw':
        packs.set(s, {
          dw: packConv(packer, s.dw, q.dw!, 'dw'),
          conv: packConv(packer, s.conv, q.conv!, 'pw'),
        });
        break;
    }
  }
  return { packer, packs };
}

/** The body of one stage function (params r0, r1, x0, x1, thread; see `STAGE_PARAMS`). */
function stageBody(
  f: Fn,
  p: Int8Plan,
  s: Int8Stage,
  layout: LayoutI8,
  pk: StagePack | undefined,
  dot: DotI8,
): Expr {
  const [r0, r1, x0, x1, thread] = [0, 1, 2, 3, 4];
  const base = layout.weights.byteOffset;
  if (s.kind === 'input')
    return inputRowsI8(f, {
      out: s.out,
      layout,
      r0,
      r1,
      scale: p.inputParams.scale,
      zeroPoint: p.inputParams.zeroPoint,
    });
  if (s.kind === 'concat') return concatRowsI8(f, { stage: s, r0, r1, x0, x1 });
  const q = p.quant.get(s)!;
  if (s.kind === 'pool') {
    const out = s.epi.out;
    if (out === 'output') throw new Error(`codegen-wasm int8: pool stage ${s.name} writes the output`);
    const { lo, hi, zeroPoint: zp } = q.pool!;
    if (!s.max)
      return avgPoolRowsI8(f, { stage: s, out, lo, hi, zp, halo: p.zeroPoint.get(s.in)!, r0, r1, x0, x1 });
    return maxPoolRowsI8(f, { stage: s, out, lo, hi, r0, r1 });
  }
  if (s.kind === 'gap') {
    const out = s.epi.out;
    if (out === 'output') throw new Error(`codegen-wasm int8: global pool stage ${s.name} writes the output`);
    return gapRowsI8(f, { stage: s, out, lo: q.pool!.lo, hi: q.pool!.hi, r0, r1 });
  }
  if (s.kind === 'unpool') {
    const out = s.epi.out;
    if (out === 'output') throw new Error(`codegen-wasm int8: unpool stage ${s.name} writes the output`);
    const { lo, hi, zeroPoint: zp } = q.pool!;
    return unpoolRowsI8(f, { stage: s, out, zp, lo, hi, r0, r1 });
  }
  if (s.kind === 'pixelShuffle') {
    const out = s.epi.out;
    if (out === 'output')
      throw new Error(`codegen-wasm int8: pixel shuffle stage ${s.name} writes the output`);
    return shuffleRowsI8(f, { stage: s, out, lo: q.pool!.lo, hi: q.pool!.hi, r0, r1, x0, x1 });
  }
  if (s.kind === 'resize') {
    const out = s.epi.out;
    if (out === 'output') throw new Error(`codegen-wasm int8: resize stage ${s.name} writes the output`);
    if (s.mode === 'nearest')
      return nearestRowsI8(f, { stage: s, out, lo: q.pool!.lo, hi: q.pool!.hi, r0, r1, x0, x1 });
    return bilinearRowsI8(f, { stage: s, out, lo: q.pool!.lo, hi: q.pool!.hi, r0, r1, x0, x1 }, p.arithmetic);
  }
  if (s.kind === 'map') {
    const out = s.epi.out;
    if (q.output) return outputRowsI8(f, { stage: s, layout, params: q.output, r0, r1, x0, x1 });
    if (out === 'output') throw new Error(`codegen-wasm int8: map stage ${s.name} writes the output`);
    if (q.lut)
      return lutRowsI8(f, {
        stage: s,
        out,
        table: layout.luts.byteOffset + 256 * q.lut.index,
        r0,
        r1,
        x0,
        x1,
      });
    if (q.mul) return mulRowsI8(f, { stage: s, out, mul: q.mul, r0, r1, x0, x1 });
    return addRowsI8(f, { stage: s, out, add: q.add!, r0, r1, x0, x1 });
  }
  const cp = pk!.conv!;
  const lutAt = q.lut ? layout.luts.byteOffset + 256 * q.lut.index : undefined;
  const epi = new EpilogueI8(f, s.epi, cp.requant, base + cp.q, q.add, q.output, layout, lutAt);
  return f.block([...epi.prologue(), convBody(f, s, layout, pk!, dot, epi, { r0, r1, x0, x1, thread })]);
}

/** The loops of a conv stage (conv, head, pw, dw, dwpw) around its epilogue `epi`. */
function convBody(
  f: Fn,
  s: Extract<Int8Stage, { conv: unknown }>,
  layout: LayoutI8,
  pk: StagePack,
  dot: DotI8,
  epi: EpilogueI8,
  locals: { r0: number; r1: number; x0: number; x1: number; thread: number },
): Expr {
  const { r0, r1, thread } = locals;
  // Column ranges reach only the kernels that take them (`int8StageAccess(s).columns`).
  const cols = { x0: locals.x0, x1: locals.x1 };
  const base = layout.weights.byteOffset;
  const cp = pk.conv!;
  const wAddr = base + cp.w;
  const bAddr = base + cp.b;
  switch (s.kind) {
    case 'conv':
      return convRowsI8(f, {
        in: s.in,
        g: s.conv,
        wAddr,
        bAddr,
        epi,
        r0,
        r1,
        dot,
      });
    case 'head':
      return headRowsI8(f, { in: s.in, g: s.conv, wAddr, bAddr, epi, r0, r1 });
    case 'pw': {
      const y = f.i32Local();
      const inRow = f.i32Local();
      const gi = geomI8(s.in);
      const L = gemmLocalsI8(f);
      return f.loop(y, f.get(r0), () => f.get(r1), 1, [
        f.set(inRow, f.add(f.c(gi.origin), f.mul(f.get(y), f.c(gi.rs)))),
        gemmRowI8(
          f,
          {
            inRow,
            pix: gi.pix,
            n: s.conv.ow,
            k: gi.cp,
            wide: false,
            dot,
            coutP: pad8(s.conv.cout),
            wAddr,
            bAddr,
            y,
            epi,
            cols,
          },
          L,
        ),
      ]);
    }
    case 'dw': {
      const y = f.i32Local();
      const DL = dwLocalsI8(f);
      return f.loop(y, f.get(r0), () => f.get(r1), 1, [
        dwRowI8(
          f,
          {
            in: s.in,
            g: s.conv,
            wAddr,
            bAddr,
            y,
            dest: { epi },
            cols,
            dot,
          },
          DL,
        ),
      ]);
    }
    case 'dwpw': {
      const y = f.i32Local();
      const tile = f.i32Local();
      const DL = dwLocalsI8(f);
      const GL = gemmLocalsI8(f);
      const dw = pk.dw!;
      const k = pad8(s.dw.cin);
      return f.block([
        f.set(
          tile,
          f.add(f.c(layout.scratch.byteOffset), f.mul(f.get(thread), f.c(layout.scratch.bytesPerThread))),
        ),
        f.loop(y, f.get(r0), () => f.get(r1), 1, [
          dwRowI8(
            f,
            {
              in: s.in,
              g: s.dw,
              wAddr: base + dw.w,
              bAddr: base + dw.b,
              y,
              dest: { tile, q: dw.requant, qAddr: base + dw.q, unsigned: dot !== 'i16' },
              dot,
              cols,
            },
            DL,
          ),
          gemmRowI8(
            f,
            {
              inRow: tile,
              pix: dot === 'i16' ? k * 2 : k,
              n: s.conv.ow,
              k,
              wide: true,
              dot,
              coutP: pad8(s.conv.cout),
              wAddr,
              bAddr,
              y,
              epi,
              cols,
            },
            GL,
          ),
        ]),
      ]);
    }
  }
}

const VARIANTS: Readonly<Record<WasmVariant, Variant>> = {
  simd: { relaxed: false, threads: false },
  'simd-threads': { relaxed: false, threads: true },
  relaxed: { relaxed: true, threads: false },
  'relaxed-threads': { relaxed: true, threads: true },
};

/**
 * The relaxed dot's probe: operands whose exact unsigned x signed dot products differ from every
 * other reading (b signed; pair sums saturated at 16 bits) and the exact results.
 */
const PROBE_W = [127, 127, 127, 127, -128, -128, -128, -128, 127, -128, 127, -128, 5, -7, 100, -100];
const PROBE_X = [255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 200, 130, 1, 255];
function probeBytes(): Uint8Array {
  const exact = new Int32Array(4);
  for (let l = 0; l < 4; l++)
    for (let i = 0; i < 4; i++) exact[l]! += PROBE_W[4 * l + i]! * PROBE_X[4 * l + i]!;
  const out = new Uint8Array(48);
  out.set(new Uint8Array(Int8Array.from(PROBE_W).buffer), 0);
  out.set(PROBE_X, 16);
  out.set(new Uint8Array(exact.buffer), 32);
  return out;
}

/** The table-lookup stages' tables, in `LutQuant.index` order (the `LayoutI8.luts` region). */
function lutBytes(p: Int8Plan): Uint8Array {
  const out = new Uint8Array(256 * countLuts(p));
  for (const q of p.quant.values())
    if (q.lut) out.set(new Uint8Array(q.lut.table.buffer, q.lut.table.byteOffset, 256), 256 * q.lut.index);
  return out;
}

const countLuts = (p: Int8Plan): number => [...p.quant.values()].filter((q) => q.lut).length;

function emitModule(
  p: Int8Plan,
  layout: LayoutI8,
  packs: Map<Int8Stage, StagePack>,
  variant: Variant,
  level: number,
  table: Uint8Array,
  profile: boolean,
  dot: DotI8,
): Uint8Array<ArrayBuffer> {
  const m = new binaryen.Module();
  try {
    const F = binaryen.Features;
    m.setFeatures(
      // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment
      F.MVP |
        F.SIMD128 |
        F.BulkMemory |
        F.BulkMemoryOpt |
        F.MutableGlobals |
        F.SignExt |
        F.NontrappingFPToInt |
        (variant.threads ? F.Atomics : 0) |
        (dot === 'usdot' ? F.RelaxedSIMD : 0),
    );
    m.setMemory(
      layout.pages,
      layout.pages,
      null,
      [
        { offset: m.i32.const(layout.schedule.byteOffset), data: table, passive: false },
        ...(dot === 'i16'
          ? []
          : [{ offset: m.i32.const(layout.probe.byteOffset), data: probeBytes(), passive: false }]),
        ...(layout.luts.count > 0
          ? [{ offset: m.i32.const(layout.luts.byteOffset), data: lutBytes(p), passive: false }]
          : []),
      ],
      variant.threads,
      false,
      '0',
    );
    m.addMemoryImport('0', 'env', 'memory', variant.threads);
    const i32 = binaryen.i32;
    const stages = p.plan.stages;
    const paramTypes = Array.from({ length: STAGE_PARAMS }, () => i32);
    stages.forEach((s, i) => {
      const f = new Fn(m, variant, paramTypes);
      const body = stageBody(f, p, s, layout, packs.get(s), dot);
      m.addFunction(`stage${i}`, binaryen.createType(paramTypes), binaryen.none, f.vars, body);
    });
    if (variant.threads) addBarrier(m, variant);
    if (profile) addProfileImport(m);
    // Start function: every halo holds its buffer's zero point. Only halos are written (never
    // by a stage), so an instantiation in one worker while another runs changes nothing.
    {
      const f = new Fn(m, variant, []);
      const r = f.i32Local();
      const fills: Expr[] = [];
      if (dot !== 'i16') {
        // The operands come from memory so neither binaryen nor the engine can fold the dot.
        const at = layout.probe.byteOffset;
        const got = usdot(f, dot, f.load(f.c(at), 0), f.load(f.c(at), 16), f.zero());
        fills.push(m.if(m.i8x16.all_true(m.i32x4.eq(got, f.load(f.c(at), 32))), m.nop(), m.unreachable()));
      }
      for (const b of p.plan.buffers) {
        if (b.halo === 0) continue;
        const g = geomI8(b);
        const zp = f.c(p.zeroPoint.get(b)! & 0xff);
        const band = b.halo * g.rs;
        const side = b.halo * g.pix;
        fills.push(m.memory.fill(f.c(b.offset), zp, f.c(band)));
        fills.push(
          m.memory.fill(f.c(b.offset + band + b.h * g.rs), f.c(p.zeroPoint.get(b)! & 0xff), f.c(band)),
        );
        const rowAt = (): Expr => f.add(f.c(b.offset + band), f.mul(f.get(r), f.c(g.rs)));
        fills.push(
          f.loop(r, f.c(0), () => f.c(b.h), 1, [
            m.memory.fill(rowAt(), f.c(p.zeroPoint.get(b)! & 0xff), f.c(side)),
            m.memory.fill(
              f.add(rowAt(), f.c(side + b.w * g.pix)),
              f.c(p.zeroPoint.get(b)! & 0xff),
              f.c(side),
            ),
          ]),
        );
      }
      const start = m.addFunction(
        'fill_halos',
        binaryen.none,
        binaryen.none,
        f.vars,
        m.block(null, fills.length ? fills : [m.nop()]),
      );
      m.setStart(start);
    }
    addRunExports(
      m,
      variant,
      layout,
      stages.map((st) => int8StageAccess(st).cols),
      profile,
    );
    if (!m.validate())
      throw new Error('codegen-wasm int8: emitted module does not validate (a bug in the emitter)');
    const prevOpt = binaryen.getOptimizeLevel();
    const prevShrink = binaryen.getShrinkLevel();
    binaryen.setOptimizeLevel(level);
    binaryen.setShrinkLevel(0);
    try {
      if (level > 0) m.optimize();
    } finally {
      binaryen.setOptimizeLevel(prevOpt);
      binaryen.setShrinkLevel(prevShrink);
    }
    return m.emitBinary() as Uint8Array<ArrayBuffer>;
  } finally {
    m.dispose();
  }
}

/**
 * Compiles a quantised model to int8 wasm modules. Throws `GraphError` naming the layer for a
 * graph (or quantisation) the int8 kernels cannot run.
 */
export function emitWasmInt8(model: QuantizedModel, options: WasmInt8EmitOptions = {}): WasmInt8Artifact {
  const maxThreads = options.maxThreads ?? 8;
  const level = options.optimizeLevel ?? 3;
  const metaArch = model.graph.meta?.['arch'];
  const arch = options.arch ?? (typeof metaArch === 'string' ? metaArch : model.graph.name);
  const p = planInt8(model);
  if (p.plan.output.shape[1] < 1)
    throw new GraphError(p.plan.output.name, 'int8: an output without channels');
  const { packer, packs } = packAll(p);
  const weights = packer.bytes();
  const layout = layoutI8(p.plan, weights.byteLength, maxThreads, countLuts(p));
  for (const s of p.plan.stages)
    if (tileBytes(s) > layout.scratch.bytesPerThread) throw new Error('codegen-wasm int8: scratch');
  const access = p.plan.stages.map(int8StageAccess);
  const schedules = Array.from({ length: maxThreads }, (_, t) =>
    scheduleStages(access, t + 1, { split: options.threadSplit ?? 'auto' }),
  );
  const table = scheduleTable(schedules, layout.schedule.recordBytes);
  const profile = options.profile ?? false;
  const relaxedDot = options.relaxedDot ?? 'usdot';
  const modules = Object.fromEntries(
    WASM_VARIANTS.map((v) => [
      v,
      emitModule(
        p,
        layout,
        packs,
        VARIANTS[v],
        level,
        table,
        profile,
        VARIANTS[v].relaxed ? relaxedDot : 'i16',
      ),
    ]),
  ) as Record<WasmVariant, Uint8Array<ArrayBuffer>>;
  const macsOf = new Map(analyze(model.graph).layers.map((l) => [l.name, l.macs]));
  const file = (v: WasmVariant): string => `${arch}.int8.${v}.wasm`;
  const manifest: WasmManifest = {
    format: WASM_MANIFEST_FORMAT,
    version: WASM_MANIFEST_VERSION,
    arch,
    generator: `@fastdepth/codegen-wasm ${PACKAGE_VERSION}`,
    input: {
      name: p.plan.input.name,
      shape: [1, p.plan.input.shape[1], p.plan.input.shape[2], p.plan.input.shape[3]],
      byteOffset: layout.input.byteOffset,
    },
    output: {
      name: p.plan.output.name,
      shape: [1, p.plan.output.shape[1], p.plan.output.shape[2], p.plan.output.shape[3]],
      byteOffset: layout.output.byteOffset,
    },
    memory: { initialPages: layout.pages, maximumPages: layout.pages },
    weights: layout.weights,
    barrier: { byteOffset: BARRIER_OFFSET },
    maxThreads,
    stages: p.plan.stages.map((s) => {
      const layers = p.plan.layers.get(s)!;
      return {
        name: s.name,
        layers,
        kind: s.kind,
        rows: stageRows(s),
        macs: layers.reduce((a, l) => a + (macsOf.get(l) ?? 0), 0),
      };
    }),
    modules: Object.fromEntries(WASM_VARIANTS.map((v) => [v, file(v)])) as Record<WasmVariant, string>,
    weightsFile: `${arch}.int8.weights.bin`,
    quantization: {
      scheme: 'int8',
      arithmetic: p.arithmetic,
      input: p.inputParams,
      output: p.outputParams,
      outputInt8: { byteOffset: layout.outputInt8.byteOffset },
    },
  };
  return { manifest, modules, weights };
}

/** The files of an int8 artifact: `<arch>.int8.wasm-manifest.json`, four modules, the int8 weights. */
export function wasmInt8ArtifactFiles(artifact: WasmInt8Artifact): ArtifactFile[] {
  const { manifest } = artifact;
  return [
    {
      path: int8ManifestFile(manifest.arch),
      data: new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`),
    },
    ...WASM_VARIANTS.map((v) => ({ path: manifest.modules[v], data: artifact.modules[v] })),
    { path: manifest.weightsFile, data: artifact.weights },
  ];
}
