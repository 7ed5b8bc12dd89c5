/**
 * The planner: turns a graph (BatchNorm already folded) into a list of stages, each one wasm
 * function that writes one activation buffer, split by output rows among threads.
 *
 * A stage is one convolution (or the input conversion) plus everything the graph lets it do in
 * registers before its result is stored: bias, ReLU/ReLU6, nearest x2 upsampling, a skip add and a
 * second activation (the epilogue). A depthwise conv read only by a 1x1 conv becomes one fused
 * `dwpw` stage whose depthwise output lives in a per-thread row tile, never in a buffer.
 *
 * Nearest x2 upsampling and a skip add after it are fused into the *reads* of the depthwise conv
 * that follows (`kernels/ring.ts`: the stage builds each input row once per thread in a small
 * ring of rows, so the 4x larger sum never goes through memory; measured 3-10 % faster on
 * fastdepth-pruned than writing it). Where the reader is not a depthwise conv, they are fused into
 * the *writes* of the producing conv (each value stored to a 2x2 block, the skip added there).
 * Nearest upsampling followed by a 1x1 conv is commuted instead (`conv1x1(up(x)) =
 * up(conv1x1(x))`), so FastDepth's head runs at 112x112 and writes 224x224.
 *
 * Every other op of the table (float build only, `planFloatGraph`) is a stage of its own that
 * computes each output pixel from a few input pixels (`PixelStage`: map, resize, unpool, pixel
 * shuffle, pool, global average pool, transposed conv) and ends in the same epilogue, so the
 * activations, a skip add or the graph output that follow still fuse; concat copies its inputs
 * to their channel offsets. sigmoid, hardSigmoid, hardSwish and clip fuse wherever relu does.
 * The int8 build (`planGraph`) keeps to the ops with int8 kernels: the FastDepth-family ops and
 * MobileNetV3's (clip fused wherever relu is, a clamp; sigmoid, hardSigmoid and hardSwish as
 * table lookups in the epilogue of a conv they follow, with no upsample or add fused after them,
 * or as map stages of their own; mul, average and global average pools as pixel stages, with at
 * most a clamp fused), and names every other layer in one error.
 *
 * Activations are channels-last (NHWC) with channels padded to a multiple of 4 (one v128) and a
 * zero border ("halo") as wide as the largest pad of any conv that reads them: convolutions then
 * read padded positions as zeros with no bounds checks. The halo is never written, so the zeros
 * of a freshly created memory stay zeros.
 */
import { consumers, GraphError, inferShapes, type Graph, type Node, type Shape } from '@fastdepth/graph-dsl';

export type Act = 'none' | 'relu' | 'relu6';

/**
 * The activations the int8 epilogues fuse: clamps of the integers (relu, relu6 and clip carry
 * their input's parameters, so each is a clamp at its quantised bounds).
 */
export type Int8Act = Act | { readonly clip: readonly [number, number] };

/**
 * The int8 build's table lookups (own output parameters): the `act` of a conv stage (looking up
 * its requantised values) or of a map stage of their own.
 */
export type LutAct = 'sigmoid' | 'hardSigmoid' | 'hardSwish';

/**
 * Every activation the float kernels apply in registers (the int8 epilogues take only `Int8Act`):
 * PyTorch's Sigmoid, Hardsigmoid (relu6(x + 3) / 6), Hardswish (x * hardsigmoid(x)) and clamp.
 */
export type Activation =
  Act | 'sigmoid' | 'hardSigmoid' | 'hardSwish' | { readonly clip: readonly [number, number] };

/** An NHWC float32 activation buffer with padded channels and a zero halo. */
export interface Buffer {
  readonly name: string;
  readonly c: number;
  /** Channels padded to a multiple of 4. */
  readonly cp: number;
  readonly h: number;
  readonly w: number;
  halo: number;
  /** Byte offset of the buffer's first byte (halo included); set by the memory layout. */
  offset: number;
}

/** What a stage does with each computed vector before it is stored. */
export interface Epilogue<A = Int8Act> {
  act: A;
  /** Nearest x2: each output pixel is written to a 2x2 block. */
  up: boolean;
  /** Buffer added after the upsample (a skip connection), at the written position. */
  add: Buffer | undefined;
  /** Activation after the add. */
  act2: A;
  /** Where values go: a buffer, or the NCHW graph output. */
  out: Buffer | 'output';
  /**
   * First channel written in `out` (float build: a concat's input whose producer writes its
   * channels of the concat buffer directly); 0 when absent.
   */
  outOffset?: number;
}

export interface ConvGeom {
  readonly layer: string;
  readonly cin: number;
  readonly cout: number;
  readonly kh: number;
  readonly kw: number;
  readonly sh: number;
  readonly sw: number;
  readonly pt: number;
  readonly pl: number;
  readonly dh: number;
  readonly dw: number;
  /** Output spatial size of the conv itself (before any upsample in the epilogue). */
  readonly oh: number;
  readonly ow: number;
  /** Folded weight (OIHW, depthwise: C x 1 x kh x kw) and bias. */
  readonly weight: Float32Array;
  readonly bias: Float32Array | undefined;
}

/**
 * The stages of the int8 build (`A`: a clamp, or as a conv's `act` a table lookup of its
 * requantised values) and the convolution stages of the float build (`A = Activation`).
 */
export type Stage<A = Int8Act | LutAct> =
  /** NCHW graph input -> NHWC buffer. */
  | { readonly kind: 'input'; readonly name: string; readonly out: Buffer; readonly shape: Shape }
  /**
   * conv: dense conv (groups 1), any kernel/stride/pad (the first conv of every encoder);
   * pw: 1x1 conv, stride 1, no pad (a GEMM over the pixels of a row);
   * head: 1x1 conv to a single channel (depth heads: dot products over channels).
   */
  | {
      readonly kind: 'conv' | 'pw' | 'head';
      readonly name: string;
      readonly in: Buffer;
      readonly conv: ConvGeom;
      epi: Epilogue<A>;
    }
  /** Depthwise conv alone. */
  | {
      readonly kind: 'dw';
      readonly name: string;
      readonly in: Buffer;
      readonly conv: ConvGeom;
      readonly ring: Ring | undefined;
      epi: Epilogue<A>;
    }
  /** Depthwise conv + act into a row tile, then the 1x1 conv that reads it. */
  | {
      readonly kind: 'dwpw';
      readonly name: string;
      readonly in: Buffer;
      readonly dw: ConvGeom;
      readonly dwAct: A;
      readonly ring: Ring | undefined;
      readonly conv: ConvGeom;
      epi: Epilogue<A>;
    };

/** Geometry of a transposed conv (PyTorch weight layout in, out / groups, kh, kw). */
export interface ConvTGeom {
  readonly layer: string;
  readonly cin: number;
  readonly cout: number;
  readonly groups: number;
  readonly kh: number;
  readonly kw: number;
  readonly sh: number;
  readonly sw: number;
  readonly pt: number;
  readonly pl: number;
  readonly weight: Float32Array;
  readonly bias: Float32Array | undefined;
}

/**
 * Float-only stages that compute each output pixel from a few input pixels (`kernels/pixel.ts`),
 * over an output grid of `rows` x `cols`, and end in the same epilogue as a conv (so activations,
 * a skip add and the graph output fuse into them too).
 */
export type PixelStage =
  /**
   * in [+ terms...] [* mul] [* scale + shift]: standalone activations, adds of complete values,
   * elementwise or per-channel (N, C, 1, 1: squeeze-excite) products, a BatchNorm after no conv.
   */
  | (PixelBase & {
      readonly kind: 'map';
      readonly terms: readonly Buffer[];
      readonly mul: Buffer | undefined;
      readonly affine: { readonly scale: Float32Array; readonly shift: Float32Array } | undefined;
    })
  /** Nearest or bilinear (align_corners false) resize to rows x cols, any ratio. */
  | (PixelBase & { readonly kind: 'resize'; readonly mode: 'nearest' | 'bilinear' })
  /** Zero insertion: input (y, x) at output (s y, s x). */
  | (PixelBase & { readonly kind: 'unpool'; readonly scale: number })
  /** Depth-to-space, PyTorch order. */
  | (PixelBase & { readonly kind: 'pixelShuffle'; readonly block: number })
  /** Max or average pooling window; padded positions never count (max) or per countIncludePad. */
  | (PixelBase & {
      readonly kind: 'pool';
      readonly max: boolean;
      readonly kh: number;
      readonly kw: number;
      readonly sh: number;
      readonly sw: number;
      readonly pt: number;
      readonly pl: number;
      readonly countIncludePad: boolean;
    })
  /** Mean over H and W to a 1x1 grid. */
  | (PixelBase & { readonly kind: 'gap' })
  /** Transposed conv, gathered per output pixel. */
  | (PixelBase & { readonly kind: 'convT'; readonly conv: ConvTGeom });

interface PixelBase {
  readonly name: string;
  readonly in: Buffer;
  readonly rows: number;
  readonly cols: number;
  epi: Epilogue<Activation>;
}

/** Channel concatenation: each input copied to its channel offset of `out`. */
export interface ConcatStage {
  readonly kind: 'concat';
  readonly name: string;
  /** The inputs copied and their first channel in `out` (other inputs' producers write `out`). */
  readonly ins: readonly { readonly buffer: Buffer; readonly offset: number }[];
  readonly out: Buffer;
  readonly rows: number;
  readonly cols: number;
}

/** Every stage of the float build. */
export type FloatStage = Stage<Activation> | PixelStage | ConcatStage;

/**
 * Max or average pooling in the int8 build: a `pool` stage whose epilogue holds at most an
 * activation (the planner fuses no upsample, add or graph output into it there).
 */
export type MaxPoolStage = Omit<Extract<PixelStage, { kind: 'pool' }>, 'epi'> & { epi: Epilogue };

/** Average pooling in the int8 build (a `pool` stage with `max` false; see `MaxPoolStage`). */
export type AvgPoolStage = MaxPoolStage;

/** Global average pooling in the int8 build: a `gap` stage whose epilogue holds at most a clamp. */
export type GapStage = Omit<Extract<PixelStage, { kind: 'gap' }>, 'epi'> & { epi: Epilogue };

/**
 * Unpooling in the int8 build: an `unpool` stage whose epilogue holds at most an activation
 * (its output carries its input's parameters; the inserted zeros are the zero point).
 */
export type UnpoolStage = Omit<Extract<PixelStage, { kind: 'unpool' }>, 'epi'> & { epi: Epilogue };

/**
 * Pixel shuffle in the int8 build: a `pixelShuffle` stage whose epilogue holds at most an
 * activation (its output carries its input's parameters: the stage moves integers).
 */
export type ShuffleStage = Omit<Extract<PixelStage, { kind: 'pixelShuffle' }>, 'epi'> & { epi: Epilogue };

/**
 * Every `map` stage of the int8 build: an add of two complete buffers (`in` and `terms[0]`: an
 * add the planner could not fuse into a conv's epilogue, e.g. a skip add after an UpProj block,
 * whose own add is fused there) or a product with a second buffer (`mul`: elementwise, or per
 * channel in squeeze-excite), each with at most a clamp; or a table lookup (`act` a `LutAct`,
 * no terms or mul) with at most a clamp after it (`act2`).
 */
export type Int8MapStage = Omit<Extract<PixelStage, { kind: 'map' }>, 'epi'> & {
  epi: Epilogue<Int8Act | LutAct>;
};

/**
 * A bilinear resize in the int8 build (the BLConv decoders' x2, or a bilinear `resize`): a
 * `resize` stage whose epilogue holds at most an activation (TFLite's integer RESIZE_BILINEAR:
 * its output carries its input's parameters).
 */
export type BilinearStage = Omit<Extract<PixelStage, { kind: 'resize' }>, 'epi'> & {
  readonly mode: 'bilinear';
  epi: Epilogue;
};

/**
 * A nearest resize in the int8 build (a `resize` op, or an upsample no conv epilogue takes): a
 * `resize` stage whose epilogue holds at most an activation (its output carries its input's
 * parameters: the stage gathers integers, `int8/nearest.ts`).
 */
export type NearestStage = Omit<Extract<PixelStage, { kind: 'resize' }>, 'epi'> & {
  readonly mode: 'nearest';
  epi: Epilogue;
};

/** Every stage of the int8 build (a concat copies integers: its inputs share its parameters). */
export type Int8Stage =
  | Stage
  | MaxPoolStage
  | GapStage
  | UnpoolStage
  | ShuffleStage
  | BilinearStage
  | NearestStage
  | ConcatStage
  | Int8MapStage;

/**
 * A depthwise conv whose input is `up(y) + skip` (nearest x2, skip optional) never stored: the
 * stage builds the input rows it needs, each once, in a per-thread ring of `kh` rows laid out
 * like `in` (a buffer that has no memory of its own), from the half-size `y` and `skip`.
 */
export interface Ring {
  readonly y: Buffer;
  readonly skip: Buffer | undefined;
}

export type ConvStage = Exclude<Stage, { kind: 'input' }>;
/** A float stage with an epilogue (open to fusing what follows). */
export type EpiStage = Exclude<FloatStage, { kind: 'input' | 'concat' }>;

export interface Plan<S = Stage> {
  readonly stages: S[];
  readonly buffers: Buffer[];
  readonly input: { readonly name: string; readonly shape: Shape };
  readonly output: { readonly name: string; readonly shape: Shape };
  /** Layers each stage covers (for the manifest and profiles). */
  readonly layers: Map<S, string[]>;
}

export type FloatPlan = Plan<FloatStage>;

export const pad4 = (c: number): number => Math.ceil(c / 4) * 4;

/** Output rows a stage splits among threads: the rows of the conv before any upsample. */
export function stageRows(stage: FloatStage): number {
  if (stage.kind === 'input') return stage.shape[2];
  return 'conv' in stage && stage.kind !== 'convT' ? stage.conv.oh : stage.rows;
}

/** Output columns of a stage's grid (before any upsample). */
export function stageCols(stage: FloatStage): number {
  if (stage.kind === 'input') return stage.shape[3];
  return 'conv' in stage && stage.kind !== 'convT' ? stage.conv.ow : stage.cols;
}

/** The buffer a stage writes (undefined: the graph output). */
export function stageOut(stage: FloatStage): Buffer | undefined {
  if (stage.kind === 'input' || stage.kind === 'concat') return stage.out;
  return stage.epi.out === 'output' ? undefined : stage.epi.out;
}

/**
 * Ops the int8 kernels have no kernel for, whatever surrounds them (quantizeModel lowers the
 * stride-1 and stride-2 transposed convs to convs: the others reach here).
 */
const NO_KERNEL: ReadonlySet<Node['op']> = new Set(['convTranspose2d']);

const SUPPORTED =
  'supported: conv2d, depthwise conv, BatchNorm after a conv, relu, relu6, clip, sigmoid, hardSigmoid, hardSwish, add, mul, nearest and bilinear upsample and resize, max and average pools, global average pool, unpool, pixel shuffle, concat';

/** Most layers named in the error about ops without a kernel; the rest are counted. */
const MAX_LISTED_LAYERS = 12;

/**
 * Every layer whose op has no kernel, named in one error before planning starts (a graph
 * from outside the family often has several kinds; fixing them one error at a time is slow).
 */
function checkKernels(graph: Graph): void {
  const lacking = graph.nodes.filter((n) => NO_KERNEL.has(n.op));
  if (lacking.length === 0) return;
  const names = lacking.map((n) => `"${n.name}" (${n.op})`);
  const more = names.length - MAX_LISTED_LAYERS;
  const listed = `${names.slice(0, MAX_LISTED_LAYERS).join(', ')}${more > 0 ? ` and ${more} more` : ''}`;
  throw new GraphError(
    lacking[0]!.name,
    `the wasm target has no kernel yet for ${names.length === 1 ? listed : `these ${names.length} layers: ${listed}`} (${SUPPORTED})`,
  );
}

function unsupported(layer: string, what: string): never {
  throw new GraphError(layer, `the wasm target cannot compile ${what} yet (${SUPPORTED})`);
}

/** The value a stage is still open to extend: its last fused layer and the stage itself. */
interface Tail {
  readonly stage: EpiStage;
  /** Fused steps so far, in order: which parts of the epilogue are taken. */
  readonly layers: string[];
}

export interface PlanOptions {
  /**
   * Fuse nearest x2 (and a skip add after it) into the reads of a depthwise conv that follows
   * (ring of rows) rather than into the writes of the producing conv (default true).
   */
  readonly upsampleInReads?: boolean;
}

/**
 * The plan of the int8 build: only the ops with int8 kernels (conv, depthwise, relu/relu6/clip,
 * add, nearest and bilinear resizes, max and average pools, global average pool, unpool, pixel
 * shuffle, concat, mul, sigmoid/hardSigmoid/hardSwish as table lookups), every other op refused
 * in one error naming each such layer.
 */
export function planGraph(
  graph: Graph,
  weights: ReadonlyMap<string, { readonly data: Float32Array }>,
  options: PlanOptions = {},
): Plan<Int8Stage> {
  checkKernels(graph);
  // With these ops only, `plan` fuses only clamps into epilogues (and table lookups into convs'),
  // and of the pixel stages makes only the ones `Int8Stage` lists.
  return plan(graph, weights, options, false) as unknown as Plan<Int8Stage>;
}

/** The plan of the float build: every op of graph-dsl's op table. */
export function planFloatGraph(
  graph: Graph,
  weights: ReadonlyMap<string, { readonly data: Float32Array }>,
  options: PlanOptions = {},
): FloatPlan {
  return plan(graph, weights, options, true);
}

/** Whether an activation is one of the int8 build's table lookups. */
const isLutActivation = (a: Activation): a is LutAct =>
  a === 'sigmoid' || a === 'hardSigmoid' || a === 'hardSwish';

/** The stages of a convolution (whose int8 epilogue requantises, so it can look values up). */
const isConvStage = (s: EpiStage): boolean =>
  s.kind === 'conv' || s.kind === 'pw' || s.kind === 'head' || s.kind === 'dw' || s.kind === 'dwpw';

const activationOf = (node: Node): Activation | undefined => {
  switch (node.op) {
    case 'relu':
    case 'relu6':
    case 'sigmoid':
    case 'hardSigmoid':
    case 'hardSwish':
      return node.op;
    case 'clip':
      return { clip: [node.attrs.min, node.attrs.max] };
    default:
      return undefined;
  }
};

/** `all`: every op (float build); else the family ops with the int8 build's errors. */
function plan(
  graph: Graph,
  weights: ReadonlyMap<string, { readonly data: Float32Array }>,
  options: PlanOptions,
  all: boolean,
): FloatPlan {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const shapes = inferShapes(graph);
  const users = consumers(graph);
  const stages: FloatStage[] = [];
  const buffers: Buffer[] = [];
  const layers = new Map<FloatStage, string[]>();
  /** Materialised values: layer name -> buffer. */
  const materialised = new Map<string, Buffer>();
  /** Open values: layer name -> the stage whose epilogue produces it. */
  const open = new Map<string, Tail>();
  let input: Plan['input'] | undefined;
  let output: Plan['output'] | undefined;

  const newBuffer = (name: string, shape: Shape): Buffer => {
    const b: Buffer = {
      name,
      c: shape[1],
      cp: pad4(shape[1]),
      h: shape[2],
      w: shape[3],
      halo: 0,
      offset: -1,
    };
    buffers.push(b);
    return b;
  };
  const soleUser = (name: string): boolean => users.get(name)!.length === 1;
  const addStage = (s: FloatStage, names: string[]): void => {
    stages.push(s);
    layers.set(s, names);
  };
  /** Adds a stage with an epilogue and leaves its value open under `name`. */
  const addOpen = (s: EpiStage, name: string, names: string[] = [name]): void => {
    addStage(s, names);
    open.set(name, { stage: s, layers: layers.get(s)! });
  };

  /** The buffer holding `name`: an open stage is closed and made to write a new buffer. */
  const bufferOf = (name: string, reader: string, shape: Shape = shapes.get(name)!): Buffer => {
    const m = materialised.get(name);
    if (m) return m;
    const t = open.get(name);
    if (!t) throw new GraphError(reader, `reads "${name}", which the wasm planner has no value for`);
    const b = newBuffer(name, shape);
    t.stage.epi.out = b;
    open.delete(name);
    materialised.set(name, b);
    return b;
  };

  const convWeights = (name: string): { w: Float32Array; b: Float32Array | undefined } => {
    const w = weights.get(`${name}.weight`);
    if (!w) throw new GraphError(name, `missing weight "${name}.weight"`);
    return { w: w.data, b: weights.get(`${name}.bias`)?.data };
  };

  const geom = (node: Extract<Node, { op: 'conv2d' }>, dense: boolean): ConvGeom => {
    const a = node.attrs;
    const inShape = shapes.get(node.inputs[0]!)!;
    const out = shapes.get(node.name)!;
    const { w, b } = convWeights(node.name);
    const cin = inShape[1];
    const taps = a.kernel[0] * a.kernel[1];
    let weight = w;
    if (dense && a.groups > 1) {
      // A grouped conv as a dense one whose weights are zero across groups: the dense kernels
      // run it (groups times the MACs, but every grouped conv compiles).
      const cinG = cin / a.groups;
      const coutG = a.outChannels / a.groups;
      weight = new Float32Array(a.outChannels * cin * taps);
      for (let o = 0; o < a.outChannels; o++) {
        const g = Math.floor(o / coutG);
        for (let i = 0; i < cinG; i++)
          for (let t = 0; t < taps; t++)
            weight[(o * cin + g * cinG + i) * taps + t] = w[(o * cinG + i) * taps + t]!;
      }
    }
    return {
      layer: node.name,
      cin,
      cout: a.outChannels,
      kh: a.kernel[0],
      kw: a.kernel[1],
      sh: a.stride[0],
      sw: a.stride[1],
      pt: a.pads[0],
      pl: a.pads[1],
      dh: a.dilation[0],
      dw: a.dilation[1],
      oh: out[2],
      ow: out[3],
      weight,
      bias: a.bias ? b : undefined,
    };
  };
  const freshEpi = (): Epilogue<Activation> => ({
    act: 'none',
    up: false,
    add: undefined,
    act2: 'none',
    out: 'output',
  });
  /** A map stage over the complete value `src` (its layer list starts with `name`). */
  const mapStage = (
    name: string,
    src: string,
    extra: Partial<Pick<Extract<PixelStage, { kind: 'map' }>, 'terms' | 'mul' | 'affine'>> = {},
  ): Extract<PixelStage, { kind: 'map' }> => {
    const inBuf = bufferOf(src, name);
    return {
      kind: 'map',
      name,
      in: inBuf,
      rows: inBuf.h,
      cols: inBuf.w,
      terms: extra.terms ?? [],
      mul: extra.mul,
      affine: extra.affine,
      epi: freshEpi(),
    };
  };
  /**
   * Whether an upsample, a skip add or the graph output may fuse into `stage`'s epilogue: always
   * in the float build; in the int8 build not into a pool, an unpool, a pixel shuffle, a resize
   * or a map stage, whose kernels only clamp (the graph output after one is an output copy).
   */
  const fusesMoreThanAct = (stage: EpiStage): boolean =>
    all ||
    (stage.kind !== 'pool' &&
      stage.kind !== 'gap' &&
      stage.kind !== 'unpool' &&
      stage.kind !== 'pixelShuffle' &&
      stage.kind !== 'resize' &&
      stage.kind !== 'map');
  /**
   * Whether a nearest upsample or a skip add may fuse into `stage`'s epilogue: as
   * `fusesMoreThanAct`, and in the int8 build not after a fused table lookup (whose values the
   * epilogue stores as they come out of the table).
   */
  const fusesUpOrAdd = (stage: EpiStage): boolean =>
    fusesMoreThanAct(stage) && (all || !isLutActivation(stage.epi.act));
  /** Where an activation may go in an open stage's epilogue, if anywhere. */
  const actSlot = (e: Epilogue<Activation>): 'act' | 'act2' | undefined =>
    !e.add && e.act === 'none' ? 'act' : e.act2 === 'none' ? 'act2' : undefined;

  for (const node of graph.nodes) {
    const shape = shapes.get(node.name)!;
    if (shape[0] !== 1) unsupported(node.name, `batch size ${shape[0]} (only 1)`);
    /** A resize stage of this node's output size (an unfused upsample, or the resize op). */
    const openResize = (mode: 'nearest' | 'bilinear'): void =>
      addOpen(
        {
          kind: 'resize',
          name: node.name,
          in: bufferOf(node.inputs[0]!, node.name),
          rows: shape[2],
          cols: shape[3],
          mode,
          epi: freshEpi(),
        },
        node.name,
      );
    switch (node.op) {
      case 'input': {
        if (input) unsupported(node.name, 'a second input');
        input = { name: node.name, shape };
        const out = newBuffer(node.name, shape);
        materialised.set(node.name, out);
        addStage({ kind: 'input', name: node.name, out, shape }, [node.name]);
        break;
      }
      case 'conv2d': {
        const a = node.attrs;
        const src = node.inputs[0]!;
        const cin = shapes.get(src)![1];
        let depthwise = a.groups === cin && a.outChannels === cin && a.groups > 1;
        if (depthwise && (a.kernel[1] > 9 || a.stride[1] > 2 || a.dilation[1] > 2)) {
          if (!all)
            unsupported(
              node.name,
              `a depthwise conv with kernel width ${a.kernel[1]}, stride ${a.stride[1]}, dilation ${a.dilation[1]} (at most 9, 2, 2)`,
            );
          // Beyond the depthwise row kernel: the dense kernel with block-diagonal weights.
          depthwise = false;
        }
        if (a.groups !== 1 && !depthwise && !all)
          unsupported(node.name, `a grouped conv (groups ${a.groups}) that is not depthwise`);
        const g = geom(node, !depthwise);
        const pointwise =
          !depthwise && g.kh === 1 && g.kw === 1 && g.sh === 1 && g.sw === 1 && a.pads.every((p) => p === 0);
        const tail = open.get(src);
        // A depthwise conv read only by this 1x1 conv: fuse into one dwpw stage.
        if (
          pointwise &&
          tail &&
          tail.stage.kind === 'dw' &&
          soleUser(src) &&
          !tail.stage.epi.up &&
          !tail.stage.epi.add &&
          tail.stage.epi.act2 === 'none' &&
          // int8: the row tile holds the depthwise conv's requantised values, not a lookup's.
          (all || !isLutActivation(tail.stage.epi.act))
        ) {
          const dwStage = tail.stage;
          const fused: FloatStage = {
            kind: 'dwpw',
            name: node.name,
            in: dwStage.in,
            dw: dwStage.conv,
            dwAct: dwStage.epi.act,
            ring: dwStage.ring,
            conv: g,
            epi: freshEpi(),
          };
          stages[stages.indexOf(dwStage)] = fused;
          layers.set(fused, [...layers.get(dwStage)!, node.name]);
          layers.delete(dwStage);
          open.delete(src);
          open.set(node.name, { stage: fused, layers: layers.get(fused)! });
          break;
        }
        // up(x) read only by a 1x1 conv: run the conv before the upsample (they commute).
        if (
          pointwise &&
          tail &&
          soleUser(src) &&
          tail.stage.epi.up &&
          !tail.stage.epi.add &&
          tail.stage.epi.act2 === 'none'
        ) {
          tail.stage.epi.up = false;
          // The buffer holds the value before the upsample: half the size.
          const [n, c, h, w] = shapes.get(src)!;
          const inBuf = bufferOf(src, node.name, [n, c, h / 2, w / 2]);
          addOpen(
            {
              kind: g.cout === 1 ? 'head' : 'pw',
              name: node.name,
              in: inBuf,
              conv: { ...g, oh: g.oh / 2, ow: g.ow / 2 },
              epi: { ...freshEpi(), up: true },
            },
            node.name,
          );
          break;
        }
        // up(y) [+ skip] read only by a depthwise conv: the conv builds its input rows itself
        // (fused into its reads), so the 4x larger upsampled tensor is never written.
        if (
          depthwise &&
          g.dh === 1 &&
          tail &&
          soleUser(src) &&
          tail.stage.epi.up &&
          tail.stage.epi.act2 === 'none' &&
          (options.upsampleInReads ?? true)
        ) {
          const e = tail.stage.epi;
          const skip = e.add;
          e.up = false;
          e.add = undefined;
          // The upsample (and add) layers now belong to this stage.
          const moved = tail.layers.splice(
            tail.layers.findLastIndex((l) => byName.get(l)?.op === 'upsample'),
          );
          const [n, c, h, w] = shapes.get(src)!;
          const y = bufferOf(src, node.name, [n, c, h / 2, w / 2]);
          // Geometry of the ring rows; not in `buffers`: it has no memory of its own.
          const virtual: Buffer = {
            name: `${src}_rows`,
            c,
            cp: pad4(c),
            h,
            w,
            halo: Math.max(...a.pads),
            offset: 0,
          };
          addOpen(
            { kind: 'dw', name: node.name, in: virtual, conv: g, ring: { y, skip }, epi: freshEpi() },
            node.name,
            [...moved, node.name],
          );
          break;
        }
        const inBuf = bufferOf(src, node.name);
        inBuf.halo = Math.max(inBuf.halo, ...a.pads);
        addOpen(
          depthwise
            ? { kind: 'dw', name: node.name, in: inBuf, conv: g, ring: undefined, epi: freshEpi() }
            : {
                kind: pointwise ? (g.cout === 1 ? 'head' : 'pw') : 'conv',
                name: node.name,
                in: inBuf,
                conv: g,
                epi: freshEpi(),
              },
          node.name,
        );
        break;
      }
      case 'relu':
      case 'relu6':
      case 'sigmoid':
      case 'hardSigmoid':
      case 'hardSwish':
      case 'clip': {
        const act = activationOf(node)!;
        const src = node.inputs[0]!;
        // int8: sigmoid, hardSigmoid and hardSwish change the parameters: a table lookup of the
        // requantised values in a conv's epilogue that holds nothing else yet (`EpilogueI8`),
        // otherwise a map stage of their own (`int8/lut.ts`).
        const lookup = !all && isLutActivation(act);
        const open1 = open.get(src);
        const t =
          lookup && open1 && !(isConvStage(open1.stage) && !open1.stage.epi.up && !open1.stage.epi.add)
            ? undefined
            : open1;
        let slot = t && soleUser(src) ? actSlot(t.stage.epi) : undefined;
        // A lookup takes a conv's first slot only: its input is the requantised conv output.
        if (lookup && slot !== 'act') slot = undefined;
        if (t && slot) {
          // Activations commute with the upsample, so one before the add always goes in `act`.
          t.stage.epi[slot] = act;
          open.delete(src);
          t.layers.push(node.name);
          open.set(node.name, t);
          break;
        }
        if (!all && !lookup) {
          if (t && soleUser(src)) unsupported(node.name, 'a third activation in a row');
          unsupported(
            node.name,
            `a ${node.op} that does not follow a conv (or whose input has other readers)`,
          );
        }
        // A standalone activation: a map stage over the complete input.
        const s = mapStage(node.name, src);
        s.epi.act = act;
        addOpen(s, node.name);
        break;
      }
      case 'upsample': {
        const src = node.inputs[0]!;
        const t = open.get(src);
        const fusable =
          node.attrs.mode === 'nearest' &&
          node.attrs.scale === 2 &&
          t &&
          fusesUpOrAdd(t.stage) &&
          soleUser(src) &&
          !t.stage.epi.up &&
          !t.stage.epi.add &&
          t.stage.epi.act2 === 'none';
        if (fusable) {
          t.stage.epi.up = true;
          open.delete(src);
          t.layers.push(node.name);
          open.set(node.name, t);
          break;
        }
        // A resize stage of its own (int8: `int8/bilinear.ts`, or the byte gather of `int8/nearest.ts`).
        openResize(node.attrs.mode);
        break;
      }
      case 'add': {
        const pickOf = () => {
          if (node.inputs.length !== 2) return undefined;
          // Fuse into the producer that runs last; the other operand is then complete when it runs.
          const candidates = node.inputs
            .map((name, i) => ({ name, other: node.inputs[1 - i]!, t: open.get(name) }))
            .filter(
              (c) =>
                c.t &&
                fusesUpOrAdd(c.t.stage) &&
                c.name !== c.other &&
                soleUser(c.name) &&
                !c.t.stage.epi.add &&
                c.t.stage.epi.act2 === 'none',
            )
            .sort((x, y) => stages.indexOf(y.t!.stage) - stages.indexOf(x.t!.stage));
          return candidates[0];
        };
        if (!all && node.inputs.length !== 2)
          unsupported(node.name, `an add of ${node.inputs.length} inputs (only 2)`);
        const pick = pickOf();
        if (pick) {
          const t = pick.t!;
          const other = bufferOf(pick.other, node.name);
          // The other operand must be complete before this stage runs.
          // The last stage writing it (a concat buffer has several writers).
          const otherStage = stages.findLastIndex((s) => stageOut(s) === other);
          if (otherStage < stages.indexOf(t.stage)) {
            t.stage.epi.add = other;
            open.delete(pick.name);
            t.layers.push(node.name);
            open.set(node.name, t);
            break;
          }
        }
        // Every operand complete: one map stage sums them (in the int8 build too: two operands,
        // `addRowsI8`).
        const [first, ...rest] = node.inputs;
        const terms = rest.map((r) => bufferOf(r, node.name));
        addOpen(mapStage(node.name, first!, { terms }), node.name);
        break;
      }
      case 'mul': {
        // x * s, s per channel (squeeze-excite) or elementwise: both complete when it runs.
        const [x, sc] = node.inputs;
        const mul = bufferOf(sc!, node.name);
        addOpen(mapStage(node.name, x!, { mul }), node.name);
        break;
      }
      case 'batchNorm': {
        if (!all) return unsupported(node.name, 'a BatchNorm that does not follow a conv');
        // A BatchNorm no conv absorbed (after a pool, a concat): scale and shift per channel.
        const p = (suffix: string): Float32Array => {
          const t = weights.get(`${node.name}.${suffix}`);
          if (!t) throw new GraphError(node.name, `missing weight "${node.name}.${suffix}"`);
          return t.data;
        };
        const [gamma, beta, mean, variance] = ['weight', 'bias', 'running_mean', 'running_var'].map(p);
        const c = shape[1];
        const scale = new Float32Array(c);
        const shift = new Float32Array(c);
        for (let i = 0; i < c; i++) {
          const k = gamma![i]! / Math.sqrt(variance![i]! + node.attrs.epsilon);
          scale[i] = k;
          shift[i] = beta![i]! - mean![i]! * k;
        }
        addOpen(mapStage(node.name, node.inputs[0]!, { affine: { scale, shift } }), node.name);
        break;
      }
      case 'concat': {
        const out = newBuffer(node.name, shape);
        const copied: Buffer[] = [];
        let off = 0;
        let lastWriter: FloatStage | undefined;
        node.inputs.forEach((name, i) => {
          const c = shapes.get(name)![1];
          const t = open.get(name);
          // The producer writes its channels of the concat buffer itself (no copy) where its
          // vector stores cannot touch another input's channels: an offset that is a multiple of
          // 4 and whole vectors (or the last input, whose padded lanes are the concat's). The int8
          // epilogues write whole buffers only: every input is copied there.
          const direct =
            all &&
            t &&
            soleUser(name) &&
            node.inputs.indexOf(name) === node.inputs.lastIndexOf(name) &&
            off % 4 === 0 &&
            (c % 4 === 0 || i === node.inputs.length - 1);
          if (direct) {
            t.stage.epi.out = out;
            t.stage.epi.outOffset = off;
            open.delete(name);
            if (!lastWriter || stages.indexOf(t.stage) > stages.indexOf(lastWriter)) lastWriter = t.stage;
          } else {
            copied.push(bufferOf(name, node.name));
          }
          off += c;
        });
        materialised.set(node.name, out);
        // Copies keep their channel offsets: `ins` lists every input, `direct` ones are skipped.
        const offsets: number[] = [];
        node.inputs.reduce((o, name) => (offsets.push(o), o + shapes.get(name)![1]), 0);
        if (copied.length > 0) {
          const ins = node.inputs
            .map((name, i) => ({ buffer: materialised.get(name), offset: offsets[i]! }))
            .filter(
              (x): x is { buffer: Buffer; offset: number } =>
                x.buffer !== undefined && copied.includes(x.buffer),
            );
          addStage({ kind: 'concat', name: node.name, ins, out, rows: shape[2], cols: shape[3] }, [
            node.name,
          ]);
        } else {
          layers.get(lastWriter!)!.push(node.name);
        }
        break;
      }
      case 'unpool':
      case 'pixelShuffle':
      case 'globalAvgPool': {
        const inBuf = bufferOf(node.inputs[0]!, node.name);
        const base = { name: node.name, in: inBuf, rows: shape[2], cols: shape[3], epi: freshEpi() };
        addOpen(
          node.op === 'unpool'
            ? { ...base, kind: 'unpool', scale: node.attrs.scale }
            : node.op === 'pixelShuffle'
              ? { ...base, kind: 'pixelShuffle', block: node.attrs.blockSize }
              : { ...base, kind: 'gap' },
          node.name,
        );
        break;
      }
      case 'maxPool':
      case 'avgPool2d': {
        const a = node.attrs;
        const inBuf = bufferOf(node.inputs[0]!, node.name);
        // Window taps in the padding read the halo (zeros); max pooling masks them out.
        inBuf.halo = Math.max(inBuf.halo, ...a.pads);
        addOpen(
          {
            kind: 'pool',
            name: node.name,
            in: inBuf,
            rows: shape[2],
            cols: shape[3],
            max: node.op === 'maxPool',
            kh: a.kernel[0],
            kw: a.kernel[1],
            sh: a.stride[0],
            sw: a.stride[1],
            pt: a.pads[0],
            pl: a.pads[1],
            countIncludePad: node.op === 'avgPool2d' ? node.attrs.countIncludePad : false,
            epi: freshEpi(),
          },
          node.name,
        );
        break;
      }
      case 'convTranspose2d': {
        const a = node.attrs;
        const inBuf = bufferOf(node.inputs[0]!, node.name);
        const { w, b } = convWeights(node.name);
        addOpen(
          {
            kind: 'convT',
            name: node.name,
            in: inBuf,
            rows: shape[2],
            cols: shape[3],
            conv: {
              layer: node.name,
              cin: inBuf.c,
              cout: a.outChannels,
              groups: a.groups,
              kh: a.kernel[0],
              kw: a.kernel[1],
              sh: a.stride[0],
              sw: a.stride[1],
              pt: a.pads[0],
              pl: a.pads[1],
              weight: w,
              bias: a.bias ? b : undefined,
            },
            epi: freshEpi(),
          },
          node.name,
        );
        break;
      }
      case 'output': {
        if (output) unsupported(node.name, 'a second output');
        const src = node.inputs[0]!;
        const t = open.get(src);
        output = { name: node.name, shape };
        if (t && soleUser(src) && fusesMoreThanAct(t.stage)) {
          t.stage.epi.out = 'output';
          open.delete(src);
          t.layers.push(node.name);
          break;
        }
        // A value other layers read too, a concat, or (int8) the value of a stage whose kernel
        // writes only int8 NHWC buffers (pools, resizes, map stages...): copied to the NCHW
        // output (int8: and dequantised, `int8/output.ts`).
        const s = mapStage(node.name, src);
        addStage(s, [node.name]);
        break;
      }
      case 'resize': {
        // Any ratio or size: the upsample stage's kernel (tables of PyTorch's source rows); the
        // int8 build's bilinear stage or its nearest byte gather (`int8/nearest.ts`).
        openResize(node.attrs.mode);
        break;
      }
      default: {
        const never: never = node;
        throw new Error(`unhandled op ${JSON.stringify(never)}`);
      }
    }
  }
  if (!input || !output)
    throw new GraphError(graph.name, 'the wasm target needs one input and one output layer');
  for (const [name, t] of open) {
    // A value nobody reads (dead layers): still computed, written to its own buffer.
    if (t.stage.epi.out === 'output') t.stage.epi.out = newBuffer(name, shapes.get(name)!);
  }
  return { stages, buffers, input, output, layers };
}
