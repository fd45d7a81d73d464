import { defineConfig } from 'vitest/config';

// Workspace packages export their TypeScript source under the "source" condition,
// so tests run against src/ without a build.
export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['schemas/**/*.test.ts', 'deploy/**/*.test.ts', 'caliper-profiles/**/*.test.ts', 'packages/**/*.test.ts', 'services/**/*.test.ts'],
          exclude: ['**/node_modules/**', '**/dist/**'],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // Without a stack in the environment and with a Docker engine, starts one with testcontainers, once.
          globalSetup: ['test/support/stack.ts'],
          // One stack, shared: integration files run one at a time.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
