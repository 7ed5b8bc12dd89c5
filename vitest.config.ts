import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['@fastdepth/source'] },
  test: {
    projects: ['packages/*'],
  },
});
