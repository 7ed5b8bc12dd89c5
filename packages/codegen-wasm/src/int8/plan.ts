/**
 * The int8 plan: the float planner's stages and fusions (`planGraph`: dw+pw, activations, nearest
 * x2 and the skip add in the producer's epilogue, the head commuted before the upsample; every
 * rewrite is exact on integers too) with TFLite's int8 parameters attached to each stage, and the
 * int8 memory layout: NHWC int8 activations, channels padded to 8 (one `v128.load8x8_s` widens 8
 * channels to i16x8) and a halo filled with the buffer's zero point, so a padded tap reads
 * `q = zp` and contributes `(q - zp) * w = 0` as TFLite's padding does. The input zero point is
 * folded into each conv's bias at emit time (`bias - zp * sum(w)`, exact in int32), so the inner
 * loops multiply raw int8 values.
 *
 * Unpooling copies each input pixel to the top-left of its 2x2 cell and fills the rest with the
 * zero point (its output carries its input's parameters).
 *
 * A channel concat copies integers (its inputs carry its parameters, TFLite's restriction): one
 * copy stage per concat, each input to its channel offset of the concat's buffer.
 *
 * Pixel shuffle moves integers (its output carries its input's parameters): each output
 * pixel gathers its channels from one input pixel.
 *
 * A bilinear resize (the BLConv decoders) is TFLite's integer RESIZE_BILINEAR or XNNPACK's s8
 * ibilinear (per the arithmetic) on the raw integers (its output carries its input's
 * parameters): four taps per output pixel (`int8/bilinear.ts`).
 *
 * A nearest resize to any size or scale (and a nearest upsample no conv epilogue takes) gathers
 * integers (its output carries its input's parameters): each output pixel copies the input
 * pixel PyTorch's float32 source indices name (`int8/nearest.ts`).
 *
 * An add that no conv epilogue can take (both operands already complete, or the producer's
 * epilogue holding an add already, as after an UpProj block) is a stage of its own over the two
 * buffers, with the same ADD arithmetic as the fused one and a fused activation as its clamp.
 *
 * MobileNetV3's ops: clip is a clamp fused like relu6 (its bounds quantised the same way);
 * sigmoid, hardSigmoid and hardSwish look every integer up in the layer's 256-byte table
 * (graph-dsl `lookupTable`, computed here and stored in the module's data; a clamp after it
 * folded into the table), in the epilogue of the conv they follow (its output requantised
 * unclamped in its own parameters, then looked up) or else in a map stage of their own; mul is a map stage over its two buffers (the
 * factor per channel in squeeze-excite) requantising the product of the centred integers;
 * average and global average pools sum raw integers and divide with TFLite's rounding
 * (`int8/pool.ts`), their outputs carrying their inputs' parameters.
 *
 * Max pooling compares integers of one scale (its output carries its input's parameters), so
 * its stage only takes maxima and clamps for a fused activation. Padded taps must never win: the
 * halo of a buffer a padded max pool reads holds -128, which no valid value is below, and every
 * window has a valid value (pads are smaller than the window); a padded conv reading the same
 * buffer needs its zero point there, so the two are refused together unless that is -128 too.
 *
 * The graph output is written by the conv epilogue that computes it where there is one (int8 and
 * dequantised float32 NCHW, `q.output`); after any other stage (pools, resizes, unpool, pixel
 * shuffle, map stages, a concat) or for a value other layers read too, that stage writes a buffer
 * and an output copy stage (a map stage of that buffer alone, `int8/output.ts`) writes both
 * outputs. Transposed convs arrive lowered by `quantizeModel` (stride 2: unpool + conv; stride 1:
 * a conv); other strides are refused before planning.
 */
import {
  activationRange,
  clampInt,
  clampRange,
  GraphError,
  lookupTable,
  mulMultiplier,
  quantizeMultiplier,
  xnnpackActivationRange,
  xnnpackAddParams,
  xnnpackClampRange,
  xnnpackConvScales,
  xnnpackMulScale,
  type IntegerArithmetic,
  type XnnpackAddParams,
  type Graph,
  type QuantizedModel,
  type QuantizedMultiplier,
  type QuantParams,
} from '@fastdepth/graph-dsl';
import { scheduleRecordBytes } from '../layout.js';
import {
  planGraph,
  type Buffer,
  type ConvGeom,
  type Int8Act,
  type Int8Stage,
  type LutAct,
  type MaxPoolStage,
  type Plan,
} from '../plan.js';
import { floatStageAccess, type ReadAxis, type StageAccess } from '../schedule.js';
import { makeRequant, makeRequantXnnpack, type Requant } from './requant.js';

export const pad8 = (c: number): number => Math.ceil(c / 8) * 8;

/** The int8 ADD of a fused skip connection (TFLite's general rescaling, left shift 20). */
export interface AddQuant {
  readonly layer: string;
  /** Zero points of the conv's value (after any upsample) and of the skip buffer. */
  readonly zp1: number;
  readonly zp2: number;
  readonly m1: QuantizedMultiplier;
  readonly m2: QuantizedMultiplier;
  readonly mo: QuantizedMultiplier;
  readonly zpOut: number;
  /** Clamp after the add: [-128, 127] or the range of an activation that follows. */
  readonly lo: number;
  readonly hi: number;
  /** XNNPACK's integer ADD parameters, when the graph's arithmetic is `xnnpack` (m1, m2, mo unused). */
  readonly xnnpack?: XnnpackAddParams;
}

/** int8 facts of one conv: integer weights, bias, and the parameters around it. */
export interface ConvQuant {
  readonly weight: Int8Array;
  readonly bias: Int32Array;
  readonly inParams: QuantParams;
  readonly outParams: QuantParams;
  readonly multipliers: QuantizedMultiplier[];
  /** XNNPACK's float32 per-channel scales, when the graph's arithmetic is `xnnpack`. */
  readonly xnnpackScales?: Float32Array;
  /** Clamp of the conv's output: its activation range (fused relu/relu6) in the output params. */
  readonly lo: number;
  readonly hi: number;
}

/**
 * What the emitters of the column-range stages that move or mix one buffer's integers (pixel
 * shuffle, bilinear and nearest resizes) take: the stage, its output, its clamp [lo, hi], and
 * the locals holding rows [r0, r1) and columns [x0, x1).
 */
export interface ClampedRangeArgs<S> {
  readonly stage: S;
  readonly out: Buffer;
  readonly lo: number;
  readonly hi: number;
  readonly r0: number;
  readonly r1: number;
  readonly x0: number;
  readonly x1: number;
}

/**
 * The int8 MUL of a map stage: `in` times `mul` (per channel when `mul` is 1x1), the product of
 * the centred integers requantised by one multiplier (or XNNPACK scale) for every channel.
 */
export interface MulQuant {
  /** Zero points of the two operands. */
  readonly zpIn: number;
  readonly zpMul: number;
  /** The same requantisation in every lane, with the output zero point and a fused clamp. */
  readonly requant: Requant;
}

/** A table-lookup stage's 256 bytes (entry q + 128 for input q; a clamp after it folded in). */
export interface LutQuant {
  readonly table: Int8Array;
  /** Its place among the build's tables (`LayoutI8.luts`). */
  readonly index: number;
}

/** The clamp of a pool, unpool, pixel shuffle or resize stage: [-128, 127] or a fused activation's range. */
export interface PoolQuant {
  readonly lo: number;
  readonly hi: number;
  /** The output tensor's zero point (an unpool's inserted zeros; not the buffer's halo value). */
  readonly zeroPoint: number;
}

export interface StageQuant {
  /** The conv (pw of a dwpw stage, the conv itself otherwise). */
  readonly conv?: ConvQuant;
  /** The depthwise conv of a dwpw stage (its output lives in the row tile). */
  readonly dw?: ConvQuant;
  readonly add?: AddQuant;
  /** A map stage's product. */
  readonly mul?: MulQuant;
  /** A map stage's table lookup. */
  readonly lut?: LutQuant;
  /** A pool, global average pool, unpool, pixel shuffle or resize stage's clamp. */
  readonly pool?: PoolQuant;
  /** Dequantisation of the graph output, when the stage (a conv, or the output copy) writes it. */
  readonly output?: QuantParams;
}

export interface Int8Plan {
  readonly plan: Plan<Int8Stage>;
  /** The graph's integer arithmetic (`quantization.arithmetic`, default `tflite`). */
  readonly arithmetic: IntegerArithmetic;
  readonly quant: Map<Int8Stage, StageQuant>;
  readonly inputParams: QuantParams;
  readonly outputParams: QuantParams;
  /** Zero point each buffer's halo (and padding) holds. */
  readonly zeroPoint: Map<Buffer, number>;
}

const ADD_LEFT_SHIFT = 20;

function paramsOf(
  graph: Graph & { quantization: { tensors: Readonly<Record<string, QuantParams>> } },
  name: string,
  reader: string,
): QuantParams {
  const p = graph.quantization.tensors[name];
  if (!p) throw new GraphError(reader, `int8: no quantisation parameters for tensor "${name}"`);
  return p;
}

/** Plans `model` for the int8 kernels. Throws `GraphError` naming the layer for what they cannot run. */
export function planInt8(model: QuantizedModel): Int8Plan {
  const { graph, weights } = model;
  if (graph.quantization.scheme !== 'int8')
    throw new GraphError(
      graph.name,
      `int8 wasm target: quantisation scheme "${String(graph.quantization.scheme)}" is not int8`,
    );
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  // The float planner needs float weights only for their shapes here: the integers are read below.
  const floatWeights = new Map<string, { data: Float32Array }>();
  for (const n of graph.nodes) {
    if (n.op !== 'conv2d') continue;
    const w = weights.get(`${n.name}.weight`);
    if (!w || w.dtype !== 'int8')
      throw new GraphError(n.name, `int8 wasm target: missing int8 weight "${n.name}.weight"`);
    const b = weights.get(`${n.name}.bias`);
    if (b && b.dtype !== 'int32')
      throw new GraphError(n.name, `int8 wasm target: bias "${n.name}.bias" is ${b.dtype}, expected int32`);
    floatWeights.set(`${n.name}.weight`, { data: Float32Array.from(w.data) });
    floatWeights.set(`${n.name}.bias`, { data: new Float32Array(n.attrs.outChannels) });
  }
  const plan = planGraph(graph, floatWeights, { upsampleInReads: false });
  const arithmetic = graph.quantization.arithmetic ?? 'tflite';
  const range = arithmetic === 'xnnpack' ? xnnpackActivationRange : activationRange;
  const clip = arithmetic === 'xnnpack' ? xnnpackClampRange : clampRange;
  /** The integer interval of a fused clamp (relu, relu6, clip) in the output's parameters. */
  const clampOf = (act: Int8Act, p: QuantParams): readonly [number, number] =>
    typeof act === 'object' ? clip(act.clip[0], act.clip[1], p) : range(act, p);
  const tensors = (name: string, reader: string): QuantParams => paramsOf(graph, name, reader);

  const convQuant = (g: ConvGeom, inName: string, act: Int8Act): ConvQuant => {
    const w = weights.get(`${g.layer}.weight`)!;
    const b = weights.get(`${g.layer}.bias`);
    const inParams = tensors(inName, g.layer);
    const outParams = tensors(g.layer, g.layer);
    const scales = graph.quantization.weightScales[g.layer];
    if (!scales || (scales.length !== 1 && scales.length !== g.cout))
      throw new GraphError(g.layer, `int8: needs 1 or ${g.cout} weight scales, found ${scales?.length ?? 0}`);
    const multipliers = Array.from({ length: g.cout }, (_, c) =>
      quantizeMultiplier(
        (inParams.scale * (scales.length === 1 ? scales[0]! : scales[c]!)) / outParams.scale,
      ),
    );
    const [lo, hi] = clampOf(act, outParams);
    return {
      weight: w.data as Int8Array,
      bias: b ? (b.data as Int32Array) : new Int32Array(g.cout),
      inParams,
      outParams,
      multipliers,
      ...(arithmetic === 'xnnpack'
        ? { xnnpackScales: xnnpackConvScales(inParams.scale, scales, outParams.scale, g.cout, g.layer) }
        : {}),
      lo,
      hi,
    };
  };

  /** The int8 ADD `layer` of operands with parameters p1 and p2, clamped by a fused `act`. */
  const addQuant = (layer: string, p1: QuantParams, p2: QuantParams, act: Int8Act): AddQuant => {
    const po = tensors(layer, layer);
    const twiceMax = 2 * Math.max(p1.scale, p2.scale);
    const [lo, hi] = clampOf(act, po);
    return {
      layer,
      zp1: p1.zeroPoint,
      zp2: p2.zeroPoint,
      m1: quantizeMultiplier(p1.scale / twiceMax),
      m2: quantizeMultiplier(p2.scale / twiceMax),
      mo: quantizeMultiplier(twiceMax / (2 ** ADD_LEFT_SHIFT * po.scale)),
      zpOut: po.zeroPoint,
      lo,
      hi,
      ...(arithmetic === 'xnnpack' ? { xnnpack: xnnpackAddParams(p1, p2, po, layer) } : {}),
    };
  };

  const quant = new Map<Int8Stage, StageQuant>();
  const outputNode = graph.nodes.find((n) => n.op === 'output')!;
  const outputParams = tensors(outputNode.name, outputNode.name);
  let luts = 0;
  for (const s of plan.stages) {
    if (s.kind === 'input' || s.kind === 'concat') continue;
    const layers = plan.layers.get(s)!;
    if (
      s.kind === 'pool' ||
      s.kind === 'gap' ||
      s.kind === 'unpool' ||
      s.kind === 'pixelShuffle' ||
      s.kind === 'resize'
    ) {
      // The planner fuses nothing but activations into these stages of the int8 build; their
      // kernels clamp once.
      if (s.epi.act2 !== 'none')
        throw new GraphError(
          s.name,
          `int8 wasm target: two activations in a row after ${s.kind} "${s.name}"`,
        );
      const last = layers[layers.length - 1]!;
      const out = tensors(last, last);
      const [lo, hi] = clampOf(s.epi.act, out);
      quant.set(s, { pool: { lo, hi, zeroPoint: out.zeroPoint } });
      continue;
    }
    if (s.kind === 'map') {
      const act = s.epi.act;
      const inParams = tensors(s.in.name, s.name);
      if (s.epi.out === 'output') {
        // The planner fuses the output into no int8 map stage: this is the output copy of a
        // value some other stage wrote (`int8/output.ts`).
        if (s.terms.length > 0 || s.mul || s.affine || act !== 'none' || s.epi.act2 !== 'none')
          throw new GraphError(s.name, `int8 wasm target: "${s.name}" computes and writes the output`);
        quant.set(s, { output: outputParams });
        continue;
      }
      if (isLutAct(act)) {
        // A table lookup (the planner's standalone sigmoid, hardSigmoid or hardSwish): a clamp
        // after it carries its parameters, so it is folded into the 256 bytes.
        const after = s.epi.act2;
        if (s.terms.length > 0 || s.mul || s.affine || isLutAct(after))
          throw new GraphError(s.name, `int8 wasm target: "${s.name}" is not a table lookup of one tensor`);
        const out = tensors(s.name, s.name);
        const [lo, hi] = clampOf(after, out);
        const table = lookupTable(act, inParams, out, arithmetic).map((v) => clampInt(v, lo, hi));
        quant.set(s, { lut: { table, index: luts++ } });
        continue;
      }
      if (s.epi.act2 !== 'none')
        throw new GraphError(s.name, `int8 wasm target: two activations in a row after "${s.name}"`);
      if (s.mul && s.terms.length === 0 && !s.affine) {
        // The product requantised like TFLite's MUL (or XNNPACK's qs8-vmul), a fused clamp after.
        const pm = tensors(s.mul.name, s.name);
        const out = tensors(s.name, s.name);
        const [lo, hi] = clampOf(act, out);
        const bounds = { zp: out.zeroPoint, lo, hi };
        const requant =
          arithmetic === 'xnnpack'
            ? makeRequantXnnpack(
                new Float32Array(4).fill(xnnpackMulScale(inParams, pm, out, s.name)),
                4,
                bounds,
              )
            : // |(a - zp_a) (b - zp_b)| <= 255^2.
              makeRequant(
                Array.from({ length: 4 }, () => mulMultiplier(inParams, pm, out)),
                4,
                bounds,
                255 * 255,
                s.name,
              );
        quant.set(s, { mul: { zpIn: inParams.zeroPoint, zpMul: pm.zeroPoint, requant } });
        continue;
      }
      // A standalone add (`addRowsI8`): the planner fuses nothing but an activation into it.
      const [term] = s.terms;
      if (!term || s.terms.length !== 1 || s.mul || s.affine)
        throw new GraphError(s.name, `int8 wasm target: "${s.name}" is not an add of two tensors`);
      quant.set(s, { add: addQuant(s.name, inParams, tensors(term.name, s.name), act) });
      continue;
    }
    const q: { conv?: ConvQuant; dw?: ConvQuant; add?: AddQuant; lut?: LutQuant; output?: QuantParams } = {};
    const { act, act2 } = s.epi;
    if (isLutAct(act2) || (s.kind === 'dwpw' && isLutAct(s.dwAct)))
      throw new GraphError(s.name, `int8 wasm target: a table lookup in "${s.name}" after another step`);
    // A fused lookup reads the conv's requantised output in its own parameters, unclamped.
    const convAct = isLutAct(act) ? 'none' : act;
    if (s.kind === 'dwpw') {
      q.dw = convQuant(s.dw, s.in.name, s.dwAct as Int8Act);
      q.conv = convQuant(s.conv, s.dw.layer, convAct);
    } else {
      q.conv = convQuant(s.conv, s.in.name, convAct);
    }
    if (isLutAct(act)) {
      // The lookup's layer names its output parameters; a clamp after it is folded in.
      const layer = layers.find((l) => byName.get(l)?.op === act);
      if (!layer || s.epi.add || s.epi.up)
        throw new GraphError(
          s.name,
          `int8: a fused ${act} the planner did not name, or with an add or upsample`,
        );
      const out = tensors(layer, layer);
      const [lo, hi] = clampOf(act2, out);
      const table = lookupTable(act, q.conv.outParams, out, arithmetic).map((v) => clampInt(v, lo, hi));
      q.lut = { table, index: luts++ };
    } else if (s.epi.add) {
      const addLayer = layers.find((l) => byName.get(l)?.op === 'add');
      if (!addLayer) throw new GraphError(s.name, 'int8: a fused add the planner did not name');
      q.add = addQuant(addLayer, q.conv.outParams, tensors(s.epi.add.name, addLayer), act2);
    } else if (act2 !== 'none') {
      throw new GraphError(s.name, 'int8: a second activation without an add');
    }
    if (s.epi.out === 'output') q.output = outputParams;
    quant.set(s, q);
  }
  const zeroPoint = new Map<Buffer, number>();
  for (const b of plan.buffers) zeroPoint.set(b, tensors(b.name, b.name).zeroPoint);
  for (const s of plan.stages) {
    // Average pools correct for whatever their input's halo holds (`avgPoolRowsI8`).
    if (s.kind !== 'pool' || !s.max || !poolReadsPadding(s)) continue;
    const zp = zeroPoint.get(s.in)!;
    const conv = plan.stages.find((c) => {
      // The convolution stages (the others read no padded windows).
      if (c.kind === 'dwpw') return c.in === s.in && convReadsPadding(c.dw, s.in);
      if (c.kind === 'conv' || c.kind === 'pw' || c.kind === 'head' || c.kind === 'dw')
        return c.in === s.in && convReadsPadding(c.conv, s.in);
      return false;
    });
    if (conv && zp !== -128)
      throw new GraphError(
        s.name,
        `int8 wasm target: max pool "${s.name}" and padded conv "${conv.name}" both read "${s.in.name}", whose zero point ${zp} is not -128 (the pool's padding needs -128, the conv's the zero point)`,
      );
    zeroPoint.set(s.in, -128);
  }
  return {
    plan,
    arithmetic,
    quant,
    inputParams: tensors(plan.input.name, plan.input.name),
    outputParams,
    zeroPoint,
  };
}

/** Whether a conv's windows reach outside its input `b` (into the halo). */
function convReadsPadding(g: ConvGeom, b: Buffer): boolean {
  return (
    g.pt > 0 ||
    g.pl > 0 ||
    (g.oh - 1) * g.sh - g.pt + (g.kh - 1) * g.dh + 1 > b.h ||
    (g.ow - 1) * g.sw - g.pl + (g.kw - 1) * g.dw + 1 > b.w
  );
}

/** Whether a map stage's `act` is a table lookup. */
export function isLutAct(act: Int8Act | LutAct): act is LutAct {
  return act === 'sigmoid' || act === 'hardSigmoid' || act === 'hardSwish';
}

/** Whether a pool's windows reach outside its input (into the halo). */
function poolReadsPadding(s: MaxPoolStage): boolean {
  return (
    s.pt > 0 ||
    s.pl > 0 ||
    (s.rows - 1) * s.sh - s.pt + s.kh > s.in.h ||
    (s.cols - 1) * s.sw - s.pl + s.kw > s.in.w
  );
}

/** Geometry of an int8 buffer in bytes. */
export interface BufferGeomI8 {
  readonly cp: number;
  readonly pix: number;
  readonly rs: number;
  readonly origin: number;
  readonly bytes: number;
}

export function geomI8(b: Buffer): BufferGeomI8 {
  const cp = pad8(b.c);
  const pix = cp;
  const rs = (b.w + 2 * b.halo) * pix;
  return { cp, pix, rs, origin: b.offset + b.halo * rs + b.halo * pix, bytes: (b.h + 2 * b.halo) * rs };
}

const align = (n: number, a = 64): number => Math.ceil(n / a) * a;
export const PAGE = 65536;
export const BARRIER_OFFSET = 0;

/**
 * The `StageAccess` of an int8 stage, for the thread schedule (`schedule.ts`). The int8 plan has
 * the float plan's stages and buffers without the ring (no upsample fused into reads), so a
 * stage reads and writes the same rows and columns as its float counterpart; the int8 GEMM and
 * depthwise row kernels, the concat copy, the map stages (add, mul, table lookup, the output
 * copy), the pixel shuffle, the resizes and the average pool take column ranges as the float
 * ones do (the input stage, the dense conv, the head, the max pool and the unpool take whole
 * rows; a global average pool is one output pixel).
 */
export function int8StageAccess(s: Int8Stage): StageAccess {
  if ((s.kind === 'dw' || s.kind === 'dwpw') && s.ring)
    throw new Error(`codegen-wasm int8: stage ${s.name} reads through a ring (a planner bug)`);
  const a = floatStageAccess(s);
  const columns =
    s.kind === 'pw' ||
    s.kind === 'dw' ||
    s.kind === 'dwpw' ||
    s.kind === 'concat' ||
    s.kind === 'map' ||
    s.kind === 'pixelShuffle' ||
    s.kind === 'resize' ||
    (s.kind === 'pool' && !s.max);
  // A nearest resize reads floor(float32 source), within the float window of any ratio.
  if (s.kind === 'resize' && s.mode === 'bilinear') {
    // The float window bounds reads near floor(exact source) and the next pixel. TFLite's
    // integer positions are exact only where the 1/1024 step is (1024 * in divisible by out,
    // as for x2); elsewhere they drift, so the stage is taken to read the whole axis.
    const exact = (inSize: number, outSize: number): boolean => (1024 * inSize) % outSize === 0;
    const whole: ReadAxis = { stride: 0, pad: 0, extent: 0, div: 1 };
    const read = a.reads[0]!;
    const rows = exact(s.in.h, s.rows) ? read.rows : { ...whole, extent: s.in.h };
    const cols = exact(s.in.w, s.cols) ? read.cols : { ...whole, extent: s.in.w };
    return { ...a, columns, reads: [{ buffer: read.buffer, rows, cols }] };
  }
  return { ...a, columns };
}

/**
 * Memory of an int8 build: barrier, the thread schedule table, the relaxed probe, lookup tables,
 * weights, float input, float and int8 output, buffers, scratch.
 */
export interface LayoutI8 {
  /** The thread schedule table (`run.ts`), written by each module's data segment. */
  readonly schedule: { readonly byteOffset: number; readonly recordBytes: number };
  readonly weights: { readonly byteOffset: number; readonly byteLength: number };
  readonly input: { readonly byteOffset: number };
  /** NCHW float32 (dequantised) output, pad8(C) planes. */
  readonly output: {
    readonly byteOffset: number;
    readonly h: number;
    readonly w: number;
    readonly c: number;
  };
  /** NCHW int8 output, pad8(C) planes. */
  readonly outputInt8: { readonly byteOffset: number };
  readonly scratch: { readonly byteOffset: number; readonly bytesPerThread: number };
  /**
   * 48 bytes written by the relaxed builds' data segment: the operands and the exact result of
   * the relaxed dot the start function checks before any stage runs (`emit.ts`).
   */
  readonly probe: { readonly byteOffset: number };
  /** The table-lookup stages' 256-byte tables (`LutQuant.index` order), written by the data segment. */
  readonly luts: { readonly byteOffset: number; readonly count: number };
  readonly maxThreads: number;
  readonly pages: number;
}

/**
 * Per-thread scratch of a stage: the depthwise row tile of dwpw stages, int8 values stored as
 * i16 so the GEMM broadcasts a pair of input channels with one `v128.load32_splat`.
 */
export function tileBytes(s: Int8Stage): number {
  return s.kind === 'dwpw' ? align(s.dw.ow * pad8(s.dw.cin) * 2) : 0;
}

export function layoutI8(
  plan: Plan<Int8Stage>,
  weightBytes: number,
  maxThreads: number,
  lutCount = 0,
): LayoutI8 {
  let at = 64;
  const recordBytes = scheduleRecordBytes(maxThreads);
  const schedule = { byteOffset: at, recordBytes };
  at = align(at + maxThreads * plan.stages.length * recordBytes);
  const probe = { byteOffset: at };
  at = align(at + 48);
  const luts = { byteOffset: at, count: lutCount };
  at = align(at + 256 * lutCount);
  const weights = { byteOffset: at, byteLength: weightBytes };
  at = align(at + weightBytes);
  const [, ci, hi, wi] = plan.input.shape;
  const input = { byteOffset: at };
  at = align(at + ci * hi * wi * 4);
  const [, co, ho, wo] = plan.output.shape;
  const output = { byteOffset: at, h: ho, w: wo, c: co };
  at = align(at + pad8(co) * ho * wo * 4);
  const outputInt8 = { byteOffset: at };
  at = align(at + pad8(co) * ho * wo);
  for (const b of plan.buffers) {
    b.offset = at;
    at = align(at + geomI8(b).bytes);
  }
  let bytesPerThread = 0;
  for (const s of plan.stages) bytesPerThread = Math.max(bytesPerThread, tileBytes(s));
  const scratch = { byteOffset: at, bytesPerThread };
  at += bytesPerThread * maxThreads;
  return {
    schedule,
    weights,
    input,
    output,
    outputInt8,
    scratch,
    probe,
    luts,
    maxThreads,
    pages: Math.ceil(at / PAGE) + 1,
  };
}
