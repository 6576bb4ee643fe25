import { defineConfig } from 'vitest/config';

/**
 * The coverage gate of `npm run check`: lambdas/core is the pure heart (weight plan, decisions,
 * judges, spec), so its own unit tests must cover it. Flow tests exercise it too, but a gate that
 * needs the whole suite would be too slow to run before every push.
 */
export default defineConfig({
  test: {
    include: ['lambdas/core/**/*.test.ts'],
    maxWorkers: 2,
    env: { POWERTOOLS_LOG_LEVEL: 'SILENT' },
    coverage: {
      enabled: true,
      provider: 'v8',
      include: ['lambdas/core/**/*.ts'],
      exclude: ['**/*.test.ts'],
      reporter: ['text-summary'],
      reportsDirectory: 'coverage/core',
      thresholds: { lines: 78, statements: 75, functions: 78, branches: 65 },
    },
  },
});
