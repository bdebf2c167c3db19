import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/boot/**', 'node_modules/**'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 600_000,
    // Integration tests spawn real tools on disk images; two cores, so keep concurrency modest.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    // Concurrent tests inside a file (the hostile-input corpus): three conversions at a time.
    maxConcurrency: 3,
  },
});
