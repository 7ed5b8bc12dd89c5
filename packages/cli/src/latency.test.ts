/**
 * Where latency is measured: the flags of prune / latency-check (checked before any work), a
 * saved device table (read only: a missing entry names the layer and grid point), a local
 * headless Chromium, and latency-server end to end with a headless Chromium tab as the device.
 */
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { GraphBuilder, saveGraph, type Graph } from '@fastdepth/graph-dsl';
import { LatencyTable, wholeNetworkKey, type LatencyRunner } from '@fastdepth/netadapt';
import { CHROMIUM, CHROMIUM_ARGS, freePort } from '@fastdepth/runtime-web/serving';
import { runCli } from './testing/run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'fastdepth-latency-'));
/** The installed command (built output), for what needs a process of its own (signals). */
const bin = fileURLToPath(new URL('../bin/fastdepth.js', import.meta.url));
let browser: Browser | undefined;
afterAll(async () => {
  await browser?.close();
});

function tinyNet(): Graph {
  const g = new GraphBuilder('tiny-lat');
  const x = g.input('input', [1, 3, 32, 32]);
  const c0 = g.relu6(
    'conv0_relu',
    g.batchNorm('conv0_bn', g.conv2d('conv0', x, { outChannels: 16, kernel: 3, stride: 2, pads: 1 })),
  );
  const c1 = g.relu6(
    'conv1_relu',
    g.batchNorm('conv1_bn', g.conv2d('conv1', c0, { outChannels: 24, kernel: 1 })),
  );
  const head = g.relu(
    'head_relu',
    g.batchNorm('head_bn', g.conv2d('head', g.upsample('up', c1, 'nearest'), { outChannels: 1, kernel: 1 })),
  );
  g.output('depth', head);
  return g.build();
}
const graph = tinyNet();
const graphFile = join(dir, 'tiny-lat.json');
writeFileSync(graphFile, saveGraph(graph));

/** A table as a device would have saved it, holding only the network's own widths. */
async function savedTable(name: string, machine = 'Fake 1|Test OS|2 cores'): Promise<string> {
  const file = join(dir, name);
  const runner: LatencyRunner = {
    backend: 'web-tfjs-wasm-1t',
    machine,
    measure: (model) => Promise.resolve(model.graph.nodes.length),
  };
  const table = new LatencyTable(runner, { cacheFile: file, step: 8 });
  await table.estimate(graph);
  table.setMeta(wholeNetworkKey(graph), 20);
  table.save();
  return file;
}

const failsWith = async (args: string[], message: string | RegExp): Promise<void> => {
  const r = await runCli(...args);
  expect(r.code, r.stderr).toBe(1);
  expect(r.stderr.split('\n').filter((l) => l !== '')).toHaveLength(1);
  expect(r.stderr).toMatch(message);
};

describe('latency flags are checked before any work', () => {
  const prune = ['prune', '--arch', graphFile, '--budget', '0.8', '--out', join(dir, 'never')];
  it('--latency-on', async () => {
    await failsWith(
      [...prune, '--metric', 'latency', '--latency-on', 'firefox'],
      /--latency-on must be node or chromium\[:THREADS/,
    );
    await failsWith(
      [...prune, '--metric', 'latency', '--latency-on', 'chromium:0'],
      /--latency-on threads must be an integer from 1 to 64, found "0"/,
    );
    await failsWith(
      [...prune, '--metric', 'latency', '--latency-on', 'chromium:two'],
      /--latency-on threads must be an integer/,
    );
    await failsWith(
      [...prune, '--metric', 'latency', '--latency-on', 'chromium:1:tpu'],
      /backend must be one of wasm, webgl, webgpu, found "tpu"/,
    );
    await failsWith(
      [...prune, '--metric', 'latency', '--latency-on', 'chromium:2:webgl'],
      /threads apply to wasm only/,
    );
    await failsWith(
      [...prune, '--metric', 'latency', '--backend', 'onnx', '--latency-on', 'chromium:1:webgl'],
      /onnxruntime-web on wasm or webgpu, not webgl/,
    );
    await failsWith([...prune, '--metric', 'latency', '--latency-on', 'node:2'], /node takes no threads/);
    await failsWith([...prune, '--metric', 'macs', '--latency-on', 'chromium:2'], /need --metric latency/);
    await failsWith(
      [...prune, '--metric', 'latency', '--latency-on', 'chromium', '--latency-table', 'x.json'],
      /give one/,
    );
  });

  it('--latency-table: missing, not a table, several devices in one file', async () => {
    await failsWith(
      [...prune, '--metric', 'latency', '--latency-table', join(dir, 'nope.json')],
      /nope\.json": no such file/,
    );
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"v3|a": "x"}');
    await failsWith(
      [...prune, '--metric', 'latency', '--latency-table', bad],
      /entry "v3\|a" is not a v3 latency entry/,
    );
    // A table measured before the protocol (one timing per entry) is not reused silently.
    writeFileSync(bad, '{"v2|cpu|2 cores|node 22|web-tfjs-wasm-1t|conv2d:x|8x8": 1}');
    await failsWith(
      [...prune, '--metric', 'latency', '--latency-table', bad],
      /measured before the contention protocol .* measure it again/,
    );
    writeFileSync(bad, '[1]');
    await failsWith(
      [...prune, '--metric', 'latency', '--latency-table', bad],
      /not a latency table \(not a JSON object\)/,
    );
    const a = JSON.parse(readFileSync(await savedTable('a.json'), 'utf8')) as object;
    const b = JSON.parse(
      readFileSync(await savedTable('b.json', 'Fake 2|Test OS|8 cores'), 'utf8'),
    ) as object;
    writeFileSync(bad, JSON.stringify({ ...a, ...b }));
    await failsWith([...prune, '--metric', 'latency', '--latency-table', bad], /mixes devices or runtimes/);
  });

  it('--fresh-latency, --backend wasm-engine / cost-model: where they apply', async () => {
    await failsWith(
      [...prune, '--metric', 'latency', '--fresh-latency', '--latency-table', join(dir, 'x.json')],
      /--fresh-latency drops a cached table .* read only/,
    );
    await failsWith(
      [...prune, '--metric', 'latency', '--backend', 'wasm-engine', '--latency-on', 'chromium:2'],
      /--backend wasm-engine runs in Node/,
    );
    await failsWith(
      [...prune, '--metric', 'latency', '--backend', 'cost-model', '--latency-on', 'chromium'],
      /--backend cost-model runs in Node/,
    );
  });

  it('latency clear removes the cached tables, and says so when there are none', async () => {
    // A table in the cache (the deterministic cost model: nothing is timed).
    const first = await runCli('latency-check', '--arch', graphFile, '--backend', 'cost-model', '--json');
    expect(first.code, first.stderr).toBe(0);
    const cleared = await runCli('latency', 'clear', '--json');
    expect(cleared.code).toBe(0);
    const { removed, looked } = JSON.parse(cleared.stdout) as { removed: string[]; looked: string[] };
    expect(removed).toContain(looked[0]);
    expect(looked[0]).toMatch(/node_modules\/\.cache\/fastdepth\/latency\/latency\.json$/);
    for (const file of looked) expect(existsSync(file)).toBe(false);
    const again = await runCli('latency', 'clear');
    expect(again.stdout).toMatch(/^no cached latency table/);
    // --fresh-latency does the same before measuring.
    const fresh = await runCli(
      'latency-check',
      '--arch',
      graphFile,
      '--backend',
      'cost-model',
      '--fresh-latency',
    );
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(fresh.stderr).toMatch(/--fresh-latency: (removed|no cached table)/);
    expect(fresh.stdout).toMatch(/table measured with: rounds\+probe\/1, 5 rounds/);
  });

  it('latency-server options', async () => {
    await failsWith(['latency-server', '--port', '0'], /--port must be an integer from 1 to 65535/);
    await failsWith(['latency-server', '--min-fraction', '1.5'], /--min-fraction must be a fraction/);
    await failsWith(['latency-server', '--host', 'a b'], /--host must be a host name/);
    await failsWith(['latency-server', '--max-devices', '0'], /--max-devices must be an integer from 1/);
    // An --out that cannot hold the tables fails before the network is even loaded.
    const file = join(dir, 'not-a-folder');
    writeFileSync(file, '');
    await failsWith(
      ['latency-server', '--arch', 'no-such-arch', '--out', join(file, 'tables')],
      `--out: cannot write output folder "${join(file, 'tables')}": a part of the path is a file, not a folder`,
    );
  });

  it('latency-server: --out through a symbolic link is reported; it listens on 127.0.0.1; one Ctrl-C stops it', async () => {
    const real = join(dir, 'real-tables');
    mkdirSync(real);
    symlinkSync(real, join(dir, 'linked-tables'));
    const port = await freePort('127.0.0.1');
    const child = spawn(
      process.execPath,
      [
        bin,
        'latency-server',
        '--arch',
        graphFile,
        '--port',
        String(port),
        '--no-qr',
        '--out',
        join(dir, 'linked-tables'),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    while (!stdout.includes('Ctrl-C stops') && child.exitCode === null)
      await new Promise((r) => setTimeout(r, 200));
    expect(stdout).toContain(`open on each device: http://127.0.0.1:${port}/`);
    expect(stderr).toContain(
      `--out "${join(dir, 'linked-tables')}" is reached through a symbolic link: writing to "${realpathSync(real)}"`,
    );
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow();
  });
});

describe('a saved device table', () => {
  it('latency-check reads the estimate and the whole-network time the device measured', async () => {
    const file = await savedTable('device.json');
    const r = await runCli('latency-check', '--arch', graphFile, '--latency-table', file, '--json');
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as {
      measuredMs: number;
      estimatedMs: number;
      runtime: string;
      source: string;
    };
    expect(report.measuredMs).toBe(20);
    expect(report.estimatedMs).toBeGreaterThan(0);
    expect(report.runtime).toContain('web-tfjs-wasm-1t on Fake 1|Test OS|2 cores');
    expect(report.source).toBe('timed whole on the device by latency-server');
  });

  it('prune stops at the first grid point the table lacks, naming the layer and the point', async () => {
    const file = await savedTable('device-prune.json');
    const args = [
      'prune',
      '--arch',
      graphFile,
      '--metric',
      'latency',
      '--budget',
      '0.5',
      '--latency-table',
      file,
    ];
    const r = await runCli(...args, '--out', join(dir, 'p'));
    // Notes (seeded weights, data-free) come first; then one error line, no stack trace.
    expect(r.code, r.stderr).toBe(1);
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    expect(lines.filter((l) => l.startsWith('fastdepth: '))).toHaveLength(1);
    expect(lines.at(-1)).toMatch(
      /^fastdepth: error: --latency-table ".*device-prune\.json" has no entry for layer "conv\d" at \d+ in x \d+ out channels \(conv2d:/,
    );
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });
});

describe('measured in Chromium', () => {
  it('latency-check --latency-on chromium:2: estimate beside the whole network, same tab', async () => {
    const r = await runCli(
      'latency-check',
      '--arch',
      graphFile,
      '--latency-on',
      'chromium:2',
      '--runs',
      '3',
      '--allow-noisy',
      '--json',
    );
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { measuredMs: number; estimatedMs: number; runtime: string };
    expect(report.runtime).toMatch(/^web-tfjs-wasm-2t on Chromium \d+ headless\|Linux/);
    expect(report.measuredMs).toBeGreaterThan(0);
    expect(Number.isFinite(report.estimatedMs)).toBe(true);
  });

  it('latency-server: a Chromium tab registers, measures the plan; the table it saves feeds latency-check', async () => {
    const port = await freePort('127.0.0.1');
    const out = join(dir, 'tables');
    const served = runCli(
      'latency-server',
      '--arch',
      graphFile,
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--step',
      '8',
      '--min-fraction',
      '0.5',
      '--runs',
      '2',
      '--warmup',
      '1',
      '--out',
      out,
      '--no-qr',
      '--exit-after',
      '1',
    );
    browser = await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, '--disable-gpu'] });
    const page = await browser.newPage();
    // The server needs a moment to start; the page retries.
    for (let i = 0; ; i++) {
      try {
        await page.goto(`http://127.0.0.1:${port}/?threads=1`);
        break;
      } catch (e) {
        if (i > 60) throw e;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    const r = await served;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`open on each device: http://127.0.0.1:${port}/`);
    expect(r.stderr).toMatch(
      /device [0-9a-f]{12}-tfjs-wasm-1t registered: Chromium \d+ headless, Linux \S+, \d+ cores; tfjs wasm, 1 thread/,
    );
    expect(r.stderr).toMatch(/device \S+: done, table /);
    const [table] = readdirSync(out);
    const check = await runCli(
      'latency-check',
      '--arch',
      graphFile,
      '--latency-table',
      join(out, table!),
      '--json',
    );
    expect(check.code, check.stderr).toBe(0);
    const report = JSON.parse(check.stdout) as { measuredMs: number; estimatedMs: number };
    expect(report.measuredMs).toBeGreaterThan(0);
    expect(report.estimatedMs).toBeGreaterThan(0);
  });
});
