/**
 * `fastdepth latency-server`: any browser as NetAdapt's measurement device. Serves a page
 * (URL and QR code printed); every device that opens it registers (browser, OS, cores, engine,
 * backend, threads), measures the grid points a NetAdapt run on the given network can ask for,
 * then the network whole, and sends each result back; results are validated before they enter
 * the device's own table (`OUT/<device>.json`, the latency cache format), saved as they come,
 * so a closed tab loses nothing and a returning one (its id is in localStorage) continues.
 * `fastdepth prune --latency-table OUT/<device>.json` prunes for that device.
 */
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import QRCode from 'qrcode';
import { UserError } from '../errors.js';
import { checkOutputDir, linkedFolderNote, parseInteger, parseInputSize, SEED_MAX } from '../options.js';
import type { Output } from '../output.js';
import { loadModel } from '../weights-source.js';

export interface LatencyServerOptions {
  readonly arch?: string;
  readonly weights?: string;
  readonly inputSize?: string;
  readonly seed: string;
  readonly port: string;
  readonly host: string;
  readonly step: string;
  readonly minFraction: string;
  readonly runs: string;
  readonly warmup: string;
  readonly out: string;
  readonly qr?: boolean;
  readonly exitAfter?: string;
  readonly maxDevices: string;
}

/** The URLs a device on the network can open. */
function urls(host: string, port: number): string[] {
  if (host !== '0.0.0.0') return [`http://${host}:${port}/`];
  const lan = Object.values(networkInterfaces())
    .flat()
    .filter((a) => a !== undefined && a.family === 'IPv4' && !a.internal)
    .map((a) => `http://${a!.address}:${port}/`);
  return [...lan, `http://127.0.0.1:${port}/`];
}

export async function latencyServerCommand(out: Output, options: LatencyServerOptions): Promise<void> {
  const port = parseInteger('--port', options.port, 1, 65535);
  const step = parseInteger('--step', options.step, 1, 1024);
  const runs = parseInteger('--runs', options.runs, 1, 100);
  const warmup = parseInteger('--warmup', options.warmup, 0, 100);
  const seed = parseInteger('--seed', options.seed, 0, SEED_MAX);
  const exitAfter =
    options.exitAfter === undefined ? undefined : parseInteger('--exit-after', options.exitAfter, 1, 1000);
  const minFraction = Number(options.minFraction);
  if (!(minFraction > 0 && minFraction <= 1))
    throw new UserError(`--min-fraction must be a fraction in (0, 1], found "${options.minFraction}"`);
  if (!/^[A-Za-z0-9.:-]+$/.test(options.host))
    throw new UserError(`--host must be a host name or address, found "${options.host}"`);
  const maxDevices = parseInteger('--max-devices', options.maxDevices, 1, 1000);
  // Before any work: a folder the tables cannot go to would lose every result.
  const tableDir = await checkOutputDir(options.out, '--out');
  const linked = linkedFolderNote('--out', options.out, tableDir);
  if (linked !== undefined) out.note(linked);
  const { model, stem } = await loadModel({
    arch: options.arch ?? (options.weights === undefined ? 'fastdepth' : undefined),
    ...(options.weights !== undefined ? { weights: options.weights } : {}),
    ...(options.inputSize !== undefined ? { inputSize: parseInputSize(options.inputSize) } : {}),
    seed,
  });
  const browser = await import('@fastdepth/latency/browser');
  const plan = browser.latencyPlan(model.graph, step, minFraction);
  const tty = process.stderr.isTTY;
  const multibar = tty
    ? new MultiBar(
        { format: ' {device} [{bar}] {value}/{total} {state}', hideCursor: true, clearOnComplete: false },
        Presets.shades_classic,
      )
    : undefined;
  const bars = new Map<string, SingleBar>();
  const lastLogged = new Map<string, number>();
  const note = (text: string): void => (multibar ? multibar.log(`${text}\n`) : out.note(text));
  let finished = 0;
  let stop: (() => void) | undefined;
  const stopped = new Promise<void>((r) => (stop = r));
  let server: Awaited<ReturnType<typeof browser.startDeviceServer>>;
  try {
    server = await browser.startDeviceServer({
      host: options.host,
      port,
      runs,
      warmup,
      tableDir,
      maxDevices,
      table: { step },
      plan,
      wholes: [model.graph],
      onEvent: (e) => {
        const short = e.device;
        if (e.kind === 'registered' || e.kind === 'returned') {
          const i = e.info!;
          note(
            `device ${short} ${e.kind === 'returned' ? 'is back' : 'registered'}: ${i.browser}, ${i.os}, ${i.cores} cores; ${i.engine} ${i.backend}, ${i.threads} thread(s)` +
              (i.isolated
                ? ''
                : ' (not cross-origin isolated: one thread; open it over https or localhost for more)') +
              `; table ${join(tableDir, `${short}.json`)}`,
          );
        } else if (e.kind === 'measured' && e.progress?.total !== undefined) {
          const { done, total } = e.progress;
          if (multibar) {
            const bar = bars.get(short) ?? multibar.create(total, 0, { device: short, state: '' });
            bars.set(short, bar);
            bar.update(done, { state: 'measuring' });
          } else if (done - (lastLogged.get(short) ?? 0) >= Math.max(1, Math.round(total / 20))) {
            lastLogged.set(short, done);
            out.note(`device ${short}: ${done}/${total} (${Math.round((100 * done) / total)} %)`);
          }
        } else if (e.kind === 'rejected') {
          note(`device ${short}: result rejected: ${e.message ?? ''}`);
        } else if (e.kind === 'done') {
          bars.get(short)?.update(e.progress?.total ?? 0, { state: 'done' });
          note(`device ${short}: done, table ${join(tableDir, `${short}.json`)}`);
          finished++;
          if (exitAfter !== undefined && finished >= exitAfter) stop?.();
        }
      },
    });
  } catch (e) {
    multibar?.stop();
    const message = (e as Error).message;
    if (/EADDRINUSE|already in use/i.test(message))
      throw new UserError(`--port ${port} is in use: choose another`);
    throw new UserError(`latency-server: cannot serve on ${options.host}:${port}: ${message}`);
  }
  const addresses = urls(options.host, port);
  out.line(
    `${stem}: ${plan.length} grid points (step ${step}, down to ${minFraction} of each width) + calibration + the network whole, ${runs} runs each after ${warmup} warm-up`,
  );
  out.line(`open on each device: ${addresses.join('  ')}`);
  if (/^(127\.|localhost$|::1$)/.test(options.host))
    out.line('  (this machine only: --host 0.0.0.0 lets devices on the network in)');
  out.line(
    '  (add ?threads=N&backend=wasm|webgl|webgpu&engine=tfjs|onnx to choose; tables go to ' + tableDir + ')',
  );
  if (options.qr !== false) out.line(await QRCode.toString(addresses[0]!, { type: 'terminal', small: true }));
  out.line('Ctrl-C stops (measured entries are saved as they arrive)');
  const gone = new Set<string>();
  const watch = setInterval(() => {
    for (const d of server.status()) {
      if (d.gone && !gone.has(d.id) && d.progress.done !== d.progress.total) {
        gone.add(d.id);
        note(
          `device ${d.id} stopped answering at ${d.progress.done}/${d.progress.total ?? '?'}: its work waits; open the page again on it to continue`,
        );
      } else if (!d.gone) gone.delete(d.id);
    }
  }, 5000);
  // One Ctrl-C closes the server (tables saved) and returns; the handlers are gone by then, so
  // a second one during the close ends the process at once.
  const onInterrupt = (): void => stop?.();
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onInterrupt);
  try {
    await stopped;
  } finally {
    clearInterval(watch);
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onInterrupt);
    multibar?.stop();
  }
  try {
    await server.close();
  } catch (e) {
    throw new UserError(`latency-server: stopped, but ${(e as Error).message}`);
  }
  for (const d of server.status())
    out.line(
      `${d.id}: ${d.entries} entries, ${d.progress.done}/${d.progress.total ?? '?'} (${d.table} on ${d.machine})`,
    );
}
