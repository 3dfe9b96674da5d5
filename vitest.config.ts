// Two projects: fast unit tests on the in-process driver, and integration tests on the real stack.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // A focused test (.only) fails CI instead of silently skipping the rest.
    allowOnly: !process.env['CI'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.integration.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.integration.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 120_000,
          // Integration tests share one broker and registry; run files one at a time.
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
