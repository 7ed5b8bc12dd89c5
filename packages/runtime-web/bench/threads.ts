/**
 * Thread scaling of the wasm engine in headless Chromium: `estimate()` end to end (a 224x224 RGBA
 * image in, preprocessing and read-back included) at 1 and 2 threads, for this version (runtime
 * and module) beside a baseline (`--baseline-src DIR`: a runtime-web `src/` of an earlier
 * commit, `--baseline-wasm DIR`: the wasm artifact folder that version compiled), in one page:
 * rounds interleaved, the order of the configurations shuffled each round, medians. The machine
 * may be shared: read the ratios.
 *
 *   tsx --conditions=@fastdepth/source bench/threads.ts [--rounds=40] [--baseline-src=DIR --baseline-wasm=DIR]
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { WasmManifest } from '../src/index.js';
import { GENERATED_DIR } from '../src/testing/models.js';
import { benchModels, startBenchBrowser } from './common.js';

const arg = (name: string, fallback: string): string =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const ROUNDS = Number(arg('rounds', '40'));
const WARMUP = Number(arg('warmup', '5'));
const BASE_SRC = arg('baseline-src', '');
const BASE_WASM = arg('baseline-wasm', '');
const ARCH = 'fastdepth-pruned';

const models = benchModels([ARCH], { wasm: true });
const runtimeNow = join(import.meta.dirname, '..', 'src', 'index.ts');
const configs: { label: string; runtime: string; manifest: string; threads: number }[] = [];
for (const threads of [1, 2])
  configs.push({
    label: 'this version',
    runtime: `/@fs${runtimeNow}`,
    manifest: `/bench-models/wasm/${models[ARCH].name}.wasm-manifest.json`,
    threads,
  });
if (BASE_SRC !== '' && BASE_WASM !== '') {
  // The baseline artifact beside this version's, its files renamed so neither overwrites the other.
  const dir = join(GENERATED_DIR, 'bench', 'wasm');
  mkdirSync(dir, { recursive: true });
  const manifest = JSON.parse(
    readFileSync(join(BASE_WASM, `${ARCH}.wasm-manifest.json`), 'utf8'),
  ) as WasmManifest;
  const renamed = (file: string): string => `baseline-${file}`;
  for (const file of [...Object.values(manifest.modules), manifest.weightsFile])
    copyFileSync(join(BASE_WASM, file), join(dir, renamed(file)));
  writeFileSync(
    join(dir, `baseline-${ARCH}.wasm-manifest.json`),
    JSON.stringify({
      ...manifest,
      modules: Object.fromEntries(Object.entries(manifest.modules).map(([k, v]) => [k, renamed(v)])),
      weightsFile: renamed(manifest.weightsFile),
    }),
  );
  for (const threads of [1, 2])
    configs.push({
      label: 'baseline',
      runtime: `/@fs${join(BASE_SRC, 'index.ts')}`,
      manifest: `/bench-models/wasm/baseline-${ARCH}.wasm-manifest.json`,
      threads,
    });
}

/** Runs in the page: one estimator per configuration, then the interleaved rounds. */
const PAGE_BENCH = `async ({ configs, rounds, warmup }) => {
  const estimators = [];
  for (const c of configs) {
    const rt = await import(c.runtime);
    estimators.push(
      await rt.createDepthEstimator({ model: { engine: 'wasm', model: { manifestUrl: c.manifest } }, numThreads: c.threads }),
    );
  }
  const e0 = estimators[0];
  const image = {
    data: new Uint8ClampedArray(e0.width * e0.height * 4).map((_, i) => (i * 37) % 251),
    width: e0.width,
    height: e0.height,
  };
  const times = configs.map(() => []);
  for (let r = 0; r < warmup + rounds; r++) {
    const order = configs.map((_, i) => i).sort(() => Math.random() - 0.5);
    for (const i of order) {
      const t = (await estimators[i].estimate(image)).latencyMs;
      if (r >= warmup) times[i].push(t);
    }
  }
  const med = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
  };
  for (const e of estimators) await e.dispose();
  return { medians: times.map(med), mins: times.map((t) => Math.min(...t)), threads: estimators.map((e) => e.threads) };
}`;

const b = await startBenchBrowser();
if (!b.isolated) throw new Error('the bench page is not cross-origin isolated: no threads');
const load0 = loadavg()[0]!;
const page = await b.browser.newPage();
let result: { medians: number[]; mins: number[]; threads: number[] };
try {
  await page.goto(`${b.server.url}bench.html`);
  await page.waitForFunction(() => document.getElementById('state')?.textContent === 'ready');
  // Page-side code as text: tsx would wrap a function given here in helpers the page lacks.
  result = await page.evaluate<typeof result>(
    `(${PAGE_BENCH})(${JSON.stringify({ configs, rounds: ROUNDS, warmup: WARMUP })})`,
  );
} finally {
  await page.close();
  await b.close();
}
const load1 = loadavg()[0]!;
console.log(
  `\n${ARCH} 224x224 in headless Chromium, estimate() end to end, ${ROUNDS} interleaved rounds (+${WARMUP} warm-up), load average ${load0.toFixed(2)} -> ${load1.toFixed(2)}\n`,
);
console.log('| build | threads (in use) | median ms | min ms | speed-up 1 -> 2 (median) |');
console.log('|---|---|---|---|---|');
configs.forEach((c, i) => {
  const one = configs.findIndex((d) => d.label === c.label && d.threads === 1);
  console.log(
    `| ${c.label} | ${c.threads} (${result.threads[i]}) | ${result.medians[i]!.toFixed(2)} | ${result.mins[i]!.toFixed(2)} | ${(result.medians[one]! / result.medians[i]!).toFixed(2)}x |`,
  );
});
