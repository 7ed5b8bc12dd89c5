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
 * Activations are channels-last (NHWC) with channels padded to a multiple of 4 (one v128) and a
 * zero border ("halo") as wide as the largest pad of any conv that reads them: convolutions then
 * read padded positions as zeros with no bounds checks. The halo is never written, so the zeros
 * of a freshly created memory stay zeros.
 */
import { consumers, GraphError, inferShapes, type Graph, type Node, type Shape } from '@fastdepth/graph-dsl';

export type Act = 'none' | 'relu' | 'relu6';

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

/** What a conv stage does with each accumulated vector before it is stored. */
export interface Epilogue {
  act: Act;
  /** Nearest x2: each output pixel is written to a 2x2 block. */
  up: boolean;
  /** Buffer added after the upsample (a skip connection), at the written position. */
  add: Buffer | undefined;
  /** Activation after the add. */
  act2: Act;
  /** Where values go: a buffer, or the NCHW graph output. */
  out: Buffer | 'output';
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

export type Stage =
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
      epi: Epilogue;
    }
  /** Depthwise conv alone. */
  | {
      readonly kind: 'dw';
      readonly name: string;
      readonly in: Buffer;
      readonly conv: ConvGeom;
      readonly ring: Ring | undefined;
      epi: Epilogue;
    }
  /** Depthwise conv + act into a row tile, then the 1x1 conv that reads it. */
  | {
      readonly kind: 'dwpw';
      readonly name: string;
      readonly in: Buffer;
      readonly dw: ConvGeom;
      readonly dwAct: Act;
      readonly ring: Ring | undefined;
      readonly conv: ConvGeom;
      epi: Epilogue;
    };

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

export interface Plan {
  readonly stages: Stage[];
  readonly buffers: Buffer[];
  readonly input: { readonly name: string; readonly shape: Shape };
  readonly output: { readonly name: string; readonly shape: Shape };
  /** Layers each stage covers (for the manifest and profiles). */
  readonly layers: Map<Stage, string[]>;
}

export const pad4 = (c: number): number => Math.ceil(c / 4) * 4;

/** Output rows a stage splits among threads: the rows of the conv before any upsample. */
export function stageRows(stage: Stage): number {
  return stage.kind === 'input' ? stage.shape[2] : stage.conv.oh;
}

/** Ops the wasm target has no kernel for, whatever surrounds them. */
const NO_KERNEL: ReadonlySet<Node['op']> = new Set([
  'convTranspose2d',
  'concat',
  'unpool',
  'pixelShuffle',
  'maxPool',
  'sigmoid',
  'hardSigmoid',
  'hardSwish',
  'clip',
  'mul',
  'avgPool2d',
  'globalAvgPool',
  'resize',
]);

const SUPPORTED =
  'supported: conv2d, depthwise conv, BatchNorm after a conv, relu, relu6, add, nearest upsample';

/** Most layers named in the error about ops without a kernel; the rest are counted. */
const MAX_LISTED_LAYERS = 12;

/**
 * Every layer whose op has no wasm kernel, named in one error before planning starts (a graph
 * from outside the family often has several kinds; fixing them one error at a time is slow).
 */
function checkKernels(graph: Graph): void {
  const lacking = graph.nodes.filter(
    (n) => NO_KERNEL.has(n.op) || (n.op === 'upsample' && n.attrs.mode !== 'nearest'),
  );
  if (lacking.length === 0) return;
  const names = lacking.map((n) => `"${n.name}" (${n.op === 'upsample' ? 'bilinear upsample' : n.op})`);
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
  readonly stage: ConvStage;
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

export function planGraph(
  graph: Graph,
  weights: ReadonlyMap<string, { readonly data: Float32Array }>,
  options: PlanOptions = {},
): Plan {
  checkKernels(graph);
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const shapes = inferShapes(graph);
  const users = consumers(graph);
  const stages: Stage[] = [];
  const buffers: Buffer[] = [];
  const layers = new Map<Stage, string[]>();
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
  const addStage = (s: Stage, names: string[]): void => {
    stages.push(s);
    layers.set(s, names);
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

  const geom = (node: Extract<Node, { op: 'conv2d' }>): ConvGeom => {
    const a = node.attrs;
    const inShape = shapes.get(node.inputs[0]!)!;
    const out = shapes.get(node.name)!;
    const w = weights.get(`${node.name}.weight`);
    if (!w) throw new GraphError(node.name, `missing weight "${node.name}.weight"`);
    return {
      layer: node.name,
      cin: inShape[1],
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
      weight: w.data,
      bias: a.bias ? weights.get(`${node.name}.bias`)!.data : undefined,
    };
  };
  const freshEpi = (): Epilogue => ({ act: 'none', up: false, add: undefined, act2: 'none', out: 'output' });

  for (const node of graph.nodes) {
    const shape = shapes.get(node.name)!;
    if (shape[0] !== 1) unsupported(node.name, `batch size ${shape[0]} (only 1)`);
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
        const g = geom(node);
        const src = node.inputs[0]!;
        const cin = g.cin;
        const depthwise = a.groups === cin && a.outChannels === cin && a.groups > 1;
        if (depthwise && (g.kw > 9 || g.sw > 2 || g.dw > 2))
          unsupported(
            node.name,
            `a depthwise conv with kernel width ${g.kw}, stride ${g.sw}, dilation ${g.dw} (at most 9, 2, 2)`,
          );
        if (a.groups !== 1 && !depthwise)
          unsupported(node.name, `a grouped conv (groups ${a.groups}) that is not depthwise`);
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
          tail.stage.epi.act2 === 'none'
        ) {
          const dwStage = tail.stage;
          const fused: Stage = {
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
          const stage: ConvStage = {
            kind: g.cout === 1 ? 'head' : 'pw',
            name: node.name,
            in: inBuf,
            conv: { ...g, oh: g.oh / 2, ow: g.ow / 2 },
            epi: { ...freshEpi(), up: true },
          };
          addStage(stage, [node.name]);
          open.set(node.name, { stage, layers: layers.get(stage)! });
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
          const stage: ConvStage = {
            kind: 'dw',
            name: node.name,
            in: virtual,
            conv: g,
            ring: { y, skip },
            epi: freshEpi(),
          };
          addStage(stage, [...moved, node.name]);
          open.set(node.name, { stage, layers: layers.get(stage)! });
          break;
        }
        const inBuf = bufferOf(src, node.name);
        const stage: ConvStage = depthwise
          ? { kind: 'dw', name: node.name, in: inBuf, conv: g, ring: undefined, epi: freshEpi() }
          : {
              kind: pointwise ? (g.cout === 1 ? 'head' : 'pw') : 'conv',
              name: node.name,
              in: inBuf,
              conv: g,
              epi: freshEpi(),
            };
        inBuf.halo = Math.max(inBuf.halo, ...a.pads);
        addStage(stage, [node.name]);
        open.set(node.name, { stage, layers: layers.get(stage)! });
        break;
      }
      case 'relu':
      case 'relu6': {
        const src = node.inputs[0]!;
        const t = open.get(src);
        if (!t || !soleUser(src))
          unsupported(
            node.name,
            `a ${node.op} that does not follow a conv (or whose input has other readers)`,
          );
        const e = t.stage.epi;
        // Activations commute with the upsample, so one before the add always goes in `act`.
        if (!e.add && e.act === 'none') e.act = node.op;
        else if (e.act2 === 'none') e.act2 = node.op;
        else unsupported(node.name, 'a third activation in a row');
        open.delete(src);
        t.layers.push(node.name);
        open.set(node.name, t);
        break;
      }
      case 'upsample': {
        const src = node.inputs[0]!;
        const t = open.get(src);
        if (node.attrs.mode !== 'nearest') unsupported(node.name, 'bilinear upsampling');
        if (!t || !soleUser(src) || t.stage.epi.up || t.stage.epi.add || t.stage.epi.act2 !== 'none')
          unsupported(node.name, 'a nearest upsample that does not directly follow a conv');
        t.stage.epi.up = true;
        open.delete(src);
        t.layers.push(node.name);
        open.set(node.name, t);
        break;
      }
      case 'add': {
        if (node.inputs.length !== 2)
          unsupported(node.name, `an add of ${node.inputs.length} inputs (only 2)`);
        // Fuse into the producer that runs last; the other operand is then complete when it runs.
        const candidates = node.inputs
          .map((name, i) => ({ name, other: node.inputs[1 - i]!, t: open.get(name) }))
          .filter((c) => c.t && soleUser(c.name) && !c.t.stage.epi.add && c.t.stage.epi.act2 === 'none')
          .sort((x, y) => stages.indexOf(y.t!.stage) - stages.indexOf(x.t!.stage));
        const pick = candidates[0];
        if (!pick) unsupported(node.name, 'an add whose operands are not produced by a conv read only by it');
        const t = pick.t!;
        if (pick.other === pick.name) unsupported(node.name, 'an add of a value to itself');
        const other = bufferOf(pick.other, node.name);
        // The other operand must be complete before this stage runs.
        const otherStage = stages.findIndex((s) => (s.kind === 'input' ? s.out : s.epi.out) === other);
        if (otherStage > stages.indexOf(t.stage))
          unsupported(node.name, 'an add whose operands are produced out of order');
        t.stage.epi.add = other;
        open.delete(pick.name);
        t.layers.push(node.name);
        open.set(node.name, t);
        break;
      }
      case 'output': {
        if (output) unsupported(node.name, 'a second output');
        const src = node.inputs[0]!;
        const t = open.get(src);
        if (!t || !soleUser(src))
          unsupported(node.name, 'an output that is not the sole reader of a conv result');
        t.stage.epi.out = 'output';
        open.delete(src);
        t.layers.push(node.name);
        output = { name: node.name, shape };
        break;
      }
      case 'batchNorm':
        return unsupported(node.name, 'a BatchNorm that does not follow a conv');
      case 'convTranspose2d':
      case 'concat':
      case 'unpool':
      case 'pixelShuffle':
      case 'maxPool':
      case 'sigmoid':
      case 'hardSigmoid':
      case 'hardSwish':
      case 'clip':
      case 'mul':
      case 'avgPool2d':
      case 'globalAvgPool':
      case 'resize':
        return unsupported(node.name, `the op "${node.op}"`);
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
