/**
 * The device server: a Vite dev server (so the generated tfjs modules' bare
 * `@tensorflow/tfjs-core` import resolves to the page's own tfjs, one copy) that serves the
 * measurement page cross-origin isolated (COOP/COEP: wasm threads), hands each registered
 * device models to time one at a time, validates what comes back and keeps one latency table
 * per device. A device is a browser tab: a local headless Chromium (`chromiumRunner`) or any
 * phone or laptop that opens the page (`fastdepth latency-server`).
 *
 * Nothing measured is lost when a tab closes: each result is saved to the device's table as it
 * arrives (and answered ok only once saved), and the job in hand stays with the device until a
 * page with the same device id (kept in localStorage) asks again, which gets the same job.
 *
 * The server is reachable by anything on the network it listens on, so it serves only the page,
 * the files it needs and the API (never the checkout: `servingGuard`), gives each device a
 * secret token at registration that its job requests and results must carry, and caps the
 * number of devices and the size of request bodies.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeOnnx } from '@fastdepth/codegen-onnx';
import { emitTfjs, toJavaScript } from '@fastdepth/codegen-tfjs';
import { initWeights, randomizeBatchNorm, type Graph, type Model } from '@fastdepth/graph-dsl';
import {
  freePort,
  ISOLATION_HEADERS,
  serveFiles,
  servingGuard,
  viteFsOptions,
  VITE_PREBUNDLE,
  WASM_URLS,
  wasmDirs,
  type ServingScope,
} from '@fastdepth/runtime-web/serving';
import { createServer, type Plugin, type ViteDevServer } from 'vite';
import {
  generatedDir,
  LatencyTable,
  median,
  wholeNetworkKey,
  type LatencyRunner,
  type LatencyTableOptions,
} from '../table.js';
import { sweepStaleTemps } from '../temp-files.js';
import type { PlanPoint } from './plan.js';
import {
  deviceBackend,
  deviceMachine,
  parseRegister,
  parseResult,
  type DeviceInfo,
  type Job,
  type JobReply,
  type PageEngine,
  type Progress,
} from './protocol.js';

/** The page's folder (`browser-page/`, beside `src/` and `dist/`). */
export const PAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'browser-page');

/** Models whose job files the server keeps (a batch of rounds times each several times). */
const FILE_SETS = 64;
/** Grid points a device measures per batch of rounds. */
const PLAN_BATCH = 12;
/** How long `GET /api/job` holds an empty answer (a long poll). */
const POLL_MS = 15_000;
/** A device not heard from for this long is shown as gone (its work waits for it). */
const GONE_MS = 40_000;
/** Default most devices one server takes (each holds a table in memory and writes it on exit). */
export const MAX_DEVICES = 32;
/** The largest request body the API reads (a result of 100 runs is about 2 KiB). */
export const MAX_BODY_BYTES = 16 * 1024;
/** The header a device's job requests and results carry its token in. */
export const TOKEN_HEADER = 'x-fastdepth-token';

export interface DeviceEvent {
  readonly kind: 'registered' | 'returned' | 'measured' | 'rejected' | 'done' | 'gone';
  readonly device: string;
  readonly info?: DeviceInfo;
  readonly progress?: Progress;
  readonly message?: string;
}

export interface DeviceServerOptions {
  readonly host?: string;
  readonly port?: number;
  /** Timed runs and warm-up runs per model. */
  readonly runs?: number;
  readonly warmup?: number;
  /**
   * Folder of per-device tables (`<device>.json`, the LatencyTable cache format); default
   * `node_modules/.cache/fastdepth/latency/devices`; `false`: memory only.
   */
  readonly tableDir?: string | false;
  /** Table options (step, calibrate) for every device's table; the step is kept in the table (`meta:step`). */
  readonly table?: Pick<LatencyTableOptions, 'step' | 'calibrate' | 'protocol'>;
  /** What every device measures once registered (latency-server); none: work comes from runners. */
  readonly plan?: readonly PlanPoint[];
  /**
   * Networks each device also times whole after the plan (by the protocol), kept in its table as
   * `meta:whole:<hash>` (`wholeNetworkKey`) for `latency-check`.
   */
  readonly wholes?: readonly Graph[];
  readonly onEvent?: (event: DeviceEvent) => void;
  readonly quiet?: boolean;
  /** Most devices registered at once (default `MAX_DEVICES`); one more is refused (503). */
  readonly maxDevices?: number;
}

interface Pending {
  readonly job: Job;
  readonly files: ReadonlyMap<string, { readonly type: string; readonly data: Uint8Array | string }>;
  readonly resolve: (times: number[]) => void;
  readonly reject: (error: Error) => void;
}

/** A registered device: its table and the job in hand. */
export class Device {
  lastSeen = Date.now();
  current: Pending | undefined;
  readonly runner: LatencyRunner;
  readonly table: LatencyTable;
  progress: Progress = { done: 0 };
  planRunning = false;
  planDone = false;
  /** The secret a page got at registration; its job requests and results must carry it. */
  readonly token = randomBytes(24).toString('hex');
  private queue: Promise<unknown> = Promise.resolve();
  private waiters: (() => void)[] = [];
  /** Results answered once the work that follows them has saved them (`whenSaved`). */
  private unsaved: { resolve: () => void; reject: (error: Error) => void }[] = [];

  constructor(
    readonly id: string,
    readonly info: DeviceInfo,
    private readonly server: DeviceServer,
    tableFile: string | false,
    tableOptions: DeviceServerOptions['table'],
  ) {
    this.runner = {
      backend: deviceBackend(info),
      machine: deviceMachine(info),
      measure: (model) => this.measure(model),
    };
    this.table = new LatencyTable(this.runner, {
      ...tableOptions,
      // A device is someone's phone or laptop: its noise is recorded with the table (a run that
      // reads the table later is warned), not refused.
      protocol: { allowNoisy: true, ...tableOptions?.protocol },
      cacheFile: tableFile,
      saveSamples: true,
      // Saved as each result arrives (each raw timing, then each entry).
      onMeasure: () => this.table.save(),
    });
  }

  get gone(): boolean {
    return Date.now() - this.lastSeen > GONE_MS;
  }

  /** Times `model` on this device (jobs run one at a time, in call order); the median ms. */
  measure(model: Model, label?: string): Promise<number> {
    const run = this.queue.then(async () => median(await this.submit(model, label ?? describe(model.graph))));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Whether `token` is this device's (constant time: the token is a secret). */
  hasToken(token: string | undefined): boolean {
    if (token === undefined) return false;
    const a = Buffer.from(token);
    const b = Buffer.from(this.token);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /**
   * Resolves once the result just handed over is saved: the table keeps (and saves) every
   * measurement before it asks for the next one, so the next job, or the plan's end, means the
   * result is on disk; a failed save rejects with its error.
   */
  whenSaved(): Promise<void> {
    return new Promise((resolve, reject) => this.unsaved.push({ resolve, reject }));
  }

  /** Ends the wait of `whenSaved` (error: the save failed). */
  settle(error?: Error): void {
    for (const u of this.unsaved.splice(0))
      if (error) u.reject(error);
      else u.resolve();
  }

  private submit(model: Model, label: string): Promise<number[]> {
    this.settle();
    const { job, files } = this.server.makeJob(model, label, this.info.engine);
    return new Promise<number[]>((resolve, reject) => {
      this.current = { job, files, resolve, reject };
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  /** Resolves when a job is in hand or after `ms`. */
  waitForJob(ms: number): Promise<void> {
    if (this.current) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Ends the job in hand with an error (server closing, runner timeout). */
  abort(error: Error): void {
    const pending = this.current;
    this.current = undefined;
    pending?.reject(error);
    for (const wake of this.waiters.splice(0)) wake();
  }

  complete(times: number[]): void {
    const pending = this.current!;
    this.current = undefined;
    pending.resolve(times);
  }
}

function describe(graph: Graph): string {
  const input = graph.nodes.find((n) => n.op === 'input');
  const shape = input?.op === 'input' ? input.attrs.shape.join('x') : '?';
  return `${graph.name} (${graph.nodes.length - 2} ops) on ${shape}`;
}

function inputShapeOf(graph: Graph): number[] {
  const input = graph.nodes.find((n) => n.op === 'input');
  if (input?.op !== 'input') throw new Error(`${graph.name}: the graph has no input`);
  return [...input.attrs.shape];
}

/** An API error with its HTTP status. */
function httpError(status: number, message: string): Error & { status: number } {
  return Object.assign(new Error(message), { status });
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const tooLarge = (): Error => httpError(413, `body over ${MAX_BODY_BYTES / 1024} KiB`);
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) {
    req.resume();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) {
      req.destroy();
      throw tooLarge();
    }
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new Error('body is not JSON');
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Cache-Control', 'no-store');
  res.end(JSON.stringify(body));
}

/** The server; `startDeviceServer` starts one. */
export class DeviceServer {
  readonly devices = new Map<string, Device>();
  private readonly files = new Map<number, Pending['files']>();
  private nextJob = 1;
  private nextFiles = 1;
  private readonly fileIds = new WeakMap<Model, number>();
  private closing = false;
  private registrationWaiters: ((d: Device) => void)[] = [];
  vite: ViteDevServer | undefined;
  url = '';
  /** What it serves from disk (`deviceServerScope`), set before it starts. */
  scope: ServingScope = { allow: [PAGE_DIR] };
  private readonly runs: number;
  private readonly warmup: number;

  constructor(readonly options: DeviceServerOptions) {
    this.runs = options.runs ?? 5;
    this.warmup = options.warmup ?? 2;
  }

  /** The folder of the device tables (false: memory only). */
  tableDir(): string | false {
    return this.options.tableDir ?? join(generatedDir(), 'devices');
  }

  /** The table file of a device (false: memory only). */
  tableFile(device: string): string | false {
    const dir = this.tableDir();
    return dir === false ? false : join(dir, `${device}.json`);
  }

  /** Builds the files of one job. */
  makeJob(model: Model, label: string, engine: PageEngine): Pick<Pending, 'job' | 'files'> {
    const id = this.nextJob++;
    const { fileId, files } = this.filesOf(model, engine);
    const urls: Record<string, string> =
      engine === 'tfjs'
        ? {
            module: `/lut/${fileId}/module.js`,
            manifest: `/lut/${fileId}/weights.json`,
            weights: `/lut/${fileId}/weights.bin`,
          }
        : { model: `/lut/${fileId}/model.onnx` };
    const job: Job = {
      id,
      label,
      engine,
      files: urls,
      inputShape: inputShapeOf(model.graph),
      warmup: this.warmup,
      runs: this.runs,
    };
    return { job, files };
  }

  /**
   * The files of `model`, built once while it is timed round after round (the protocol hands
   * the same model object each round): the page imports the same module URL again, which its
   * module cache answers, instead of a new transform and download per round. The last
   * `FILE_SETS` models' files are kept.
   */
  private filesOf(model: Model, engine: PageEngine): { fileId: number; files: Pending['files'] } {
    const known = this.fileIds.get(model);
    if (known !== undefined && this.files.has(known)) return { fileId: known, files: this.files.get(known)! };
    const fileId = this.nextFiles++;
    const files = new Map<string, { type: string; data: Uint8Array | string }>();
    if (engine === 'tfjs') {
      const emitted = emitTfjs(model, { moduleName: 'latency_probe' });
      files.set('module.js', { type: 'text/javascript', data: toJavaScript(emitted.source).js });
      files.set('weights.json', { type: 'application/json', data: JSON.stringify(emitted.manifest) });
      files.set('weights.bin', { type: 'application/octet-stream', data: emitted.weights });
    } else {
      files.set('model.onnx', { type: 'application/octet-stream', data: encodeOnnx(model) });
    }
    this.files.set(fileId, files);
    this.fileIds.set(model, fileId);
    for (const old of this.files.keys()) {
      if (this.files.size <= FILE_SETS) break;
      this.files.delete(old);
    }
    return { fileId, files };
  }

  /** The generated module of a job's files (served through Vite). */
  moduleCode(fileId: number): string | undefined {
    const file = this.files.get(fileId)?.get('module.js');
    return typeof file?.data === 'string' ? file.data : undefined;
  }

  /** Resolves with the next device that registers (or returns), optionally one id. */
  waitForDevice(id?: string, timeoutMs = 120_000): Promise<Device> {
    const known = id === undefined ? undefined : this.devices.get(id);
    if (known) return Promise.resolve(known);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `no device${id === undefined ? '' : ` "${id}"`} registered within ${timeoutMs / 1000} s`,
            ),
          ),
        timeoutMs,
      );
      const waiter = (d: Device): void => {
        if (id !== undefined && d.id !== id) {
          this.registrationWaiters.push(waiter);
          return;
        }
        clearTimeout(timer);
        resolve(d);
      };
      this.registrationWaiters.push(waiter);
    });
  }

  private emit(event: DeviceEvent): void {
    this.options.onEvent?.(event);
  }

  private register(body: unknown, token: string | undefined): Device {
    const request = parseRegister(body);
    const { device: id, ...info } = request;
    let device = this.devices.get(id);
    // A returning page shows the token it was given; an id alone does not take a device over.
    if (device && !device.hasToken(token))
      throw httpError(403, `device "${id}" is registered already: continuing it needs its token`);
    if (!device && this.devices.size >= (this.options.maxDevices ?? MAX_DEVICES))
      throw httpError(
        503,
        `the server takes at most ${this.options.maxDevices ?? MAX_DEVICES} devices (--max-devices)`,
      );
    if (device && deviceBackend(device.info) !== deviceBackend(info))
      throw new Error(
        `device "${id}" registered as ${deviceBackend(device.info)}, now ${deviceBackend(info)}`,
      );
    const returning = device !== undefined;
    if (!device) {
      device = new Device(id, info, this, this.tableFile(id), this.options.table);
      if (this.options.plan) device.table.setMeta('step', device.table.gridStep);
      this.devices.set(id, device);
    }
    device.lastSeen = Date.now();
    this.emit({ kind: returning ? 'returned' : 'registered', device: id, info });
    for (const waiter of this.registrationWaiters.splice(0)) waiter(device);
    if (this.options.plan && !device.planRunning && !device.planDone) void this.runPlan(device);
    return device;
  }

  /** Measures the plan on `device`; points already in its table are skipped. */
  private async runPlan(device: Device): Promise<void> {
    const plan = this.options.plan!;
    device.planRunning = true;
    const wholes = this.options.wholes ?? [];
    const total = plan.length + 1 + wholes.length;
    try {
      // In batches: each batch is timed in interleaved rounds with the reference probe (see
      // `measureInRounds`), small enough that a page closed mid-way loses little.
      for (let i = 0; i < plan.length; i += PLAN_BATCH) {
        device.progress = { done: i, total };
        const batch = plan.slice(i, i + PLAN_BATCH).filter((p) => !device.table.has(p.layer, p.cin, p.cout));
        if (batch.length === 0) continue;
        await device.table.measurePoints(batch);
        const done = Math.min(plan.length, i + PLAN_BATCH);
        this.emit({ kind: 'measured', device: device.id, progress: { done, total } });
      }
      device.progress = { done: plan.length, total };
      await device.table.calibration();
      device.table.save();
      const missing = wholes.filter((g) => device.table.meta(wholeNetworkKey(g)) === undefined);
      if (missing.length > 0) {
        device.progress = { done: plan.length + 1 + wholes.length - missing.length, total };
        // Timed in the same rounds, by the same protocol as the entries they are checked against.
        const timed = await device.table.measureWhole(
          new Map(missing.map((g) => [wholeNetworkKey(g), probeModel(g)])),
        );
        for (const [key, e] of timed) device.table.setMeta(key, e.ms);
        device.table.save();
      }
      device.progress = { done: total, total };
      device.planDone = true;
      device.settle();
      this.emit({ kind: 'done', device: device.id, progress: device.progress });
    } catch (error) {
      device.settle(error as Error);
      // Closing the server ends the job in hand; that is not the device's fault.
      if (!this.closing)
        this.emit({ kind: 'rejected', device: device.id, message: (error as Error).message });
    } finally {
      device.planRunning = false;
    }
  }

  /** The device `id` names, if the request carries its token (403 otherwise). */
  private authorised(id: unknown, token: string | undefined): Device {
    const device = typeof id === 'string' ? this.devices.get(id) : undefined;
    if (!device) throw new Error(`device "${String(id)}" is not registered`);
    if (!device.hasToken(token))
      throw httpError(403, `device "${device.id}": the request lacks the device's token (${TOKEN_HEADER})`);
    return device;
  }

  private async jobReply(id: string | null, token: string | undefined): Promise<JobReply> {
    const device = this.authorised(id, token);
    device.lastSeen = Date.now();
    await device.waitForJob(POLL_MS);
    device.lastSeen = Date.now();
    if (device.current) return { state: 'job', job: device.current.job, progress: device.progress };
    return { state: device.planDone ? 'done' : 'idle', progress: device.progress };
  }

  private async result(body: unknown, token: string | undefined): Promise<void> {
    const b = (typeof body === 'object' && body !== null ? body : {}) as { device?: unknown };
    const device = this.authorised(b.device, token);
    device.lastSeen = Date.now();
    const pending = device.current;
    if (!pending) throw new Error(`device "${device.id}" has no job in hand`);
    let times: number[];
    try {
      times = parseResult(body, {
        device: device.id,
        job: pending.job.id,
        runs: pending.job.runs,
        info: device.info,
      });
    } catch (error) {
      this.emit({ kind: 'rejected', device: device.id, message: (error as Error).message });
      throw error;
    }
    // Work from a plan goes to the device's table: answer once it is saved there. A runner's
    // caller (chromiumRunner) keeps the times itself.
    const saved = device.planRunning ? device.whenSaved() : Promise.resolve();
    device.complete(times);
    try {
      await saved;
    } catch (error) {
      throw httpError(500, `result not saved: ${(error as Error).message}`);
    }
  }

  /** API routes, model files and wasm binaries. */
  middleware(): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
    const wasm = serveFiles();
    return (req, res, next) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const header = req.headers[TOKEN_HEADER];
      const token = typeof header === 'string' ? header : undefined;
      for (const [k, v] of Object.entries(ISOLATION_HEADERS)) res.setHeader(k, v);
      const lut = /^\/lut\/(\d+)\/(weights\.json|weights\.bin|model\.onnx)$/.exec(url.pathname);
      if (lut) {
        const file = this.files.get(Number(lut[1]))?.get(lut[2]!);
        if (!file) {
          send(res, 404, { error: 'no such job file' });
          return;
        }
        res.setHeader('Content-Type', file.type);
        res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
        res.end(file.data);
        return;
      }
      if (!url.pathname.startsWith('/api/')) {
        wasm(req, res, next);
        return;
      }
      const route = `${req.method ?? 'GET'} ${url.pathname}`;
      const handle = async (): Promise<unknown> => {
        switch (route) {
          case 'POST /api/register': {
            const device = this.register(await readJson(req), token);
            return {
              device: device.id,
              token: device.token,
              table: deviceBackend(device.info),
              progress: device.progress,
            };
          }
          case 'GET /api/job':
            return this.jobReply(url.searchParams.get('device'), token);
          case 'POST /api/result':
            await this.result(await readJson(req), token);
            return { ok: true };
          case 'GET /api/status': {
            // Counts only: device ids are not for anyone on the network to read.
            const devices = this.status();
            return {
              devices: devices.length,
              done: devices.filter((d) => d.progress.done === d.progress.total).length,
            };
          }
          default:
            throw httpError(404, `no route ${route}`);
        }
      };
      handle().then(
        (body) => send(res, 200, body),
        (error: unknown) => {
          const e = error as Error & { status?: number };
          send(res, e.status ?? 400, { error: e.message });
        },
      );
    };
  }

  /** Each device: what it is, how far, whether it is still there. */
  status(): {
    id: string;
    table: string;
    machine: string;
    progress: Progress;
    gone: boolean;
    entries: number;
  }[] {
    return [...this.devices.values()].map((d) => ({
      id: d.id,
      table: deviceBackend(d.info),
      machine: deviceMachine(d.info),
      progress: d.progress,
      gone: d.gone,
      entries: d.table.size,
    }));
  }

  /**
   * Saves every table and stops serving. The server stops even when a table cannot be saved;
   * then it rejects, naming the tables not saved.
   */
  async close(): Promise<void> {
    this.closing = true;
    const failed: string[] = [];
    for (const d of this.devices.values()) {
      try {
        d.table.save();
      } catch (error) {
        failed.push(`${d.id}: ${(error as Error).message}`);
      }
      d.abort(new Error('the device server closed'));
    }
    await this.vite?.close();
    if (failed.length > 0) throw new Error(`tables not saved: ${failed.join('; ')}`);
  }
}

/** Serves `/lut/<job>/module.js` as a module Vite transforms (its bare imports resolved). */
function modulePlugin(server: DeviceServer): Plugin {
  const prefix = '\0fastdepth-lut:';
  return {
    name: 'fastdepth-latency',
    resolveId(source) {
      const m = /^\/lut\/(\d+)\/module\.js$/.exec(source.split('?')[0]!);
      return m ? `${prefix}${m[1]}` : undefined;
    },
    load(id) {
      if (!id.startsWith(prefix)) return undefined;
      const code = server.moduleCode(Number(id.slice(prefix.length)));
      if (code === undefined) throw new Error(`no module for job ${id.slice(prefix.length)}`);
      return code;
    },
    configureServer(vite) {
      vite.middlewares.use(servingGuard(server.scope));
      vite.middlewares.use(server.middleware());
    },
  };
}

const require = createRequire(import.meta.url);

/**
 * What the device server may serve from disk: the page, the runtime-web sources it imports,
 * Vite's pre-bundled dependencies and client, onnxruntime-web (not pre-bundled); never the output
 * folder, the rest of the checkout or the machine.
 */
export function deviceServerScope(cacheDir: string, tableDir: string | false): ServingScope {
  return {
    allow: [
      PAGE_DIR,
      join(dirname(require.resolve('@fastdepth/runtime-web/package.json')), 'src'),
      cacheDir,
      wasmDirs()[WASM_URLS.onnx]!,
      // Vite's client (`/@vite/env`), which Vite itself always allows.
      join(dirname(require.resolve('vite/package.json')), 'dist', 'client'),
    ],
    deny: tableDir === false ? [] : [tableDir],
  };
}

/** Throws, naming `dir`, unless a table can be written there (tried: root ignores permissions). */
function checkTableDir(dir: string): void {
  const probe = join(dir, `.fastdepth-probe.${process.pid}.tmp`);
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(probe, '');
  } catch (error) {
    throw new Error(`cannot write device tables to "${dir}": ${(error as Error).message}`);
  }
  rmSync(probe, { force: true });
  // Tables half-written by a server killed outright.
  sweepStaleTemps(dir);
}

/** Starts a device server (default 127.0.0.1 on a free port). */
export async function startDeviceServer(options: DeviceServerOptions = {}): Promise<DeviceServer> {
  const server = new DeviceServer(options);
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? (await freePort(host === '0.0.0.0' ? '127.0.0.1' : host));
  // The cache of pre-bundled deps is per page, beside the latency cache, so concurrent servers agree.
  const cacheDir = join(
    generatedDir(),
    'vite',
    createHash('sha1').update(PAGE_DIR).digest('hex').slice(0, 8),
  );
  const tableDir = server.tableDir();
  if (tableDir !== false) checkTableDir(tableDir);
  server.scope = deviceServerScope(cacheDir, tableDir);
  const vite = await createServer({
    configFile: false,
    root: PAGE_DIR,
    cacheDir,
    logLevel: options.quiet === false ? 'info' : 'error',
    clearScreen: false,
    resolve: { conditions: ['@fastdepth/source', 'module', 'browser', 'development|production'] },
    plugins: [modulePlugin(server)],
    server: {
      host,
      port,
      strictPort: true,
      headers: ISOLATION_HEADERS,
      fs: viteFsOptions(server.scope),
      hmr: false,
      watch: null,
    },
    optimizeDeps: {
      entries: [join(PAGE_DIR, 'index.html')],
      ...VITE_PREBUNDLE,
    },
  });
  await vite.listen();
  server.vite = vite;
  server.url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}/`;
  return server;
}

/** A fresh device id (the page keeps its own in localStorage). */
export function newDeviceId(prefix = 'dev'): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

/** Builds the random-weights model the table measures for a graph (as LatencyTable does). */
export function probeModel(graph: Graph): Model {
  return { graph, weights: randomizeBatchNorm(graph, initWeights(graph, 1), 2) };
}
