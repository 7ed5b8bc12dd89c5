/**
 * Temporary files of atomic writes: gone after a failure, after Ctrl-C / SIGTERM, and (for a
 * process killed outright) swept at the next start; a unit of files appears in order.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initWeights, randomizeBatchNorm, type Model } from '@fastdepth/graph-dsl';
import { describe, expect, it } from 'vitest';
import { runNetAdapt } from './netadapt.js';
import { dataFreeRecovery } from './recovery.js';
import { sweepStaleTemps, writeFilesAtomicSync } from './temp-files.js';
import { tinyEncoderDecoder } from './testing/tiny-net.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'netadapt-temp-'));
const temps = (dir: string): string[] => readdirSync(dir).filter((n) => n.endsWith('.tmp'));
/** The built module (a child process of its own, to receive signals). */
const built = fileURLToPath(new URL('../dist/temp-files.js', import.meta.url));

/** A pid that was a process of ours and is not any more. */
/** The pid of a process that has exited (spawnSync returns once it has), not reused since. */
function deadPid(): number {
  for (let attempt = 0; attempt < 10; attempt++) {
    // spawnSync reports the child's pid itself: nothing depends on what the child prints.
    const { pid } = spawnSync(process.execPath, ['-e', '0']);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    try {
      process.kill(pid, 0);
    } catch {
      return pid; // ESRCH: no such process
    }
  }
  throw new Error('could not find the pid of an exited process');
}

describe('writeFilesAtomicSync', () => {
  it('writes a unit in order (weights, then the graph) and leaves no temporary file when one fails', () => {
    const dir = tmp();
    writeFilesAtomicSync([
      [join(dir, 'w.safetensors'), 'weights'],
      [join(dir, 'g.json'), 'graph'],
    ]);
    expect(readdirSync(dir).sort()).toEqual(['g.json', 'w.safetensors']);
    // A write that fails (its folder is gone): nothing of the unit lands, nothing temporary stays.
    expect(() =>
      writeFilesAtomicSync([
        [join(dir, 'w2.safetensors'), 'weights'],
        [join(dir, 'missing', 'g2.json'), 'graph'],
      ]),
    ).toThrow(/ENOENT/);
    expect(readdirSync(dir).sort()).toEqual(['g.json', 'w.safetensors']);
    // The graph's rename fails (a folder in the way): the weights are in place, the graph is
    // not, so a graph on disk always has its weights.
    mkdirSync(join(dir, 'g3.json', 'inside'), { recursive: true });
    expect(() =>
      writeFilesAtomicSync([
        [join(dir, 'w3.safetensors'), 'weights'],
        [join(dir, 'g3.json'), 'graph'],
      ]),
    ).toThrow();
    expect(readFileSync(join(dir, 'w3.safetensors'), 'utf8')).toBe('weights');
    expect(temps(dir)).toEqual([]);
  });
});

describe('signals', () => {
  const child = (script: string) => {
    const p = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      p.once('exit', (code, signal) => resolve({ code, signal })),
    );
    const ready = async (): Promise<void> => {
      while (!out.includes('ready') && p.exitCode === null) await new Promise((r) => setTimeout(r, 20));
    };
    return { p, exited, ready, out: () => out };
  };

  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    it(`${signal} removes the temporary files and ends the process by the signal`, async () => {
      const file = join(tmp(), `.x.bin.${process.pid + 1}.tmp`);
      const c = child(
        `import { writeFileSync } from 'node:fs'; const t = await import(${JSON.stringify(built)});` +
          `writeFileSync(${JSON.stringify(file)}, 'half'); t.trackTemp(${JSON.stringify(file)});` +
          `console.log('ready'); setInterval(() => {}, 1000);`,
      );
      await c.ready();
      expect(existsSync(file)).toBe(true);
      c.p.kill(signal);
      expect(await c.exited).toEqual({ code: null, signal });
      expect(existsSync(file)).toBe(false);
    });

  it('a command handling Ctrl-C itself keeps its files until it exits; then they go', async () => {
    const file = join(tmp(), 'y.bin.tmp');
    const c = child(
      `import { existsSync, writeFileSync } from 'node:fs'; const t = await import(${JSON.stringify(built)});` +
        `writeFileSync(${JSON.stringify(file)}, 'half'); t.trackTemp(${JSON.stringify(file)});` +
        `process.on('SIGINT', () => { console.log('kept ' + existsSync(${JSON.stringify(file)})); process.exit(3); });` +
        `console.log('ready'); setInterval(() => {}, 1000);`,
    );
    await c.ready();
    c.p.kill('SIGINT');
    expect(await c.exited).toEqual({ code: 3, signal: null });
    expect(c.out()).toContain('kept true');
    expect(existsSync(file)).toBe(false);
  });
});

describe('sweepStaleTemps', () => {
  it("removes the .PID.tmp files of dead processes only, and prune's resume sweeps its folder", async () => {
    const dir = tmp();
    const dead = deadPid();
    const names = [
      `.d.png.${dead}.tmp`,
      `iter-001.safetensors.${dead}.tmp`,
      `mine.${process.pid}.tmp`,
      `parent.${process.ppid}.tmp`,
      'plain.tmp',
      'notes.txt',
    ];
    for (const n of names) writeFileSync(join(dir, n), 'x');
    mkdirSync(join(dir, `folder.${dead}.tmp`));
    expect(sweepStaleTemps(dir).sort()).toEqual([`.d.png.${dead}.tmp`, `iter-001.safetensors.${dead}.tmp`]);
    expect(readdirSync(dir).sort()).toEqual(
      [
        `folder.${dead}.tmp`,
        `mine.${process.pid}.tmp`,
        'notes.txt',
        `parent.${process.ppid}.tmp`,
        'plain.tmp',
      ].sort(),
    );
    expect(sweepStaleTemps(join(dir, 'absent'))).toEqual([]);

    // A run resumed in a folder a killed run left debris in.
    const graph = tinyEncoderDecoder('relu');
    const model: Model = { graph, weights: randomizeBatchNorm(graph, initWeights(graph, 1), 2) };
    const out = tmp();
    writeFileSync(join(out, `iter-000.graph.json.${dead}.tmp`), '{"half":');
    await runNetAdapt({
      model,
      metric: 'macs',
      budget: 0.9,
      recovery: dataFreeRecovery(),
      outDir: out,
      workers: 0,
      initialReduction: 0.05,
      maxIterations: 1,
    });
    expect(temps(out)).toEqual([]);
    // Each iteration's graph has its weights beside it.
    for (const g of readdirSync(out).filter((n) => n.endsWith('.graph.json')))
      expect(existsSync(join(out, g.replace('.graph.json', '.safetensors')))).toBe(true);
  });
});
