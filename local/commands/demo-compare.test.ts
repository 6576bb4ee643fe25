/** `sluice demo --compare`'s table: one column per judge, the rows the README's comparison shows. */
import { describe, expect, it } from 'vitest';
import { compareTable } from './demo.ts';
import type { DemoSummary } from './demo.ts';

function summary(judge: DemoSummary['judge'], looks: number, lookIntervalSeconds: number, extra: Partial<DemoSummary>): DemoSummary {
  return {
    execution: `podinfo-v2-${judge}`,
    target: 'podinfo',
    version: 'v2',
    outcome: 'rolled-back',
    reason: 'bad canary',
    exitCode: 3,
    weightScale: 100,
    steps: Array.from({ length: looks }, (_, i) => ({
      stepIndex: 0,
      at: new Date(i * 1000).toISOString(),
      verdict: 'continue',
      summary: '',
      evidence: [],
    })),
    durationMs: 10_000,
    transitions: 12,
    scenario: 'errors',
    judge,
    lookIntervalSeconds,
    seed: 5,
    reportPath: '/tmp/x.html',
    metricsSource: 'prometheus',
    scrapeIntervalSeconds: 1,
    ...extra,
  };
}

describe('sluice demo --compare', () => {
  it('puts both judges side by side: errors served, detection, looks, transitions and their cost', () => {
    // Prepare
    const runs = [
      {
        judge: 'threshold',
        summary: summary('threshold', 2, 5, { requests: { total: 900, canary: 40, canaryErrors: 4 }, detectionMs: 10_200 }),
      },
      {
        judge: 'sequential',
        summary: summary('sequential', 3, 1, { requests: { total: 400, canary: 30, canaryErrors: 3 }, detectionMs: 3300, transitions: 15 }),
      },
    ];

    // Act
    const lines = compareTable(runs).trimEnd().split('\n');

    // Assess: the header names the judges; each row carries both runs' numbers, in column order.
    expect(lines[0]).toMatch(/^\s+threshold\s+sequential$/);
    const row = (label: string) =>
      lines
        .find((line) => line.startsWith(label))
        ?.slice(label.length)
        .trim()
        .split(/\s{3,}/);
    expect(row('canary errors served')).toEqual(['4', '3']);
    expect(row("detection (canary's first request → weight 0)")).toEqual(['10.2 s', '3.3 s']);
    expect(row('looks')).toEqual(['2 of 5 s', '3 of 1 s']);
    expect(row('state transitions (cost)')).toEqual(['12 ($0.00030)', '15 ($0.00038)']);
    // Columns line up: every value of a column starts at the same offset.
    const at = (line: string | undefined, value: string) => line?.indexOf(value, 40);
    expect(at(lines[0], 'sequential')).toBe(
      at(
        lines.find((l) => l.startsWith('looks')),
        '3 of 1 s',
      ),
    );
  });

  it('shows a promotion without a detection time', () => {
    const lines = compareTable([{ judge: 'sequential', summary: summary('sequential', 20, 1, { outcome: 'promoted' }) }]);
    expect(lines).toMatch(/^outcome\s+promoted$/m);
    expect(lines).toMatch(/^detection \(canary's first request → weight 0\)\s+—$/m);
  });
});
