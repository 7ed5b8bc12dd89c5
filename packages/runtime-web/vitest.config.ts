import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['@fastdepth/source'] },
  // Vitest runs tests in vite's ssr environment, whose conditions are set apart from `resolve`.
  ssr: { resolve: { conditions: ['@fastdepth/source'], externalConditions: ['@fastdepth/source'] } },
  test: { name: 'runtime-web', include: ['src/**/*.test.ts', 'demo/**/*.test.ts'], testTimeout: 120_000 },
});
