/**
 * The measurement page: registers this tab as a device, then asks the server for models, times
 * each with `@fastdepth/runtime-web`'s `timeModel` and posts the times back. Query parameters:
 * `engine` (tfjs | onnx, default tfjs), `backend` (wasm | webgl | webgpu | cpu, default wasm),
 * `threads` (wasm threads; default: half the cores, at most 4, when cross-origin isolated, else
 * 1), `device` (an id; default the one kept in localStorage, so a returning device continues).
 */
import {
  prepareTimingBackend,
  timeModel,
  type TfjsModelModule,
  type WeightsManifestLike,
} from '@fastdepth/runtime-web';
// onnxruntime-web for the onnx jobs (runtime-web's main entry does not carry it).
import '@fastdepth/runtime-web/onnx';
import type { JobReply, PageBackend, PageEngine, Progress } from '../src/browser/protocol.js';

const WASM_PATHS = { tfjs: '/wasm/tfjs/', onnx: '/wasm/ort/' };
const $ = (id: string): HTMLElement => document.getElementById(id)!;

function show(state: string, progress?: Progress, label?: string): void {
  $('state').textContent = state;
  if (label !== undefined) $('label').textContent = label;
  if (progress) {
    const bar = $('progress') as HTMLProgressElement;
    if (progress.total === undefined) {
      bar.removeAttribute('value');
      $('count').textContent = `${progress.done} measured`;
    } else {
      bar.max = progress.total;
      bar.value = progress.done;
      $('count').textContent = `${progress.done} / ${progress.total}`;
    }
  }
}

interface BrandsLike {
  readonly brands?: readonly { brand: string; version: string }[];
  readonly platform?: string;
}

/** Browser + major version and OS, from UA client hints where there are, else the UA string. */
function describeBrowser(): { browser: string; os: string } {
  const ua = navigator.userAgent;
  const hints = (navigator as { userAgentData?: BrandsLike }).userAgentData;
  const brand = hints?.brands?.find((b) => !/not.?a.?brand/i.test(b.brand) && b.brand !== 'Chromium');
  const chromium = hints?.brands?.find((b) => b.brand === 'Chromium');
  const pick = brand ?? chromium;
  const headless = /HeadlessChrome/.test(ua) ? ' headless' : '';
  let browser: string;
  if (pick) browser = `${pick.brand} ${pick.version}${headless}`;
  else {
    const m =
      /(Firefox|Edg|OPR|SamsungBrowser)\/(\d+)/.exec(ua) ??
      /(HeadlessChrome|Chrome|CriOS)\/(\d+)/.exec(ua) ??
      /Version\/(\d+).*(Safari)/.exec(ua);
    browser = m ? (m[2] === 'Safari' ? `Safari ${m[1]}` : `${m[1]} ${m[2]}`) : 'unknown browser';
  }
  const os =
    /Android [\d.]+/.exec(ua)?.[0] ??
    /(iPhone|iPad).*OS ([\d_]+)/.exec(ua)?.slice(1).join(' ').replace(/_/g, '.') ??
    /Mac OS X [\d_]+/.exec(ua)?.[0].replace(/_/g, '.') ??
    /Windows NT [\d.]+/.exec(ua)?.[0] ??
    /Linux [\w]+/.exec(ua)?.[0] ??
    hints?.platform ??
    'unknown OS';
  return { browser: browser.replace(/[|]/g, '/').slice(0, 80), os: os.replace(/[|]/g, '/').slice(0, 80) };
}

function deviceId(suffix: string): string {
  const given = new URLSearchParams(location.search).get('device');
  if (given) return given;
  let id = localStorage.getItem('fastdepth-latency-device');
  if (id === null) {
    // crypto.randomUUID needs a secure context, which a phone on http://LAN-IP is not.
    id = Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(16).padStart(2, '0')).join(
      '',
    );
    localStorage.setItem('fastdepth-latency-device', id);
  }
  return `${id}-${suffix}`;
}

/** The token the server gave this device (kept beside its id, so a returning tab continues). */
let token: string | null = null;

async function api<T>(path: string, body?: unknown): Promise<T> {
  const response = await fetch(path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      'Content-Type': 'application/json',
      ...(token === null ? {} : { 'X-Fastdepth-Token': token }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await response.json()) as T & { error?: string };
  if (!response.ok) throw new Error(json.error ?? `HTTP ${response.status}`);
  return json;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const engine = (params.get('engine') ?? 'tfjs') as PageEngine;
  const backend = (params.get('backend') ?? 'wasm') as PageBackend;
  const cores = navigator.hardwareConcurrency || 1;
  const isolated = globalThis.crossOriginIsolated;
  const asked = Number(params.get('threads') ?? (isolated ? Math.min(4, Math.max(1, cores >> 1)) : 1));
  if (!Number.isInteger(asked) || asked < 1)
    throw new Error(`?threads= must be a whole number >= 1, found "${params.get('threads') ?? ''}"`);
  show('starting the backend');
  const ready = await prepareTimingBackend(engine, backend, asked, WASM_PATHS);
  const id = deviceId(`${engine}-${backend}-${ready.threads}t`);
  $('device').textContent = id;
  const info = {
    ...describeBrowser(),
    cores,
    engine,
    backend: ready.backend,
    threads: ready.threads,
    isolated,
  };
  const tokenKey = `fastdepth-latency-token:${id}`;
  token = localStorage.getItem(tokenKey);
  const register = async (): Promise<{ table: string; progress: Progress }> => {
    const reply = await api<{ token: string; table: string; progress: Progress }>('/api/register', {
      device: id,
      ...info,
    });
    token = reply.token;
    localStorage.setItem(tokenKey, token);
    return reply;
  };
  const registered = await register();
  show(`registered as ${registered.table}`, registered.progress);
  document.title = `latency: ${registered.table}`;
  for (;;) {
    let reply: JobReply;
    try {
      reply = await api<JobReply>(`/api/job?device=${encodeURIComponent(id)}`);
    } catch (error) {
      // A restarted server forgot this device: register again (its table is on disk).
      if ((error as Error).message.includes('is not registered')) await register().catch(() => undefined);
      show(`server unreachable (${(error as Error).message}), retrying`);
      await sleep(3000);
      continue;
    }
    if (reply.state === 'done') {
      show('done: this device measured everything asked; you may close the tab', reply.progress, '-');
      return;
    }
    if (reply.state === 'idle') {
      show('waiting for work', reply.progress, '-');
      continue;
    }
    const { job } = reply;
    show('measuring', reply.progress, job.label);
    let times: number[];
    if (job.engine === 'tfjs') {
      const module = (await import(/* @vite-ignore */ job.files.module!)) as TfjsModelModule;
      const [manifest, weights] = await Promise.all([
        fetch(job.files.manifest!).then((r) => r.json() as Promise<WeightsManifestLike>),
        fetch(job.files.weights!).then((r) => r.arrayBuffer()),
      ]);
      times = (
        await timeModel(
          { engine: 'tfjs', module, manifest, weights },
          {
            backend,
            numThreads: ready.threads,
            wasmPaths: WASM_PATHS,
            inputShape: job.inputShape,
            warmup: job.warmup,
            runs: job.runs,
          },
        )
      ).times;
    } else {
      const model = new Uint8Array(await (await fetch(job.files.model!)).arrayBuffer());
      times = (
        await timeModel(
          { engine: 'onnx', model },
          {
            backend,
            numThreads: ready.threads,
            wasmPaths: WASM_PATHS,
            inputShape: job.inputShape,
            warmup: job.warmup,
            runs: job.runs,
          },
        )
      ).times;
    }
    await api('/api/result', {
      device: id,
      job: job.id,
      times,
      backend: ready.backend,
      threads: ready.threads,
    });
  }
}

main().catch((error: unknown) => {
  $('error').textContent = `error: ${(error as Error).message}`;
  show('stopped');
});
