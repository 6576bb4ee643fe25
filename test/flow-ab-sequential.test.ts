/**
 * A/B testing judged by the sequential judge, through the real ASL in the local engine against the
 * Kubernetes API stand-in (test/support/ab-flow.ts), with Envoy's counters stubbed at the counter
 * port. Under A/B the canary serves the matched users and the primary everyone else, so the
 * two-arm test (canary against primary) is off unless analysis.compareArms opts in; each metric's
 * threshold judges the canary either way.
 */
import { describe, expect, it } from 'vitest';
import type { CounterSnapshot, SeriesSample } from '../lambdas/core/counts.ts';
import { GLOO_NS } from '../lambdas/adapters/kube/cluster.fixtures.ts';
import { MATCH, routeNames, runtimeNow, start, useAbFlow } from './support/ab-flow.ts';

useAbFlow();

/**
 * Envoy's counters of one gateway as the sequential judge reads them: each read is one more second
 * of traffic. The matched users on the canary fail 0.8% of their requests (inside the 1% the
 * success-rate threshold allows), everyone else on the primary 0.1%: eight times apart.
 */
function abCounters(): () => CounterSnapshot {
  const totals = { canary: { requests: 0, errors: 0 }, primary: { requests: 100_000, errors: 100 } };
  const series = (arm: 'canary' | 'primary', value: number, at: number, code: string): SeriesSample[] => [
    {
      labels: { job: 'gloo', instance: '10.0.0.1:8081', envoy_cluster_name: `${arm}_${GLOO_NS}`, envoy_response_code: code },
      value,
      timestamp: at,
    },
  ];
  let reads = 0;
  return () => {
    reads += 1;
    // Prepare's read is the baseline; from the A/B stage on, the matched users reach the canary.
    if (reads > 1) {
      totals.canary.requests += 2000;
      totals.canary.errors += 16;
    }
    totals.primary.requests += 10_000;
    totals.primary.errors += 10;
    const at = Date.now();
    const arm = (side: 'canary' | 'primary') => ({
      requests: series(side, totals[side].requests, at, '200'),
      errors: series(side, totals[side].errors, at, '500'),
      slow: {},
    });
    return { at: new Date(at).toISOString(), canary: arm('canary'), primary: arm('primary') };
  };
}

describe('A/B testing judged by the sequential judge', () => {
  it('holds the canary against its thresholds only (two-arm test off): a canary within them is promoted though it fails more than the primary', async () => {
    const rollout = await start({ iterations: 3, match: MATCH }, { sequential: { counters: abCounters() } });

    const summary = await rollout.done;

    expect(summary.outcome).toBe('promoted');
    expect(summary.reason).toMatch(/on the canary; the canary judged against its thresholds\)$/);
    const steps = (await runtimeNow()?.deps.store.listSteps(rollout.name)) ?? [];
    expect(steps.map((s) => s.detail ?? '').join('\n')).toMatch(
      /A\/B testing: canary and primary serve different requests, so the two-arm test is off/,
    );
  });

  it('with analysis.compareArms: true compares the arms, and the same canary is rolled back as worse than the primary', async () => {
    const rollout = await start({ iterations: 3, match: MATCH }, { sequential: { compareArms: true, counters: abCounters() } });

    const summary = await rollout.done;

    expect(summary.outcome).toBe('rolled-back');
    expect(summary.reason).toMatch(/canary worse/);
    expect(routeNames()).toEqual(['health', 'main']);
  });
});
