/**
 * The local browser as NetAdapt's measurement device: a device server plus Debian's chromium
 * driven headless through playwright-core, one tab registered as the device. The tab is cross-
 * origin isolated (COOP/COEP), so tfjs-wasm and onnxruntime-web run the threads asked for.
 */
import { chromium, type Browser } from 'playwright-core';
import { existsSync } from 'node:fs';
import { CHROMIUM, CHROMIUM_ARGS } from '@fastdepth/runtime-web/serving';
import type { LatencyRunner } from '../table.js';
import type { PageBackend, PageEngine } from './protocol.js';
import { newDeviceId, startDeviceServer, type Device, type DeviceServer } from './server.js';

export interface ChromiumRunnerOptions {
  /** wasm threads (default 1). */
  readonly threads?: number;
  readonly engine?: PageEngine;
  readonly backend?: PageBackend;
  readonly runs?: number;
  readonly warmup?: number;
  /** A job not answered within this is an error (a crashed tab); default 10 minutes. */
  readonly timeoutMs?: number;
  /** The browser executable; default Debian's `/usr/bin/chromium`. */
  readonly executablePath?: string;
}

/** A LatencyRunner backed by a headless Chromium tab; `close()` ends the browser and server. */
export interface BrowserRunner extends LatencyRunner {
  readonly machine: string;
  readonly device: Device;
  readonly server: DeviceServer;
  close(): Promise<void>;
}

/** Starts Chromium and its device server; resolves once the tab has registered. */
export async function chromiumRunner(options: ChromiumRunnerOptions = {}): Promise<BrowserRunner> {
  const executablePath = options.executablePath ?? CHROMIUM;
  if (!existsSync(executablePath))
    throw new Error(`${executablePath} is missing: install chromium (Debian: apt-get install chromium)`);
  const engine = options.engine ?? 'tfjs';
  const backend = options.backend ?? 'wasm';
  const threads = options.threads ?? 1;
  const server = await startDeviceServer({
    tableDir: false,
    ...(options.runs !== undefined ? { runs: options.runs } : {}),
    ...(options.warmup !== undefined ? { warmup: options.warmup } : {}),
  });
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({
      executablePath,
      // wasm on the CPU: no GPU process. webgl/webgpu keep it (SwiftShader where there is no GPU).
      args: [...CHROMIUM_ARGS, ...(backend === 'wasm' || backend === 'cpu' ? ['--disable-gpu'] : [])],
    });
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const base = newDeviceId('chromium');
    const query = new URLSearchParams({ engine, backend, threads: String(threads), device: base });
    const registered = server.waitForDevice(base, 180_000);
    await page.goto(`${server.url}?${query.toString()}`);
    const failed = page
      .waitForFunction("document.getElementById('state')?.textContent === 'stopped'", undefined, {
        timeout: 0,
      })
      .then(async () => {
        throw new Error(
          `the measurement page stopped: ${(await page.textContent('#error')) ?? errors.join('; ')}`,
        );
      });
    const device = await Promise.race([registered, failed]);
    if (device.info.threads !== threads)
      throw new Error(
        `Chromium runs ${backend} on ${device.info.threads} thread(s), not ${threads} (cross-origin isolated: ${device.info.isolated})`,
      );
    const timeoutMs = options.timeoutMs ?? 600_000;
    const opened = browser;
    return {
      backend: device.runner.backend,
      machine: device.runner.machine!,
      device,
      server,
      async measure(model) {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            const error = new Error(`Chromium did not time ${model.graph.name} within ${timeoutMs / 1000} s`);
            device.abort(error);
            reject(error);
          }, timeoutMs);
        });
        try {
          return await Promise.race([device.measure(model), timeout, failed]);
        } finally {
          clearTimeout(timer);
        }
      },
      async close() {
        await opened.close();
        await server.close();
      },
    };
  } catch (error) {
    await browser?.close();
    await server.close();
    throw error;
  }
}
