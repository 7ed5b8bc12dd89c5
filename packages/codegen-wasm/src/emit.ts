/**
 * DSL graph + weights -> the four WebAssembly modules of one network (plain SIMD and relaxed-SIMD
 * FMA, each unshared and shared-memory with the barrier), the packed weights and the manifest.
 *
 * Steps: check the model, fold BatchNorm into the convs, plan stages (`plan.ts`), pack weights in
 * kernel read order (`pack.ts`), lay out memory (`layout.ts`), then emit one function per stage
 * from the kernel families in `kernels/`, plus `run` and `run_stage`, and let binaryen optimise.
 */
import {
  analyze,
  checkWeights,
  FastDepthError,
  foldBatchNorm,
  lowerConvTranspose,
  GRAPH_NAME_RULE,
  isGraphName,
  quote,
  validateGraph,
  type Model,
} from '@fastdepth/graph-dsl';
import binaryen from 'binaryen';
import { addBarrier } from './kernels/barrier.js';
import { Fn, type Expr, type Variant } from './kernels/builder.js';
import { convRows, denseCinEff, denseOffsets } from './kernels/conv.js';
import { dwLocals, dwRow } from './kernels/depthwise.js';
import { EpilogueWriter } from './kernels/epilogue.js';
import { headRows } from './kernels/head.js';
import { inputRows } from './kernels/input.js';
import { ringLocals, ringPrepare, ringStart } from './kernels/ring.js';
import { gemmLocals, gemmRow } from './kernels/pointwise.js';
import { concatRows, nearestTable, pixelRows, resizeTable } from './kernels/pixel.js';
import { BARRIER_OFFSET, PAGE, geomOf, layoutMemory, scratchParts, type Layout } from './layout.js';

/** The most 64 KiB pages a wasm32 memory may have (4 GiB). */
const MAX_WASM_PAGES = 65536;
import { WeightPacker, type WeightSegment } from './pack.js';
import { pad4, planFloatGraph, stageRows, type FloatPlan, type FloatStage } from './plan.js';
import { addProfileImport, addRunExports, scheduleTable, STAGE_PARAMS } from './run.js';
import { floatStageAccess, scheduleStages, type ThreadSplit } from './schedule.js';
import {
  WASM_MANIFEST_FORMAT,
  WASM_MANIFEST_VERSION,
  WASM_VARIANTS,
  type WasmManifest,
  type WasmVariant,
} from './manifest.js';
import { PACKAGE_VERSION } from './version.js';

export interface WasmEmitOptions {
  /** Threads the module reserves scratch tiles for (default 8). */
  readonly maxThreads?: number;
  /** binaryen optimize level 0..4 (default 3). */
  readonly optimizeLevel?: number;
  /** See `PlanOptions.upsampleInReads` (default true). */
  readonly upsampleInReads?: boolean;
  /** Artifact base name (default: the graph's `meta.arch`, else its name). */
  readonly arch?: string;
  /**
   * How `run` splits work among threads (`ThreadSplit`): `auto` (default) picks rows or pixels
   * per stage, barriers only where a thread reads another's rows and dynamic rows where a stage
   * allows them; `static` and `rows` are the earlier schedules, for side-by-side benchmarks.
   */
  readonly threadSplit?: ThreadSplit;
  /**
   * Emit calls to an imported `env.mark(thread, event)` around every stage and barrier (see
   * `run.ts`), for the threads benchmark's per-stage breakdown. Default false; a host must
   * supply the import to instantiate such a build.
   */
  readonly profile?: boolean;
}

export interface WasmArtifact {
  readonly manifest: WasmManifest;
  readonly modules: Readonly<Record<WasmVariant, Uint8Array<ArrayBuffer>>>;
  /** Packed weights (float32 little-endian), copied to `manifest.weights.byteOffset`. */
  readonly weights: Uint8Array<ArrayBuffer>;
  /** The conv weights inside `weights` and their output channels (`encodeWasmWeights`). */
  readonly weightSegments?: readonly WeightSegment[];
}

/** Absolute weight and bias addresses of each stage's packed tensors. */
interface StageWeights {
  w: number;
  b: number;
  dw?: number;
  dwb?: number;
  /** Displacement table (dense convs). */
  t?: number;
}

const VARIANTS: Readonly<Record<WasmVariant, Variant>> = {
  simd: { relaxed: false, threads: false },
  'simd-threads': { relaxed: false, threads: true },
  relaxed: { relaxed: true, threads: false },
  'relaxed-threads': { relaxed: true, threads: true },
};

function packWeights(plan: FloatPlan): { packer: WeightPacker; offsets: Map<FloatStage, StageWeights> } {
  const packer = new WeightPacker();
  const offsets = new Map<FloatStage, StageWeights>();
  for (const s of plan.stages) {
    switch (s.kind) {
      case 'resize':
        offsets.set(s, { w: packer.table(s.mode === 'bilinear' ? resizeTable(s) : nearestTable(s)), b: 0 });
        break;
      case 'input':
      case 'concat':
      case 'unpool':
      case 'pixelShuffle':
      case 'pool':
      case 'gap':
        break;
      case 'map':
        if (s.affine) offsets.set(s, { w: packer.channels(s.in.cp, s.affine.scale, s.affine.shift), b: 0 });
        break;
      case 'convT': {
        const bias = new Float32Array(pad4(s.conv.cout));
        if (s.conv.bias) bias.set(s.conv.bias);
        offsets.set(s, { w: packer.convT(s.conv), b: packer.channels(bias.length, bias) });
        break;
      }
      case 'conv':
        offsets.set(s, {
          w: packer.dense(s.conv, denseCinEff(s.conv)),
          b: packer.bias(s.conv),
          t: packer.table(denseOffsets(s.conv, s.in)),
        });
        break;
      case 'pw':
        offsets.set(s, { w: packer.dense(s.conv, pad4(s.conv.cin)), b: packer.bias(s.conv) });
        break;
      case 'head':
        offsets.set(s, { w: packer.head(s.conv), b: packer.bias(s.conv) });
        break;
      case 'dw':
        offsets.set(s, { w: packer.depthwise(s.conv), b: packer.bias(s.conv) });
        break;
      case 'dwpw':
        offsets.set(s, {
          dw: packer.depthwise(s.dw),
          dwb: packer.bias(s.dw),
          w: packer.dense(s.conv, pad4(s.conv.cin)),
          b: packer.bias(s.conv),
        });
        break;
    }
  }
  return { packer, offsets };
}

/** The body of one stage function (params r0, r1, x0, x1, thread; see `STAGE_PARAMS`). */
function stageBody(f: Fn, s: FloatStage, layout: Layout, w: StageWeights | undefined): Expr {
  const [r0, r1, x0, x1, thread] = [0, 1, 2, 3, 4];
  // Column ranges reach only the kernels that take them (`floatStageAccess(s).columns`).
  const cols = { x0, x1 };
  const base = layout.weights.byteOffset;
  if (s.kind === 'input') return inputRows(f, { out: s.out, layout, r0, r1 });
  if (s.kind === 'concat') return concatRows(f, s, { r0, r1, x0, x1 });
  const epi = new EpilogueWriter(f, s.epi, layout);
  if (!('conv' in s) || s.kind === 'convT')
    return pixelRows(f, s, epi, { r0, r1, x0, x1 }, { wAddr: base + (w?.w ?? 0), bAddr: base + (w?.b ?? 0) });
  const wAddr = base + w!.w;
  const bAddr = base + w!.b;
  switch (s.kind) {
    case 'conv':
      return convRows(f, { in: s.in, g: s.conv, wAddr, bAddr, tAddr: base + w!.t!, epi, r0, r1 });
    case 'head':
      return headRows(f, { in: s.in, g: s.conv, wAddr, bAddr, epi, r0, r1 });
    case 'pw': {
      const y = f.i32Local();
      const inRow = f.i32Local();
      const gi = geomOf(s.in);
      const L = gemmLocals(f);
      return f.loop(y, f.get(r0), () => f.get(r1), 1, [
        f.set(inRow, f.add(f.c(gi.origin), f.mul(f.get(y), f.c(gi.rs)))),
        gemmRow(
          f,
          {
            inRow,
            pix: gi.pix,
            n: s.conv.ow,
            k: s.in.cp,
            coutP: pad4(s.conv.cout),
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
    case 'dw':
    case 'dwpw': {
      const dwGeom = s.kind === 'dwpw' ? s.dw : s.conv;
      const y = f.i32Local();
      const scratch = f.i32Local();
      const tile = f.i32Local();
      const ringAddr = f.i32Local();
      const tableAddr = f.i32Local();
      const DL = dwLocals(f);
      const parts = scratchParts(s);
      const cp = pad4(dwGeom.cin);
      const RL = s.ring ? ringLocals(f) : undefined;
      const dwWeights =
        s.kind === 'dwpw' ? { wAddr: base + w!.dw!, bAddr: base + w!.dwb! } : { wAddr, bAddr };
      const row: Expr[] = [];
      if (s.ring)
        row.push(ringPrepare(f, { in: s.in, ring: s.ring, g: dwGeom, y, ringAddr, tableAddr }, RL!));
      row.push(
        dwRow(
          f,
          {
            in: s.in,
            g: dwGeom,
            ...dwWeights,
            y,
            ...(s.ring ? { rowTable: tableAddr } : {}),
            dest: s.kind === 'dwpw' ? { tile, act: s.dwAct } : { epi },
            cols,
          },
          DL,
        ),
      );
      if (s.kind === 'dwpw') {
        const GL = gemmLocals(f);
        row.push(
          gemmRow(
            f,
            {
              inRow: tile,
              pix: cp * 4,
              n: s.conv.ow,
              k: cp,
              coutP: pad4(s.conv.cout),
              wAddr,
              bAddr,
              y,
              epi,
              cols,
            },
            GL,
          ),
        );
      }
      return f.block([
        // This thread's scratch: the depthwise row tile (the depthwise output lives only there)
        // and, for ring stages, the input rows and their address table.
        f.set(
          scratch,
          f.add(f.c(layout.scratch.byteOffset), f.mul(f.get(thread), f.c(layout.scratch.bytesPerThread))),
        ),
        f.set(tile, f.add(f.get(scratch), f.c(parts.tile))),
        f.set(ringAddr, f.add(f.get(scratch), f.c(parts.ring))),
        f.set(tableAddr, f.add(f.get(scratch), f.c(parts.table))),
        ...(RL ? [ringStart(f, RL)] : []),
        f.loop(y, f.get(r0), () => f.get(r1), 1, row),
      ]);
    }
  }
}

function emitModule(
  plan: FloatPlan,
  layout: Layout,
  offsets: Map<FloatStage, StageWeights>,
  variant: Variant,
  level: number,
  table: Uint8Array,
  profile: boolean,
): Uint8Array<ArrayBuffer> {
  const m = new binaryen.Module();
  try {
    const F = binaryen.Features;
    m.setFeatures(
      // binaryen's typings give the enum members as plain numbers: OR-ing them is the intended use.
      // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment
      F.MVP |
        F.SIMD128 |
        F.BulkMemory |
        F.BulkMemoryOpt |
        F.MutableGlobals |
        F.SignExt |
        F.NontrappingFPToInt |
        (variant.relaxed ? F.RelaxedSIMD : 0) |
        (variant.threads ? F.Atomics : 0),
    );
    m.setMemory(
      layout.pages,
      layout.pages,
      null,
      [{ offset: m.i32.const(layout.schedule.byteOffset), data: table, passive: false }],
      variant.threads,
      false,
      '0',
    );
    m.addMemoryImport('0', 'env', 'memory', variant.threads);
    const i32 = binaryen.i32;
    const paramTypes = Array.from({ length: STAGE_PARAMS }, () => i32);
    const stageParams = binaryen.createType(paramTypes);
    plan.stages.forEach((s, i) => {
      const f = new Fn(m, variant, paramTypes);
      const body = stageBody(f, s, layout, offsets.get(s));
      m.addFunction(`stage${i}`, stageParams, binaryen.none, f.vars, body);
    });
    if (variant.threads) addBarrier(m, variant);
    if (profile) addProfileImport(m);

    addRunExports(
      m,
      variant,
      layout,
      plan.stages.map((st) => floatStageAccess(st).cols),
      profile,
    );
    if (!m.validate())
      throw new Error('codegen-wasm: emitted module does not validate (a bug in the emitter)');
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
 * Compiles `model` to the four wasm modules, the packed weights and the manifest. Throws
 * `GraphError` naming the layer for a graph the wasm target cannot compile, `WeightsError` for
 * weights that do not fit, `FastDepthError` for an artifact name that is not a plain file name.
 */
export function emitWasm(model: Model, options: WasmEmitOptions = {}): WasmArtifact {
  validateGraph(model.graph);
  checkWeights(model.graph, model.weights);
  const maxThreads = options.maxThreads ?? 8;
  const level = options.optimizeLevel ?? 3;
  const metaArch = model.graph.meta?.['arch'];
  const arch = options.arch ?? (typeof metaArch === 'string' ? metaArch : model.graph.name);
  // The arch names the artifact's files (`<arch>.simd.wasm`, ...): a plain file name only.
  if (!isGraphName(arch)) {
    throw new FastDepthError(
      `wasm target: the artifact name (${options.arch !== undefined ? 'option "arch"' : typeof metaArch === 'string' ? "the graph's meta.arch" : 'the graph name'}) must be a plain file name (${GRAPH_NAME_RULE}), found ${quote(arch)}`,
    );
  }
  // Depthwise transposed convs (DeConv-dw decoders) run as zero insertion + a depthwise conv
  // (`lowerConvTranspose`), fused with the pointwise conv after them: the transposed-conv
  // gather stage packs dense C x C weights per tap, mostly zeros for a depthwise one (37 MB at
  // 1024 channels, 3x3). Dense ones keep the gather, which reads only the taps that meet an
  // input (a quarter of the lowered conv's multiply-adds).
  const folded = lowerConvTranspose(foldBatchNorm(model), {
    only: (n) => n.attrs.groups > 1 && n.attrs.groups === n.attrs.outChannels,
  });
  const plan = planFloatGraph(folded.graph, folded.weights, {
    upsampleInReads: options.upsampleInReads ?? true,
  });
  const { packer, offsets } = packWeights(plan);
  const weights = packer.bytes();
  const layout = layoutMemory(plan, weights.byteLength, maxThreads);
  // wasm32 addresses 4 GiB; a larger layout would fail only when the module is instantiated.
  if (layout.pages > MAX_WASM_PAGES) {
    const [, , h, w] = plan.input.shape;
    throw new FastDepthError(
      `wasm target: ${arch} at ${h}x${w} needs ${Math.ceil(layout.totalBytes / 2 ** 20)} MiB of linear memory (weights, activations, scratch), more than the ${(MAX_WASM_PAGES * PAGE) / 2 ** 20} MiB WebAssembly can address; use a smaller input size or another target`,
    );
  }
  const access = plan.stages.map(floatStageAccess);
  const schedules = Array.from({ length: maxThreads }, (_, t) =>
    scheduleStages(access, t + 1, { split: options.threadSplit ?? 'auto' }),
  );
  const table = scheduleTable(schedules, layout.schedule.recordBytes);
  const profile = options.profile ?? false;
  const modules = Object.fromEntries(
    WASM_VARIANTS.map((v) => [v, emitModule(plan, layout, offsets, VARIANTS[v], level, table, profile)]),
  ) as Record<WasmVariant, Uint8Array<ArrayBuffer>>;

  const macsOf = new Map(analyze(model.graph).layers.map((l) => [l.name, l.macs]));
  // BatchNorms folded away are listed with the conv they were folded into.
  const kept = new Set(folded.graph.nodes.map((n) => n.name));
  const foldedInto = new Map<string, string>();
  for (const n of model.graph.nodes)
    if (n.op === 'batchNorm' && !kept.has(n.name)) foldedInto.set(n.inputs[0]!, n.name);
  const withBn = (layers: readonly string[]): string[] =>
    layers.flatMap((l) => (foldedInto.has(l) ? [l, foldedInto.get(l)!] : [l]));
  // A lowered transposed conv's zero insertion is listed as the transposed conv (the manifest
  // names the graph's layers only); its MACs are counted once, with the conv's stage.
  const zeroInserts = new Map<string, string>();
  for (const n of folded.graph.nodes)
    if (n.op === 'unpool' && !macsOf.has(n.name)) {
      const conv = folded.graph.nodes.find((c) => c.inputs.includes(n.name));
      if (conv) zeroInserts.set(n.name, conv.name);
    }
  const shown = (layers: readonly string[]): string[] => [
    ...new Set(layers.map((l) => zeroInserts.get(l) ?? l)),
  ];
  const manifest: WasmManifest = {
    format: WASM_MANIFEST_FORMAT,
    version: WASM_MANIFEST_VERSION,
    arch,
    generator: `@fastdepth/codegen-wasm ${PACKAGE_VERSION}`,
    input: {
      name: plan.input.name,
      shape: [1, plan.input.shape[1], plan.input.shape[2], plan.input.shape[3]],
      byteOffset: layout.input.byteOffset,
    },
    output: {
      name: plan.output.name,
      shape: [1, plan.output.shape[1], plan.output.shape[2], plan.output.shape[3]],
      byteOffset: layout.output.byteOffset,
    },
    memory: { initialPages: layout.pages, maximumPages: layout.pages },
    weights: layout.weights,
    barrier: { byteOffset: BARRIER_OFFSET },
    maxThreads,
    stages: plan.stages.map((s) => {
      const layers = withBn(plan.layers.get(s)!);
      return {
        name: s.name,
        layers: shown(layers),
        kind: s.kind,
        rows: stageRows(s),
        // MACs of the layers as declared (BN folded away changes none).
        macs: layers.reduce((a, l) => a + (macsOf.get(l) ?? 0), 0),
      };
    }),
    modules: Object.fromEntries(WASM_VARIANTS.map((v) => [v, `${arch}.${v}.wasm`])) as Record<
      WasmVariant,
      string
    >,
    weightsFile: `${arch}.weights.bin`,
  };
  return { manifest, modules, weights, weightSegments: packer.segments };
}

/** One file of an artifact, path relative to the artifact folder (`OUT/wasm/`). */
export interface ArtifactFile {
  readonly path: string;
  readonly data: Uint8Array;
}

/** The files of an artifact: manifest `<arch>.wasm-manifest.json`, four modules, weights. */
export function wasmArtifactFiles(artifact: WasmArtifact): ArtifactFile[] {
  const { manifest } = artifact;
  return [
    {
      path: `${manifest.arch}.wasm-manifest.json`,
      data: new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`),
    },
    ...WASM_VARIANTS.map((v) => ({ path: manifest.modules[v], data: artifact.modules[v] })),
    { path: manifest.weightsFile, data: artifact.weights },
  ];
}
