/**
 * `npm run bench`: the demo's sandbox, for a few canary error rates and a healthy canary, over
 * several seeds, with both judges fed the same scenario. Measures what a bad canary costs users
 * before rollback (canary errors served, detectionMs), how long a healthy one takes to promote,
 * false rollbacks, and the state transitions a rollout uses (Step Functions Standard: $0.025 per
 * 1,000). Prints a table and writes bench/results/demo.json. Not part of the tests.
 *
 *   npm run bench                      # 3 seeds
 *   npm run bench -- --seeds 5 --rps 100
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runDemo } from '../local/commands/demo.ts';
import type { DemoSummary } from '../local/commands/demo.ts';

const { values } = parseArgs({
  options: { seeds: { type: 'string', default: '3' }, rps: { type: 'string', default: '100' }, interval: { type: 'string', default: '5' } },
});
const seeds = Number(values.seeds);
const rps = Number(values.rps);
const interval = Number(values.interval);
const PRICE_PER_TRANSITION = 0.025 / 1000;

const scenarios = [
  { name: 'healthy', canaryErrorRate: 0 },
  { name: 'errors 2%', canaryErrorRate: 0.02 },
  { name: 'errors 5%', canaryErrorRate: 0.05 },
  { name: 'errors 20%', canaryErrorRate: 0.2 },
] as const;
const judges = ['threshold', 'sequential'] as const;

interface Run {
  scenario: string;
  judge: (typeof judges)[number];
  seed: number;
  outcome: string;
  canaryErrors: number;
  canaryRequests: number;
  detectionMs: number | null;
  durationMs: number;
  transitions: number;
}

const median = (xs: number[]) => {
  if (!xs.length) return null;
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? null) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};

const runs: Run[] = [];
const scratch = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
const quiet = { stdout: () => {}, stderr: () => {} };
try {
  for (const scenario of scenarios) {
    for (const judge of judges) {
      for (let seed = 1; seed <= seeds; seed++) {
        const { summary } = await runDemo(
          {
            scenario: scenario.canaryErrorRate ? 'errors' : 'healthy',
            canaryErrorRate: scenario.canaryErrorRate,
            judge,
            seed,
            rps,
            interval,
            prometheus: 'required',
            dir: join(scratch, `${judge}-${seed}`),
          },
          quiet,
        );
        const s = summary as DemoSummary;
        runs.push({
          scenario: scenario.name,
          judge,
          seed,
          outcome: s.outcome,
          canaryErrors: s.requests?.canaryErrors ?? 0,
          canaryRequests: s.requests?.canary ?? 0,
          detectionMs: s.detectionMs ?? null,
          durationMs: s.durationMs,
          transitions: s.transitions,
        });
        process.stderr.write(
          `${scenario.name} ${judge} seed ${seed}: ${s.outcome}, ${s.requests?.canaryErrors ?? 0} canary errors, ${(s.durationMs / 1000).toFixed(1)} s, ${s.transitions} transitions\n`,
        );
      }
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

const rows = scenarios.flatMap((scenario) =>
  judges.map((judge) => {
    const mine = runs.filter((r) => r.scenario === scenario.name && r.judge === judge);
    const healthy = scenario.canaryErrorRate === 0;
    const rolledBack = mine.filter((r) => r.outcome !== 'promoted');
    return {
      scenario: scenario.name,
      judge,
      runs: mine.length,
      rolledBack: rolledBack.length,
      falseRollbacks: healthy ? rolledBack.length : null,
      medianCanaryErrors: healthy ? null : median(rolledBack.map((r) => r.canaryErrors)),
      medianDetectionSeconds: healthy ? null : median(rolledBack.flatMap((r) => (r.detectionMs === null ? [] : [r.detectionMs / 1000]))),
      medianPromoteSeconds: healthy ? median(mine.filter((r) => r.outcome === 'promoted').map((r) => r.durationMs / 1000)) : null,
      medianTransitions: median(mine.map((r) => r.transitions)),
      costPerRolloutUsd: (median(mine.map((r) => r.transitions)) ?? 0) * PRICE_PER_TRANSITION,
    };
  }),
);

const cell = (value: number | null, digits = 1) => (value === null ? '—' : value.toFixed(digits));
const header = ['scenario', 'judge', 'runs', 'rolled back', 'canary errors (median)', 'detection s', 'promote s', 'transitions', 'cost $'];
const table = [
  header,
  ...rows.map((r) => [
    r.scenario,
    r.judge,
    String(r.runs),
    String(r.rolledBack),
    cell(r.medianCanaryErrors, 0),
    cell(r.medianDetectionSeconds),
    cell(r.medianPromoteSeconds),
    cell(r.medianTransitions, 0),
    r.costPerRolloutUsd.toFixed(5),
  ]),
];
const widths = header.map((_, i) => Math.max(...table.map((row) => (row[i] ?? '').length)));
for (const row of table) process.stdout.write(`${row.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')}\n`);

mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(
  new URL('./results/demo.json', import.meta.url),
  `${JSON.stringify({ generatedAt: new Date().toISOString(), rps, intervalSeconds: interval, seeds, rows, runs }, null, 2)}\n`,
);
process.stdout.write('wrote bench/results/demo.json\n');
