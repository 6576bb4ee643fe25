import { BaseSequencer } from 'vitest/node';
import type { TestSpecification } from 'vitest/node';
import { defineConfig } from 'vitest/config';

/**
 * The files that wait longest on the wall clock (sandboxes, real Prometheus, 1-second bakes, the
 * bundling synth), longest first, in this order. Without a results cache (a fresh clone) vitest
 * starts the largest files first, and these are small: started last, one of them kept a worker
 * busy alone at the end. Files that start a sandbox (two app processes, load, Prometheus)
 * alternate with files that do not, so that two sandboxes rarely start side by side (their app
 * processes starve each other on 2 cores; a shadowing demo beside another demo was rolled back).
 */
const START_FIRST = [
  'test/demo-control.e2e.test.ts', // ~80 s, sandbox
  'test/reliability-soak.test.ts', // ~56 s
  'test/demo.e2e.test.ts', // ~70 s, sandbox
  'test/judge-sequential.prometheus.test.ts', // ~45 s
  'test/demo-scrape.e2e.test.ts', // ~50 s, sandbox
  'infra/sluice-stack.test.ts', // ~50 s
  'test/demo-rollback.e2e.test.ts', // ~45 s, sandbox
  'test/flow.test.ts', // ~37 s
  'test/fleet-flow.test.ts', // ~35 s
  'test/flow-ab.test.ts', // ~35 s
  'test/recovery-sigkill.e2e.test.ts', // ~46 s
  'test/flow-gloo.test.ts', // ~31 s
  'test/flow-route-table.e2e.test.ts', // ~41 s, sandbox
  'test/flow-sequential-cloudwatch.test.ts', // ~25 s
  'local/sandbox/sandbox.test.ts', // ~41 s, sandboxes
  'test/flow-sequential-prometheus.test.ts', // ~25 s
  'test/report-browser.test.ts', // ~33 s, sandbox
  'test/flow-webhooks.test.ts', // ~23 s
  'test/demo-ab.e2e.test.ts', // ~24 s, three sandboxes
  'test/flow-point-of-no-return.test.ts', // ~25 s
  'test/demo-direct.e2e.test.ts', // ~29 s, sandbox
  'local/sandbox/gateway.test.ts', // ~22 s
  'test/flow-promotion.test.ts', // ~19 s
  'test/fleet-verbs.test.ts', // ~20 s
  'test/flow-ab-sequential.test.ts', // ~18 s
];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (file: TestSpecification) => {
      const path = file.moduleId.replaceAll('\\', '/');
      const at = START_FIRST.findIndex((suffix) => path.endsWith(`/${suffix}`));
      return at === -1 ? START_FIRST.length : at;
    };
    // Stable: files not listed keep vitest's order (results cache, else size) after the listed ones.
    return sorted
      .map((file, index) => ({ file, index, rank: rank(file) }))
      .sort((a, b) => a.rank - b.rank || a.index - b.index)
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
