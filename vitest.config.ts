import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    // the machine has two cores and the suites share one PostgreSQL server
    maxWorkers: 2,
    include: ['test/**/*.test.ts'],
  },
});
