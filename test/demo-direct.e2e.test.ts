/**
 * `npx sluice demo` on a machine without Prometheus: the CLI's default judge (sequential) reads
 * the gateway's counters directly, as Prometheus would scrape them, and promotes a healthy canary.
 * "Without Prometheus" is SLUICE_PROMETHEUS_BIN pointing at no file, set before the sandbox loads.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'sluice-demo-direct-'));
process.env.SLUICE_PROMETHEUS_BIN = join(dir, 'no-prometheus-here');
process.env.SLUICE_STATE_DIR = join(dir, 'state');
afterAll(() => {
  delete process.env.SLUICE_PROMETHEUS_BIN;
  delete process.env.SLUICE_STATE_DIR;
  rmSync(dir, { recursive: true, force: true });
});

// A wall-clock demo beside other files' sandboxes: one retry absorbs a starved moment, as for the other demo files.
describe('sluice demo without Prometheus', { retry: 1 }, () => {
  it('runs the sequential judge on the gateway’s own counters and promotes a healthy canary', async () => {
    // Prepare: the CLI as `npx sluice demo --json` runs it (no --judge: the default), short steps.
    const { main } = await import('../local/cli.ts');
    const out: string[] = [];
    const err: string[] = [];

    // Act
    const code = await main(['demo', '--json', '--interval', '1', '--rps', '60', '--seed', '3'], {
      stdout: (t) => out.push(t),
      stderr: (t) => err.push(t),
    });

    // Assess: promoted by the sequential judge, every look judged on counts it read from the gateway.
    expect(code, err.join('')).toBe(0);
    expect(err.join('')).toMatch(/Prometheus is not installed .*reading the gateway's counters directly/);
    const summary = JSON.parse(out.join('').trimEnd().split('\n').at(-1) ?? '') as {
      judge: string;
      metricsSource: string;
      outcome: string;
      reportPath: string;
      steps: Array<{ verdict: string; judged?: { counts?: { canary: { requests: number } } } }>;
    };
    expect(summary).toMatchObject({ judge: 'sequential', metricsSource: 'direct', outcome: 'promoted' });
    expect(summary.steps.length).toBeGreaterThanOrEqual(4);
    expect(summary.steps.every((step) => step.verdict === 'continue' || step.verdict === 'advance')).toBe(true);
    expect(summary.steps.reduce((n, step) => n + (step.judged?.counts?.canary.requests ?? 0), 0)).toBeGreaterThan(0);
    expect(readFileSync(summary.reportPath, 'utf8')).toContain('data-testid="evalue-chart"');
  });
});
