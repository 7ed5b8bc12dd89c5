import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['@fastdepth/source'] },
  test: { name: 'runtime-web', include: ['src/**/*.test.ts'], testTimeout: 120_000 },
});
