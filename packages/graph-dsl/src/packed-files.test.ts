/**
 * What `npm pack` puts in each workspace package's tarball: the built library and its sources
 * (for the declaration and source maps), never tests, test helpers, golden files or build info.
 * It lives here because graph-dsl is the package every other one depends on; it checks them all.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const packagesDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface PackageJson {
  readonly name: string;
  readonly private?: boolean;
  readonly exports?: Record<string, string | Record<string, string>>;
  readonly bin?: string | Record<string, string>;
}

const packages = readdirSync(packagesDir, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => join(packagesDir, d.name))
  .filter((dir) => {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
      return pkg.private !== true;
    } catch {
      return false;
    }
  });

/** What a published tarball must not carry: the reason for each pattern. */
const FORBIDDEN: readonly (readonly [RegExp, string])[] = [
  [/\.test\.[cm]?[jt]sx?(\.map)?$/, 'a test'],
  [/\.tsbuildinfo$/, 'TypeScript build info'],
  [/(^|\/)testing\//, 'a test helper (src/testing)'],
  [/(^|\/)__golden__\//, 'a golden file of a test'],
  [/(^|\/)tmp\//, 'a temporary file'],
];

/** The files `exports` and `bin` point at for a consumer (the source-only condition aside). */
function entryFiles(pkg: PackageJson): string[] {
  const out: string[] = [];
  for (const [subpath, target] of Object.entries(pkg.exports ?? {})) {
    if (subpath === './package.json') continue;
    if (typeof target === 'string') out.push(target);
    else for (const [cond, file] of Object.entries(target)) if (cond !== '@fastdepth/source') out.push(file);
  }
  const bin = pkg.bin;
  if (typeof bin === 'string') out.push(bin);
  else if (bin) out.push(...Object.values(bin));
  return out.map((f) => normalize(f));
}

describe('packed tarballs', () => {
  it('finds the workspace packages', () => {
    expect(packages.length).toBeGreaterThanOrEqual(10);
  });

  it.each(packages.map((dir) => [dir.slice(packagesDir.length + 1), dir]))(
    '%s ships its entry points and no tests or build info',
    (_, dir) => {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
      // --ignore-scripts: listing the files must not build or run anything.
      const json = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
        cwd: dir,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const files = (JSON.parse(json) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
      const bad = files.flatMap((f) =>
        FORBIDDEN.filter(([re]) => re.test(f)).map(([, why]) => `${f} (${why})`),
      );
      expect(bad, `${pkg.name} packs files a user does not need`).toEqual([]);
      const shipped = new Set(files);
      const missing = entryFiles(pkg).filter((f) => !shipped.has(f));
      // A missing dist/ entry means the package is not built (npm ci's prepare builds it).
      expect(missing, `${pkg.name}: entry points missing from the tarball`).toEqual([]);
      expect(files).toContain('package.json');
    },
  );
});
