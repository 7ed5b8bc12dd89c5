import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['@fastdepth/source'] },
  test: { name: 'graph-dsl', include: ['src/**/*.test.ts'] },
});
