import {
  analyze,
  encodeSafetensors,
  GraphError,
  graphOutputs,
  saveGraph,
  type Model,
} from '@fastdepth/graph-dsl';
import { relative } from 'node:path';
import { UserError } from '../errors.js';
import { parseInt8Arithmetic, withInt8Arithmetic } from '../engine.js';
import { writeFilesAtomic, type OutputFile } from '../fs-atomic.js';
import {
  linkFloatManifest,
  ownInt8ForCompile,
  loadPhotosFor,
  parseQuantizeFlags,
  quantizeForCompile,
  type Int8Result,
  type QuantizeRequest,
} from '../int8.js';
import { checkOutputDir, parseInputSize, parseInteger, SEED_MAX } from '../options.js';
import type { Output } from '../output.js';
import { referenceCase, type ReferenceCase } from '../reference.js';
import { formatTable, humanBytes } from '../table.js';
import {
  parseWeightsDtype,
  TARGET_NAMES,
  TARGETS,
  type Check,
  type ModelOrigin,
  type TargetName,
} from '../targets.js';
import type { WeightsDtype } from '@fastdepth/codegen-tfjs';
import { loadModel } from '../weights-source.js';
import { layerTable, totalsLine } from './info.js';

/** The ONNX opsets the emitter writes. */
const OPSET_MIN = 13;
const OPSET_MAX = 17;

export interface CompileOptions {
  readonly arch?: string;
  readonly target?: string;
  readonly weights?: string;
  readonly seed: string;
  readonly opset: string;
  readonly foldBn?: boolean;
  readonly inputSize?: string;
  readonly weightsDtype?: string;
  readonly out: string;
  readonly json?: boolean;
  readonly quantize?: string;
  readonly images?: string;
  readonly calibration?: string;
  readonly percentile?: string;
  readonly holdout?: string;
  readonly int8Arithmetic?: string;
  readonly forWeb?: boolean;
}

/** The targets a page can run (`--for-web` builds these by default, and refuses the others). */
const WEB_TARGETS: readonly TargetName[] = ['tfjs', 'onnx', 'wasm'];

/**
 * `--for-web`: only the files a page loads or an app bundles: the tfjs module as JavaScript
 * with its declarations and its weights, the `.onnx` file, the wasm builds with their manifests
 * and weights. Not the graph JSON, the `.safetensors`, the TypeScript source, the int8 model's
 * graph and safetensors (its wasm build stays).
 */
export function isWebOutput(name: string): boolean {
  const [folder, file = ''] = name.split(/\/(.*)/s);
  if (folder === 'tfjs') return /\.(js|d\.ts)$|\.weights(\.[a-z0-9]+)?\.bin$|\.weights\.json$/.test(file);
  if (folder === 'onnx') return file.endsWith('.onnx');
  if (folder === 'wasm') return /\.wasm$|\.wasm-manifest\.json$|\.bin$/.test(file);
  return false;
}

/**
 * `--target`: a comma-separated list, or `all` (the default). With `all`, a target that cannot
 * take the graph is skipped with its reason; a target named explicitly must compile.
 */
export function targetsAreExplicit(value: string | undefined): boolean {
  return value !== undefined && value !== 'all';
}

export function parseTargets(value: string | undefined): TargetName[] {
  if (value === undefined || value === 'all') return [...TARGET_NAMES];
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const n of names) {
    if (!(TARGET_NAMES as readonly string[]).includes(n))
      throw new UserError(`--target: unknown target "${n}" (known: ${TARGET_NAMES.join(', ')}, all)`);
  }
  if (names.length === 0) throw new UserError('--target: no target named');
  return [...new Set(names)] as TargetName[];
}

// Shared with `prune`, which imports it from here.
export { parseInteger } from '../options.js';

export interface CompiledArtifacts {
  readonly files: readonly OutputFile[];
  readonly checks: readonly (Check & { readonly target: string })[];
  readonly summaries: Readonly<Record<string, string>>;
  /** Targets that could not take the graph (only when `skipUnsupported`), with the reason. */
  readonly skipped: Readonly<Partial<Record<TargetName, string>>>;
  /** The check input and the reference executor's output on it. */
  readonly reference: ReferenceCase;
}

/**
 * Emits `model` for every target (plus the graph JSON and safetensors), runs each target's
 * checks against the reference executor, and throws if one fails — before anything is written.
 */
export async function compileArtifacts(
  out: Output,
  input: {
    model: Model;
    stem: string;
    weightsSource: string;
    targets: readonly TargetName[];
    opset: number;
    foldBatchNorm: boolean;
    /** tfjs weights file storage (default float32). */
    weightsDtype?: WeightsDtype;
    /**
     * Skip a target whose emitter refuses the graph (a `GraphError`: an op or pattern it cannot
     * compile) instead of failing: what `--target all` does.
     */
    skipUnsupported?: boolean;
    /** The options the model came from (`--arch`, `--weights`, ...), for the generated code's header. */
    source?: ModelOrigin;
  },
): Promise<CompiledArtifacts> {
  const { model, stem, weightsSource, targets, opset, foldBatchNorm, weightsDtype } = input;
  out.note(`computing the reference output of ${stem} (float64 reference executor)...`);
  const reference = referenceCase(model, stem);
  const files: OutputFile[] = [
    { name: `${stem}.json`, data: saveGraph(model.graph) },
    {
      name: `${stem}.safetensors`,
      data: encodeSafetensors(model.weights, { arch: stem, weights: weightsSource }),
    },
  ];
  const checks: (Check & { target: string })[] = [];
  const summaries: Record<string, string> = {};
  const skipped: Partial<Record<TargetName, string>> = {};
  for (const target of targets) {
    out.note(`compiling ${stem} for ${target}...`);
    let result: Awaited<ReturnType<(typeof TARGETS)[TargetName]>>;
    try {
      result = await TARGETS[target]({
        model,
        stem,
        reference,
        opset,
        foldBatchNorm,
        weightsDtype,
        ...(input.source ? { source: input.source } : {}),
      });
    } catch (e) {
      if (!input.skipUnsupported || !(e instanceof GraphError)) throw e;
      skipped[target] = e.message;
      out.note(`skipping ${target}: ${e.message}`);
      continue;
    }
    files.push(...result.files.map((f) => ({ name: `${target}/${f.name}`, data: f.data })));
    checks.push(...result.checks.map((c) => ({ ...c, target })));
    summaries[target] = result.summary;
  }
  const failed = checks.find((c) => !(c.maxRelativeError <= c.limit));
  if (failed) {
    throw new UserError(
      `${failed.target}: ${failed.name}: max relative error ${failed.maxRelativeError.toExponential(2)} exceeds ${failed.limit} — nothing was written`,
    );
  }
  if (Object.keys(summaries).length === 0)
    throw new UserError(
      `no target can compile ${stem}: ${Object.entries(skipped)
        .map(([t, why]) => `${t}: ${why}`)
        .join('; ')}`,
    );
  return { files, checks, summaries, skipped, reference };
}

export async function compileCommand(out: Output, options: CompileOptions): Promise<void> {
  const started = performance.now();
  const forWeb = options.forWeb === true;
  const targets =
    forWeb && !targetsAreExplicit(options.target) ? [...WEB_TARGETS] : parseTargets(options.target);
  if (forWeb) {
    const other = targets.filter((t) => !WEB_TARGETS.includes(t));
    if (other.length > 0)
      throw new UserError(
        `--for-web: ${other.join(', ')} is not a target a page runs (--for-web writes ${WEB_TARGETS.join(', ')})`,
      );
  }
  const seed = parseInteger('--seed', options.seed, 0, SEED_MAX);
  const opset = parseInteger('--opset', options.opset, OPSET_MIN, OPSET_MAX);
  const weightsDtype = parseWeightsDtype(options.weightsDtype, targets);
  const inputSize = options.inputSize === undefined ? undefined : parseInputSize(options.inputSize);
  const quantize = parseQuantizeFlags(options);
  const arithmetic = parseInt8Arithmetic(options.int8Arithmetic);
  if (options.int8Arithmetic !== undefined && quantize === undefined)
    throw new UserError('--int8-arithmetic applies to --quantize int8 only');
  await checkOutputDir(options.out, '--out');
  const { model, stem, weightsSource, quantized } = await loadModel({
    ...(options.arch !== undefined ? { arch: options.arch } : {}),
    ...(options.weights !== undefined ? { weights: options.weights } : {}),
    ...(inputSize !== undefined ? { inputSize } : {}),
    seed,
  });
  if (quantize === 'own' && !quantized)
    throw new UserError(
      '--quantize int8 needs --images DIR (a folder of photos to calibrate on), unless --weights is an int8 .tflite file, whose own quantisation is then used',
    );
  // Photos are read (and bad ones refused) before the long float compile starts.
  const request = quantize === 'own' ? undefined : quantize;
  const photos = request ? await loadPhotosFor(model, stem, request, seed) : undefined;
  const stats = analyze(model.graph);
  const compiled = await compileArtifacts(out, {
    model,
    stem,
    weightsSource,
    targets,
    opset,
    foldBatchNorm: options.foldBn ?? false,
    weightsDtype,
    skipUnsupported: !targetsAreExplicit(options.target),
    source: {
      ...(options.arch !== undefined ? { arch: options.arch } : {}),
      ...(options.weights !== undefined ? { weights: options.weights } : {}),
      ...(options.inputSize !== undefined ? { inputSize: options.inputSize } : {}),
      ...(options.weights === undefined ? { seed } : {}),
    },
  });
  const { checks, summaries, skipped } = compiled;
  const built = targets.filter((t) => summaries[t] !== undefined);
  const int8 =
    quantize === 'own' && quantized
      ? await ownInt8ForCompile(out, {
          quantized: withInt8Arithmetic(quantized, arithmetic),
          stem,
          wasm: built.includes('wasm'),
          check: compiled.reference.input,
        })
      : request && photos
        ? await quantizeForCompile(out, {
            model,
            stem,
            request,
            photos,
            arithmetic,
            wasm: targets.includes('wasm'),
          })
        : undefined;
  // With an int8 wasm build, the float manifest names it: --engine wasm and apps loading the
  // float manifest run the int8 build (precision 'float32' keeps the float one).
  const floatFiles = int8?.wasm.built ? linkFloatManifest(compiled.files, stem) : compiled.files;
  const all = [...floatFiles, ...(int8?.files ?? [])];
  const files = forWeb ? all.filter((f) => isWebOutput(f.name)) : all;
  const written = await writeFilesAtomic(options.out, files);
  // The summary times the whole command: from the process start where the CLI runs as one
  // (module loading is seconds of it), else from this call.
  const seconds = (performance.now() - (out.startedAt ?? started)) / 1000;

  if (options.json) {
    out.json({
      arch: stem,
      weights: weightsSource,
      targets: built,
      skipped,
      macs: stats.macs,
      params: stats.params,
      convWeights: stats.convWeights,
      files: written.map((path, i) => ({ path, bytes: byteLength(files[i]!.data) })),
      checks,
      ...(int8 && quantize ? { int8: int8Json(int8, quantize) } : {}),
      seconds,
    });
    return;
  }
  out.line(`${stem} — weights: ${weightsSource}`);
  out.line(layerTable(stats));
  out.line(totalsLine(stats));
  out.line('');
  out.line(`targets: ${built.map((t) => `${t} (${summaries[t]})`).join(', ')}`);
  for (const [target, why] of Object.entries(skipped)) out.line(`skipped ${target}: ${why}`);
  out.line('files written:');
  out.line(
    formatTable(
      ['file', 'size'],
      written.map((p, i) => [relative(process.cwd(), p) || p, humanBytes(byteLength(files[i]!.data))]),
    ),
  );
  // No table without rows: a target without checks says so in words.
  if (checks.length > 0) {
    out.line('parity on a fixed seeded input (max |error| / max |reference|):');
    out.line(
      formatTable(
        ['target', 'check', 'error', 'limit'],
        checks.map((c) => [c.target, c.name, c.maxRelativeError.toExponential(2), c.limit.toExponential(0)]),
      ),
    );
  }
  for (const target of built.filter((t) => !checks.some((c) => c.target === t)))
    out.line(
      `${target}: parity not checked here (${NOT_RUN_HERE[target] ?? 'no runtime for it on this machine'})`,
    );
  if (int8 && quantize) printInt8(out, int8, quantize);
  out.line(`done in ${seconds.toFixed(1)} s`);
}

/** Why a target has no parity row, for the targets that cannot run in this process. */
const NOT_RUN_HERE: Partial<Record<TargetName, string>> = {
  tvm: 'TVM is not a dependency; build.py checks the build against expected.npy where TVM is installed',
};

function calibrationName(q: QuantizeRequest): string {
  return q.calibration === 'percentile' ? `percentile ${q.percentile}` : q.calibration;
}

function int8Json(r: Int8Result, q: QuantizeRequest | 'own'): Record<string, unknown> {
  const output = graphOutputs(r.model.graph)[0]!.name;
  return {
    calibration: q === 'own' ? 'the weights file' : calibrationName(q),
    ...(q === 'own' ? {} : { images: q.images }),
    calibrationPhotos: r.calibrationPhotos,
    outputStep: r.model.graph.quantization.tensors[output]!.scale,
    arithmetic: r.model.graph.quantization.arithmetic ?? 'tflite',
    agreement: r.agreement,
    wasm: r.wasm,
  };
}

const arithmeticOf = (r: Int8Result): string => r.model.graph.quantization.arithmetic ?? 'tflite';

/** The agreement table: how far the int8 model is from the float one on photos it was not calibrated on. */
function printInt8(out: Output, r: Int8Result, q: QuantizeRequest | 'own'): void {
  const output = graphOutputs(r.model.graph)[0]!.name;
  const step = r.model.graph.quantization.tensors[output]!.scale;
  if (q === 'own') {
    out.line(
      `int8: the weights file's own int8 model (output step ${step.toPrecision(4)}, ${arithmeticOf(r)} arithmetic), no calibration`,
    );
    printInt8Wasm(out, r);
    return;
  }
  out.line(
    `int8 (post-training quantisation, ${calibrationName(q)}, calibrated on ${r.calibrationPhotos.length} photo(s) of "${q.images}"; output step ${step.toPrecision(4)}; ${arithmeticOf(r)} arithmetic):`,
  );
  out.line('agreement with the float network on held-out photos (int8 vs float reference executors):');
  const pct = (v: number): string => `${(100 * v).toFixed(2)} %`;
  out.line(
    formatTable(
      ['photo', 'mean rel. diff', 'within 1 step', 'AbsRel vs float', 'delta1 vs float', 'max |diff|'],
      r.agreement.map((a) => [
        a.photo,
        pct(a.meanRelativeDifference),
        pct(a.withinOneStep),
        a.absRel.toFixed(4),
        pct(a.delta1),
        a.maxAbsDifference.toPrecision(3),
      ]),
    ),
  );
  printInt8Wasm(out, r);
}

function printInt8Wasm(out: Output, r: Int8Result): void {
  out.line(`int8 wasm: ${r.wasm.note}`);
  if (r.wasm.checks.length > 0)
    out.line(
      formatTable(
        ['check', 'error', 'limit'],
        r.wasm.checks.map((c) => [c.name, c.maxRelativeError.toExponential(2), String(c.limit)]),
      ),
    );
}

function byteLength(data: Uint8Array | string): number {
  return typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
}
