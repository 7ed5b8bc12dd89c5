/**
 * What the measurement page and the device server say to each other (JSON over HTTP), and the
 * checks every message from a page passes before anything enters a table: a page is code on
 * someone else's device, so its answers are data to validate, never trusted.
 */

/** Engines and backends a page can time on. */
export const PAGE_ENGINES = ['tfjs', 'onnx'] as const;
export const PAGE_BACKENDS = ['wasm', 'webgl', 'webgpu', 'cpu'] as const;
export type PageEngine = (typeof PAGE_ENGINES)[number];
export type PageBackend = (typeof PAGE_BACKENDS)[number];

/** A device as its page describes itself when it registers. */
export interface DeviceInfo {
  /** Browser and major version, e.g. `Chromium 131`. */
  readonly browser: string;
  /** OS, e.g. `Linux x86_64`, `Android 14`. */
  readonly os: string;
  /** `navigator.hardwareConcurrency`. */
  readonly cores: number;
  readonly engine: PageEngine;
  readonly backend: PageBackend;
  /** Threads the backend actually runs on (1 without cross-origin isolation). */
  readonly threads: number;
  readonly isolated: boolean;
}

export interface RegisterRequest extends DeviceInfo {
  /** Kept in the page's localStorage: a returning device continues its table. */
  readonly device: string;
}

/** One model to time: fetch it from `files`, time it, post the times. */
export interface Job {
  readonly id: number;
  /** What it is, for the page's label (`conv13_pw 512x1024`). */
  readonly label: string;
  readonly engine: PageEngine;
  /** URLs: tfjs `module` (an ES module), `manifest`, `weights`; onnx `model`. */
  readonly files: Readonly<Record<string, string>>;
  /** NCHW. */
  readonly inputShape: readonly number[];
  readonly warmup: number;
  readonly runs: number;
}

/** `GET /api/job`: a job, nothing yet (ask again), or the device's plan is finished. */
export type JobReply =
  | { readonly state: 'job'; readonly job: Job; readonly progress: Progress }
  | { readonly state: 'idle'; readonly progress: Progress }
  | { readonly state: 'done'; readonly progress: Progress };

export interface Progress {
  readonly done: number;
  /** Undefined when the work is open-ended (a NetAdapt run asking as it goes). */
  readonly total?: number;
}

export interface ResultRequest {
  readonly device: string;
  readonly job: number;
  readonly times: readonly number[];
  readonly backend: string;
  readonly threads: number;
}

/** The longest a single timed run may take before it is called implausible. */
export const MAX_RUN_MS = 60_000;

const ID = /^[A-Za-z0-9_-]{6,64}$/;

function text(body: Record<string, unknown>, field: string, max = 80): string {
  const v = body[field];
  if (typeof v !== 'string' || v.length === 0 || v.length > max)
    throw new Error(`"${field}" must be a string of 1 to ${max} characters`);
  // "|" separates the parts of a table key; control characters would garble the terminal.
  // eslint-disable-next-line no-control-regex -- control characters are what it looks for
  if (/[|\u0000-\u001f]/.test(v)) throw new Error(`"${field}" has a "|" or a control character`);
  return v;
}

function integer(body: Record<string, unknown>, field: string, min: number, max: number): number {
  const v = body[field];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new Error(`"${field}" must be a whole number from ${min} to ${max}`);
  return v;
}

function object(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error('not a JSON object');
  return body as Record<string, unknown>;
}

function oneOf<T extends string>(body: Record<string, unknown>, field: string, allowed: readonly T[]): T {
  const v = body[field];
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v))
    throw new Error(`"${field}" must be one of ${allowed.join(', ')}`);
  return v as T;
}

/** Checks a registration; throws with the field at fault. */
export function parseRegister(body: unknown): RegisterRequest {
  const b = object(body);
  const device = b.device;
  if (typeof device !== 'string' || !ID.test(device))
    throw new Error('"device" must be 6 to 64 letters, digits, "_" or "-"');
  if (typeof b.isolated !== 'boolean') throw new Error('"isolated" must be true or false');
  return {
    device,
    browser: text(b, 'browser'),
    os: text(b, 'os'),
    cores: integer(b, 'cores', 1, 1024),
    engine: oneOf(b, 'engine', PAGE_ENGINES),
    backend: oneOf(b, 'backend', PAGE_BACKENDS),
    threads: integer(b, 'threads', 1, 256),
    isolated: b.isolated,
  };
}

/**
 * Checks a result against the job it answers and the device that posted it: the right job,
 * the backend and threads registered, exactly `runs` times, each finite and within
 * [0, MAX_RUN_MS]. Returns the times.
 */
export function parseResult(
  body: unknown,
  expected: {
    readonly device: string;
    readonly job: number;
    readonly runs: number;
    readonly info: DeviceInfo;
  },
): number[] {
  const b = object(body);
  if (b.device !== expected.device) throw new Error(`"device" is not ${expected.device}`);
  if (b.job !== expected.job)
    throw new Error(`"job" ${String(b.job)} is not the job in hand (${expected.job})`);
  if (b.backend !== expected.info.backend)
    throw new Error(`"backend" ${String(b.backend)} is not the registered ${expected.info.backend}`);
  if (b.threads !== expected.info.threads)
    throw new Error(`"threads" ${String(b.threads)} is not the registered ${expected.info.threads}`);
  const times = b.times;
  if (!Array.isArray(times) || times.length !== expected.runs)
    throw new Error(`"times" must be an array of ${expected.runs} numbers`);
  for (const [i, t] of times.entries())
    if (typeof t !== 'number' || !Number.isFinite(t) || t < 0 || t > MAX_RUN_MS)
      throw new Error(`"times"[${i}] = ${String(t)} is not a plausible time (finite, 0 to ${MAX_RUN_MS} ms)`);
  return times as number[];
}

/** The machine part of a device's table keys: browser + version, OS, cores. */
export function deviceMachine(info: DeviceInfo): string {
  return `${info.browser}|${info.os}|${info.cores} cores`;
}

/** The backend part of a device's table keys, e.g. `web-tfjs-wasm-2t`. */
export function deviceBackend(info: Pick<DeviceInfo, 'engine' | 'backend' | 'threads'>): string {
  return `web-${info.engine}-${info.backend}-${info.threads}t`;
}
