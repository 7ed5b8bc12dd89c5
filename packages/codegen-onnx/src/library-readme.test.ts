/**
 * Runs graph-dsl's README section "Using it from your own project" as a user would: packs
 * graph-dsl and codegen-onnx with `npm pack`, installs the tarballs into a fresh project, compiles
 * the README's `mynet.ts` with the README's tsconfig (`skipLibCheck: false`) and runs it.
 *
 * Offline by construction: every npm call gets `--offline`, so npm can only use its cache and
 * local files, never the network. The registry packages (onnx-proto, protobufjs, @types/long,
 * onnxruntime-node, typescript, @types/node) come from this repository's node_modules through
 * `file:` links: the packed packages' own third-party dependencies through `overrides`, so
 * each is installed only because a tarball declares it, as the registry would.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { analyze, checkWeights, decodeSafetensors, loadGraph } from '@fastdepth/graph-dsl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeOnnx } from './emit.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const readme = readFileSync(join(root, 'packages', 'graph-dsl', 'README.md'), 'utf8');
const PACKED = ['graph-dsl', 'codegen-onnx'] as const;

/** The README's code block after `<!-- consumer-file: NAME -->` (or `consumer-output`). */
function block(marker: string): string {
  const at = readme.indexOf(`<!-- ${marker} -->`);
  if (at < 0) throw new Error(`graph-dsl README has no "<!-- ${marker} -->" block`);
  const m = /```\w*\n([\s\S]*?)```/.exec(readme.slice(at));
  if (!m) throw new Error(`graph-dsl README: no code block after "<!-- ${marker} -->"`);
  return m[1]!;
}

// npm variables of an enclosing `npm test` (workspace, prefix, ...) must not reach the consumer's npm.
const env: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')),
);
Object.assign(env, {
  npm_config_offline: 'true',
  npm_config_audit: 'false',
  npm_config_fund: 'false',
  npm_config_update_notifier: 'false',
  ONNXRUNTIME_NODE_INSTALL: 'skip',
});

function npm(cwd: string, ...args: string[]): string {
  return execFileSync('npm', [...args, '--offline'], {
    cwd,
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

const link = (name: string) => `file:${join(root, 'node_modules', name)}`;

let work = '';
let app = '';

beforeAll(() => {
  // The tarballs carry dist/: build it from the current sources (incremental, quick when fresh).
  execFileSync(
    process.execPath,
    [
      join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-b',
      ...PACKED.map((p) => join(root, 'packages', p, 'tsconfig.lib.json')),
    ],
    { cwd: root, stdio: 'pipe' },
  );
  work = mkdtempSync(join(tmpdir(), 'fastdepth-library-readme-'));
  const tarballs = join(work, 'tarballs');
  mkdirSync(tarballs);
  npm(root, 'pack', ...PACKED.flatMap((p) => ['-w', `@fastdepth/${p}`]), '--pack-destination', tarballs);
  app = join(work, 'mynet');
  mkdirSync(app);
  npm(app, 'init', '-y');
  npm(app, 'pkg', 'set', 'type=module');
  const thirdParty = new Set<string>();
  for (const p of PACKED) {
    const pkg = JSON.parse(readFileSync(join(root, 'packages', p, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
    };
    for (const dep of Object.keys(pkg.dependencies ?? {}))
      if (!dep.startsWith('@fastdepth/')) thirdParty.add(dep);
  }
  for (const dep of thirdParty) npm(app, 'pkg', 'set', `overrides.${dep}=${link(dep)}`);
  const tgz = readdirSync(tarballs).map((f) => join(tarballs, f));
  npm(app, 'install', '--ignore-scripts', ...tgz, link('onnxruntime-node'));
  npm(app, 'install', '--ignore-scripts', '-D', link('typescript'), link('@types/node'));
  writeFileSync(join(app, 'tsconfig.json'), block('consumer-file: tsconfig.json'));
  writeFileSync(join(app, 'mynet.ts'), block('consumer-file: mynet.ts'));
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('graph-dsl README: from an empty folder to a network compiled to ONNX', () => {
  it('installs the packed tarballs, without their tests', () => {
    for (const p of PACKED) {
      const dir = join(app, 'node_modules', '@fastdepth', p);
      // A real folder unpacked from the tarball, not a link back to the workspace.
      expect(lstatSync(dir).isDirectory()).toBe(true);
      expect(readdirSync(join(dir, 'src')).filter((f) => f.includes('.test.'))).toEqual([]);
      expect(readdirSync(join(dir, 'dist'))).toContain('index.d.ts');
    }
  });

  it('compiles mynet.ts with tsc and skipLibCheck: false', () => {
    const tsconfig = JSON.parse(readFileSync(join(app, 'tsconfig.json'), 'utf8')) as {
      compilerOptions: Record<string, unknown>;
    };
    expect(tsconfig.compilerOptions.skipLibCheck).toBe(false);
    const r = spawnSync(process.execPath, [join(app, 'node_modules', 'typescript', 'bin', 'tsc')], {
      cwd: app,
      encoding: 'utf8',
    });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('runs and prints what the README shows, onnxruntime matching the reference', () => {
    // A user's shell: no colour variables (CI sets FORCE_COLOR, vitest NO_COLOR; Node warns about the pair).
    const env = { ...process.env };
    delete env['FORCE_COLOR'];
    delete env['NO_COLOR'];
    const r = spawnSync(process.execPath, ['dist/mynet.js'], { cwd: app, encoding: 'utf8', env });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    const shown = block('consumer-output').trimEnd().split('\n');
    // The layer table and totals exactly; the parity line by its figure.
    expect(lines.slice(0, -1)).toEqual(shown.slice(0, -1));
    const m = /^onnxruntime vs reference: 1x1x64x64, max relative error (\S+)$/.exec(lines.at(-1)!);
    expect(m, lines.at(-1)).not.toBeNull();
    expect(Number(m![1])).toBeLessThan(1e-4);
  });

  it('writes a graph, weights and ONNX model that load back', () => {
    const graph = loadGraph(readFileSync(join(app, 'mynet.json'), 'utf8'));
    const total = /^total: (\d+) MACs, (\d+) params$/m.exec(block('consumer-output'));
    expect(total).not.toBeNull();
    expect(analyze(graph).macs).toBe(Number(total![1]));
    expect(analyze(graph).params).toBe(Number(total![2]));
    const { weights } = decodeSafetensors(readFileSync(join(app, 'mynet.safetensors')));
    expect(() => checkWeights(graph, weights)).not.toThrow();
    const model = decodeOnnx(readFileSync(join(app, 'mynet.onnx')), 'mynet.onnx');
    expect(model.opsetImport.map((o) => Number(o.version))).toContain(13);
    const ops = (model.graph?.node ?? []).map((n) => n.opType);
    expect(ops).toContain('Conv');
    // BatchNorm folded: no BatchNormalization node left.
    expect(ops).not.toContain('BatchNormalization');
  });
});
