/**
 * `sluice demo` end to end on the full sandbox: the Kubernetes API stand-in, the weighted gateway,
 * two app processes, load, the REAL Prometheus (required here: its absence fails the tests), and
 * the real state machine with the Gloo router. Short steps, capped request rates and thresholds far
 * from the injected faults, so that 2 cores do not flake. This file: the promotions;
 * demo-rollback.e2e.test.ts the rollbacks; demo-control.e2e.test.ts shadowing, abort and Ctrl-C.
 */
import { describe, expect, it } from 'vitest';
import type { Sandbox } from '../local/sandbox/sandbox.ts';
import { canaryWeightsSeen, demoRunner } from './support/demo-e2e.ts';

const demo = demoRunner('demo-e2e');

// The demo runs on the wall clock beside other test files' sandboxes: one retry absorbs a starved
// moment (a healthy run passed alone every time; it failed once in a full CI run). Two failures fail.
describe('sluice demo end to end (real Prometheus): promotion', { retry: 1 }, () => {
  it('promotes a healthy canary through every planned weight; the primary then serves the new version to everyone', async () => {
    let sandbox: Sandbox | undefined;
    const { code, summary, output } = await demo({ scenario: 'healthy' }, (s) => {
      sandbox = s;
    });
    expect(code).toBe(0);
    expect(summary.outcome).toBe('promoted');
    expect(summary.metricsSource).toBe('prometheus');
    expect(canaryWeightsSeen(sandbox!)).toEqual([0, 5, 10, 25, 50, 0]);
    const servedAfter = sandbox!.load.stats().versions;
    expect(servedAfter.v2).toBeGreaterThan(0);
    expect(output).toContain('the primary now serves v2');
    expect(summary.steps.every((s) => s.verdict === 'pass')).toBe(true);
    expect(summary.requests?.canary).toBeGreaterThan(0);
    expect(summary.detectionMs).toBeUndefined();
  });

  it('never half-shifts traffic when the API fails mid-rollout: it retries and finishes on one side', async () => {
    let sandbox: Sandbox | undefined;
    const { code, summary } = await demo({ scenario: 'healthy' }, (s) => {
      sandbox = s;
      s.standIn.faults.add({ verb: 'patch', resource: 'upstreamgroups', status: 503, times: 2 });
      s.standIn.faults.add({ verb: 'patch', resource: 'upstreamgroups', drop: true, times: 1 });
      s.standIn.faults.add({ verb: 'get', resource: 'upstreamgroups', delayMs: 300, times: 3 });
    });
    expect(code).toBe(0);
    const seen = canaryWeightsSeen(sandbox!);
    expect(seen.every((w) => [0, 5, 10, 25, 50].includes(w))).toBe(true);
    expect(summary.weights).toEqual({ primary: 100, canary: 0 });
  });
});
