/**
 * `sluice demo` end to end (real Prometheus, see demo.e2e.test.ts): the threshold judge rolls back
 * a canary that fails requests or answers slowly. The sequential judge's rollback of the same
 * errors scenario runs in report-browser.test.ts, which draws its report.
 */
import { describe, expect, it } from 'vitest';
import type { Sandbox } from '../local/sandbox/sandbox.ts';
import { canaryWeightsSeen, demoRunner } from './support/demo-e2e.ts';

const demo = demoRunner('demo-rollback-e2e');

// Wall-clock demos beside other files' sandboxes: one retry absorbs a starved moment (demo.e2e.test.ts).
describe('sluice demo end to end (real Prometheus): rollback', { retry: 1 }, () => {
  it('rolls back a canary with 10% errors, recording how long the canary served', async () => {
    let sandbox: Sandbox | undefined;
    const { code, summary, output } = await demo({ scenario: 'errors' }, (s) => {
      sandbox = s;
    });
    expect(code).toBe(3);
    expect(summary.outcome).toBe('rolled-back');
    expect(summary.reason).toMatch(/request-success-rate/);
    expect(summary.weights).toEqual({ primary: 100, canary: 0 });
    expect(canaryWeightsSeen(sandbox!).at(-1)).toBe(0);
    expect(summary.detectionMs).toBeGreaterThan(0);
    expect(summary.requests?.canaryErrors).toBeGreaterThan(0);
    expect(output).toMatch(/✗ fail/);
  });

  it('rolls back a canary 300 ms slower on request-duration', async () => {
    const { code, summary } = await demo({ scenario: 'latency' });
    expect(code).toBe(3);
    expect(summary.reason).toMatch(/request-duration/);
    expect(summary.weights).toEqual({ primary: 100, canary: 0 });
  });
});
