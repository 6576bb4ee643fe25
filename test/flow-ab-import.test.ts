/**
 * Flagger Canaries with `match` and `iterations` (A/B) or `iterations` alone (Blue/Green), imported by
 * `sluice import flagger`, then run: the strategy the import wrote — real fields, not comments — drives
 * the real ASL in the local engine against the API stand-in (test/support/ab-flow.ts). Only the clock is
 * compressed: Flagger's interval becomes 1 s.
 */
import { describe, expect, it } from 'vitest';
import { CANARY_UPSTREAM, PRIMARY_UPSTREAM } from '../lambdas/adapters/kube/cluster.fixtures.ts';
import { validateSpec } from '../lambdas/core/spec.ts';
import type { RolloutSpec } from '../lambdas/core/spec.ts';
import { importFlaggerCanary } from '../local/import/flagger.ts';
import { abortRollout } from '../lambdas/adapters/control/interrupt.ts';
import { routeNames, routedTo, runtimeNow, start, useAbFlow, versionOf } from './support/ab-flow.ts';

useAbFlow();

function flaggerCanary(analysis: Record<string, unknown>): unknown {
  return {
    apiVersion: 'flagger.app/v1beta1',
    kind: 'Canary',
    metadata: { name: 'podinfo', namespace: 'apps' },
    spec: {
      provider: 'gloo',
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo' },
      service: { port: 9898 },
      analysis: {
        interval: '1m',
        threshold: 2,
        metrics: [{ name: 'request-success-rate', thresholdRange: { min: 99 }, interval: '1m' }],
        ...analysis,
      },
    },
  };
}

function importedSpec(analysis: Record<string, unknown>): RolloutSpec {
  const imported = importFlaggerCanary(flaggerCanary(analysis), {
    cluster: { kubeconfigContext: 'stand-in' },
    prometheusAddress: 'http://127.0.0.1:9',
  });
  const checked = validateSpec(imported.spec);
  if (!checked.ok) throw new Error(checked.problems.map((p) => `${p.path}: ${p.message}`).join('; '));
  return checked.spec;
}

describe('Flagger A/B and Blue/Green Canaries, imported and run', () => {
  it('an imported A/B Canary (iterations + a header match) routes only matching requests to the canary, then promotes', async () => {
    // Prepare
    const spec = importedSpec({ iterations: 2, match: [{ headers: { 'x-canary': { exact: 'insider' } } }] });
    const { iterations, match } = spec.spec.strategy;
    const during: (string | undefined)[][] = [];
    // Act
    const rollout = await start(
      { iterations, match },
      { onLook: () => during.push([routedTo({ 'x-canary': 'insider' }), routedTo({ 'x-canary': 'outsider' }), routedTo({})]) },
    );
    const summary = await rollout.done;
    // Assess: the fields, not comments, carried the A/B test.
    expect({ iterations, match }).toEqual({ iterations: 2, match: [{ headers: { 'x-canary': { exact: 'insider' } } }] });
    expect(summary.outcome).toBe('promoted');
    // After Prepare's metric check, each look saw matching requests on the canary and the rest on the primary.
    expect(during.slice(1)).toEqual(Array(2).fill([CANARY_UPSTREAM, PRIMARY_UPSTREAM, PRIMARY_UPSTREAM]));
    expect(routeNames()).toEqual(['health', 'main']);
    expect(versionOf('podinfo-primary')).toBe('v2');
  });

  it('an imported Blue/Green Canary (iterations, no match) judges green on its own, then switches once and promotes', async () => {
    // Prepare
    const spec = importedSpec({ iterations: 2 });
    const { iterations, blueGreen } = spec.spec.strategy;
    const usersDuringLooks: (string | undefined)[] = [];
    // Act
    const rollout = await start({ iterations, blueGreen }, { onLook: () => usersDuringLooks.push(routedTo({})) });
    const summary = await rollout.done;
    // Assess
    expect(iterations).toBe(2);
    expect(blueGreen).toBeDefined();
    expect(summary.outcome).toBe('promoted');
    expect(summary.reason).toBe('promoted after 2 looks of green on its own traffic and one switch of all traffic');
    expect(usersDuringLooks).toEqual([PRIMARY_UPSTREAM, PRIMARY_UPSTREAM, PRIMARY_UPSTREAM]);
    expect(versionOf('podinfo-primary')).toBe('v2');
  });
});

describe('blue/green: an abort while users move to green', () => {
  it('is honoured before the template copy: users go back to blue and the primary keeps the old version', async () => {
    // Prepare: the abort arrives as the switch of all traffic to green lands.
    let answer: Promise<unknown> | undefined;
    const rollout = await start(
      { iterations: 1, blueGreen: {} },
      {
        onLook: () => {
          const runtime = runtimeNow();
          if (!runtime || answer) return;
          // Watch the UpstreamGroup: the first write that puts all traffic on green triggers the abort.
          void (async () => {
            while (routedTo({}) !== CANARY_UPSTREAM) await new Promise((resolve) => setTimeout(resolve, 2));
            answer = abortRollout({ store: runtime.deps.store, sfn: runtime.sfn, target: 'podinfo', by: 'carol', reason: 'pager' });
          })();
        },
      },
    );
    const execution = rollout.name;
    // Act
    const summary = await rollout.done;
    // Assess
    expect(await answer).toMatchObject({ ok: true, execution });
    expect(summary.outcome).toBe('aborted');
    expect(routedTo({})).toBe(PRIMARY_UPSTREAM);
    expect(versionOf('podinfo-primary')).toBe('v1');
  });
});
