/**
 * Vitest settings every package shares. Workspace packages resolve to their TypeScript
 * sources through the `@fastdepth/source` export condition, so tests never run a stale
 * `dist/`. Vitest runs Node tests in Vite's SSR environment, which has its own resolve
 * conditions: both must name ours.
 */
import { defineProject, type UserWorkspaceConfig } from 'vitest/config';

const conditions = ['@fastdepth/source'];

export function packageTestConfig(name: string, test: UserWorkspaceConfig['test'] = {}): UserWorkspaceConfig {
  return defineProject({
    resolve: { conditions: [...conditions, 'module', 'node', 'development|production'] },
    ssr: {
      resolve: {
        conditions: [...conditions, 'module', 'node', 'development|production'],
        externalConditions: conditions,
      },
    },
    // Generous limits: the suite runs on small, shared machines, where a hook that emits and
    // compiles FastDepth can take minutes (a 10 s default once failed a loaded CI run).
    test: { name, include: ['src/**/*.test.ts'], testTimeout: 300_000, hookTimeout: 300_000, ...test },
  });
}
