import { defineProject } from 'vitest/config';

// Node-environment tests resolve through `ssr.resolve`: without it the `@fastdepth/source`
// condition is skipped and workspace packages load from their (possibly stale) dist/.
const conditions = ['@fastdepth/source'];

export default defineProject({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: conditions } },
  test: { name: 'netadapt', include: ['src/**/*.test.ts'], testTimeout: 120_000 },
});
