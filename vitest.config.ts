import { BaseSequencer } from 'vitest/node';
import type { TestSpecification } from 'vitest/node';
import { defineConfig } from 'vitest/config';

/**
 * The files that wait longest on the wall clock (sandboxes, real Prometheus, 1-second bakes, the
 * bundling synth), with their rough seconds on the 2-core CI. Without a results cache (a fresh
 * clone) vitest starts the largest files first, and these are small: started last, one of them
 * kept a worker busy alone at the end. Longest first packs the workers evenly.
 */
const EXPECTED_SECONDS: Record<string, number> = {
  'test/demo-control.e2e.test.ts': 90,
  'test/demo.e2e.test.ts': 70,
  'test/demo-rollback.e2e.test.ts': 45,
  'test/reliability-soak.test.ts': 56,
  'test/demo-scrape.e2e.test.ts': 50,
  'infra/sluice-stack.test.ts': 50,
  'test/recovery-sigkill.e2e.test.ts': 46,
  'test/judge-sequential.prometheus.test.ts': 45,
  'test/flow-route-table.e2e.test.ts': 41,
  'local/sandbox/sandbox.test.ts': 41,
  'test/flow.test.ts': 37,
  'test/report-browser.test.ts': 33,
  'test/flow-promotion.test.ts': 20,
  'test/flow-gloo.test.ts': 31,
  'test/demo-direct.e2e.test.ts': 29,
};

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const expected = (file: TestSpecification) => {
      const path = file.moduleId.replaceAll('\\', '/');
      const known = Object.entries(EXPECTED_SECONDS).find(([suffix]) => path.endsWith(`/${suffix}`));
      return known?.[1] ?? 0;
    };
    // Stable: files without an entry keep vitest's order (results cache, else size) after the known ones.
    return sorted
      .map((file, index) => ({ file, index, seconds: expected(file) }))
      .sort((a, b) => b.seconds - a.seconds || a.index - b.index)
      .map(({ file }) => file);
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'lambdas/**/*.test.ts', 'local/**/*.test.ts', 'infra/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // 2 cores in CI. Most slow files wait on the wall clock (1 s bakes, sandboxes, Prometheus scrapes)
    // and use a fifth to a third of a core, so a third worker would shorten the run; but sandboxes
    // starting side by side starve each other's app processes on a loaded machine, so 2 stays the
    // default. SLUICE_TEST_WORKERS tries another count without an edit.
    maxWorkers: Number(process.env.SLUICE_TEST_WORKERS ?? 2),
    sequence: { sequencer: LongestFirst },
    reporters: ['default'],
    // Handlers log structured JSON through Powertools; tests read outcomes, not log lines.
    env: { POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'SILENT' },
  },
});
