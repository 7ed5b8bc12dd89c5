/**
 * Where latency is measured, parsed in one place for `prune` and `latency-check`:
 *
 * - default (`--latency-on node`): this Node process, generated tfjs on tfjs-wasm (1 thread),
 *   onnxruntime-node (`--backend onnx`), the wasm engine (`--backend wasm-engine`, one thread)
 *   or a deterministic cost model (`--backend cost-model`: MACs and memory, for tests and dry
 *   runs, never a timing);
 * - `--latency-on chromium[:THREADS[:BACKEND]]`: a local headless Chromium, cross-origin
 *   isolated, tfjs (`--backend wasm`, the default) or onnxruntime-web (`--backend onnx`) on
 *   BACKEND = wasm (default) | webgl | webgpu, THREADS wasm threads (default 1);
 * - `--latency-table FILE`: a table a device measured through `fastdepth latency-server`. It is
 *   read only: an entry it lacks is an error naming the layer and the grid point (measuring it
 *   here would mix two devices in one table).
 *
 * The browser code (Vite, playwright-core) is loaded only when Chromium is asked for.
 */
import { existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readUserFileSync } from '@fastdepth/graph-dsl/read-file';
import {
  costModelRunner,
  ENTRY_VERSION,
  generatedDir,
  LatencyTable,
  onnxRunner,
  tfjsRunner,
  wasmEngineRunner,
  type LatencyRunner,
  type MissingLatencyEntry,
  type ProtocolOptions,
} from '@fastdepth/latency';
import { UserError } from './errors.js';
import { parseInteger } from './options.js';
import type { Output } from './output.js';

export interface LatencyOptions {
  readonly backend: string;
  readonly latencyOn?: string;
  readonly latencyTable?: string;
  /** Drop the cached table of this runtime and machine before measuring. */
  readonly freshLatency?: boolean;
  /** Measure even when the machine is too noisy (the table records it). */
  readonly allowNoisy?: boolean;
}

/** The Node runtimes `--backend` names. */
export const NODE_BACKENDS = ['wasm', 'onnx', 'wasm-engine', 'cost-model'] as const;
export type NodeBackend = (typeof NODE_BACKENDS)[number];

/** The default cache, and the one netadapt kept before the latency package (dropped too). */
export function latencyCacheFiles(): string[] {
  const dir = generatedDir();
  return [join(dir, 'latency.json'), join(dirname(dir), 'netadapt', 'latency.json')];
}

/** Removes the cached latency tables; returns the files removed. */
export function clearLatencyCache(): string[] {
  const removed: string[] = [];
  for (const file of latencyCacheFiles())
    if (existsSync(file)) {
      rmSync(file, { force: true });
      removed.push(file);
    }
  return removed;
}

export type LatencyChoice =
  | { readonly kind: 'node'; readonly backend: NodeBackend }
  | {
      readonly kind: 'chromium';
      readonly engine: 'tfjs' | 'onnx';
      readonly threads: number;
      readonly backend: 'wasm' | 'webgl' | 'webgpu';
    }
  | {
      readonly kind: 'table';
      readonly file: string;
      readonly entries: Record<string, number>;
      readonly step: number;
      readonly machine: string;
      readonly runtime: string;
    };

/** An opened latency source: the table, whether whole networks can be timed, a name to print. */
export interface OpenedLatency {
  readonly table: LatencyTable;
  /** False for a saved table whose device is not attached. */
  readonly canMeasure: boolean;
  /** Where, for reports: `tfjs-wasm (Node)`, `web-tfjs-wasm-2t on Chromium 150 headless|Linux|2 cores`. */
  readonly runtime: string;
  close(): Promise<void>;
}

const CHROMIUM_BACKENDS = ['wasm', 'webgl', 'webgpu'] as const;

/** Reads a saved device table: every key from one device and runtime, and its grid step. */
function readTableFile(file: string): Extract<LatencyChoice, { kind: 'table' }> {
  if (!existsSync(file)) throw new UserError(`--latency-table "${file}": no such file`);
  const text = readUserFileSync(file, 'latency table', 'table').toString('utf8');
  let entries: Record<string, number>;
  try {
    const raw = JSON.parse(text) as unknown;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('not a JSON object');
    entries = raw as Record<string, number>;
  } catch (e) {
    throw new UserError(`--latency-table "${file}": not a latency table (${(e as Error).message})`);
  }
  let prefix: string | undefined;
  for (const [key, value] of Object.entries(entries)) {
    // How the table was measured, and a batch's raw timings: not entries.
    if (key.startsWith('#')) continue;
    const parts = key.split('|');
    if (parts[0] === 'v2')
      throw new UserError(
        `--latency-table "${file}" was measured before the contention protocol (entries "v2|..."): measure it again with \`fastdepth latency-server\``,
      );
    if (
      parts[0] !== ENTRY_VERSION ||
      parts.length < 7 ||
      typeof value !== 'number' ||
      !Number.isFinite(value)
    )
      throw new UserError(
        `--latency-table "${file}": entry "${key.slice(0, 80)}" is not a ${ENTRY_VERSION} latency entry with a finite value`,
      );
    const p = parts.slice(1, 5).join('|');
    if (prefix !== undefined && p !== prefix)
      throw new UserError(
        `--latency-table "${file}" mixes devices or runtimes ("${prefix}" and "${p}"): one device per file`,
      );
    prefix = p;
  }
  if (prefix === undefined) throw new UserError(`--latency-table "${file}" is empty`);
  const parts = prefix.split('|');
  const machine = parts.slice(0, 3).join('|');
  const runtime = parts[3]!;
  const step = entries[`${ENTRY_VERSION}|${prefix}|meta:step|0x0`] ?? 8;
  return { kind: 'table', file, entries, step, machine, runtime };
}

/**
 * Checks the latency flags (before any work); `metric` is prune's (latency-check passes
 * `latency`). Undefined when latency is not the metric.
 */
export function parseLatencyChoice(o: LatencyOptions, metric: string): LatencyChoice | undefined {
  const backend = o.backend as NodeBackend;
  if (!(NODE_BACKENDS as readonly string[]).includes(backend))
    throw new UserError(`--backend must be one of ${NODE_BACKENDS.join(', ')}, found "${backend}"`);
  if (o.freshLatency && o.latencyTable !== undefined)
    throw new UserError(
      '--fresh-latency drops a cached table to measure it again; a --latency-table file is read only (its device is not attached)',
    );
  if (o.latencyOn !== undefined && o.latencyTable !== undefined)
    throw new UserError(
      '--latency-on and --latency-table both say where latency comes from: give one (a saved table is read only)',
    );
  if (metric !== 'latency') {
    if (o.latencyOn !== undefined || o.latencyTable !== undefined)
      throw new UserError(`--latency-on / --latency-table need --metric latency (found --metric ${metric})`);
    return undefined;
  }
  if (o.latencyTable !== undefined) return readTableFile(o.latencyTable);
  const spec = o.latencyOn ?? 'node';
  const [where, threadsText, gpu, ...rest] = spec.split(':');
  if (where === 'node') {
    if (threadsText !== undefined)
      throw new UserError(
        `--latency-on node takes no threads or backend (found "${spec}"); use chromium:THREADS`,
      );
    return { kind: 'node', backend };
  }
  if (backend === 'wasm-engine' || backend === 'cost-model')
    throw new UserError(
      `--backend ${backend} runs in Node (--latency-on node); in Chromium choose --backend wasm (tfjs) or onnx`,
    );
  if (where !== 'chromium' || rest.length > 0)
    throw new UserError(
      `--latency-on must be node or chromium[:THREADS[:wasm|webgl|webgpu]] (e.g. chromium:2), found "${spec}"`,
    );
  const threads =
    threadsText === undefined || threadsText === ''
      ? 1
      : parseInteger('--latency-on threads', threadsText, 1, 64);
  const chromiumBackend = gpu ?? 'wasm';
  if (!(CHROMIUM_BACKENDS as readonly string[]).includes(chromiumBackend))
    throw new UserError(
      `--latency-on chromium backend must be one of ${CHROMIUM_BACKENDS.join(', ')}, found "${chromiumBackend}"`,
    );
  if (backend === 'onnx' && chromiumBackend === 'webgl')
    throw new UserError('--backend onnx runs onnxruntime-web on wasm or webgpu, not webgl');
  if (chromiumBackend !== 'wasm' && threads !== 1)
    throw new UserError(
      `--latency-on ${spec}: threads apply to wasm only (${chromiumBackend} runs on the GPU)`,
    );
  return {
    kind: 'chromium',
    engine: backend === 'onnx' ? 'onnx' : 'tfjs',
    threads,
    backend: chromiumBackend as (typeof CHROMIUM_BACKENDS)[number],
  };
}

function describeMissing(file: string, m: MissingLatencyEntry): string {
  const what =
    m.kind === 'calibration'
      ? 'the calibration network (the table was not finished)'
      : m.kind === 'overhead'
        ? `the per-call overhead probe of layer "${m.layer ?? '?'}" at ${m.cin} channels`
        : `layer "${m.layer ?? '?'}" at ${m.cin} in x ${m.cout} out channels`;
  return (
    `--latency-table "${file}" has no entry for ${what} (${m.signature}): ` +
    'measure it on the device with `fastdepth latency-server` for this network (a lower --min-fraction reaches narrower layers)'
  );
}

function nodeRunner(backend: NodeBackend): LatencyRunner {
  switch (backend) {
    case 'onnx':
      return onnxRunner();
    case 'wasm-engine':
      return wasmEngineRunner();
    case 'cost-model':
      return costModelRunner();
    case 'wasm':
      return tfjsRunner({ backend: 'wasm' });
  }
}

/**
 * Opens the latency source (starts Chromium when asked); call `close()` when done.
 * `--fresh-latency` removes the cached tables first (every runtime's: `fastdepth latency clear`).
 */
export async function openLatency(
  choice: LatencyChoice,
  out: Output,
  flags: Pick<LatencyOptions, 'freshLatency' | 'allowNoisy'> & { readonly rounds?: number } = {},
): Promise<OpenedLatency> {
  const protocol: ProtocolOptions = {
    ...(flags.allowNoisy ? { allowNoisy: true } : {}),
    ...(flags.rounds !== undefined ? { rounds: flags.rounds } : {}),
  };
  const onNote = (t: string): void => out.note(`latency: ${t}`);
  const cached = (runner: LatencyRunner): LatencyTable => {
    if (flags.freshLatency) {
      const removed = clearLatencyCache();
      out.note(
        removed.length > 0
          ? `latency: --fresh-latency: removed ${removed.join(', ')}; every entry is measured again`
          : 'latency: --fresh-latency: no cached table yet',
      );
    }
    return new LatencyTable(runner, { protocol, onNote });
  };
  if (choice.kind === 'node') {
    const runner = nodeRunner(choice.backend);
    return {
      table: cached(runner),
      canMeasure: true,
      runtime: `${runner.backend} (Node)`,
      close: () => Promise.resolve(),
    };
  }
  if (choice.kind === 'table') {
    const refuse = (): never => {
      throw new UserError(
        `--latency-table "${choice.file}": its device is not attached, so nothing can be timed here`,
      );
    };
    const runner: LatencyRunner = {
      backend: choice.runtime,
      machine: choice.machine,
      measure: () => Promise.resolve(refuse()),
    };
    return {
      table: new LatencyTable(runner, {
        cacheFile: choice.file,
        step: choice.step,
        onNote,
        onMissing: (m) => {
          throw new UserError(describeMissing(choice.file, m));
        },
      }),
      canMeasure: false,
      runtime: `${choice.runtime} on ${choice.machine} (table ${choice.file})`,
      close: () => Promise.resolve(),
    };
  }
  out.note(
    `latency: starting headless Chromium (${choice.engine} ${choice.backend}${choice.backend === 'wasm' ? `, ${choice.threads} thread(s)` : ''}, cross-origin isolated)`,
  );
  const { chromiumRunner } = await import('@fastdepth/latency/browser');
  let runner;
  try {
    runner = await chromiumRunner({
      engine: choice.engine,
      backend: choice.backend,
      threads: choice.threads,
    });
  } catch (e) {
    throw new UserError(`--latency-on chromium: ${(e as Error).message}`);
  }
  return {
    table: cached(runner),
    canMeasure: true,
    runtime: `${runner.backend} on ${runner.machine}`,
    close: () => runner.close(),
  };
}
