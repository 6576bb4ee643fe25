/**
 * A/B testing and blue/green in the reliability soak (bench/reliability/strategies.ts): which
 * targets run them, their specs, their moments as the API server shows them, and invariant (g) —
 * no route carrying a Sluice marker left behind — read from the Kubernetes API stand-in. The soak
 * itself runs them end to end (test/reliability-soak.test.ts, N = 12 at the fixed seed).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { planFaults } from '../bench/reliability/faults.ts';
import { DEFAULT_N, DEFAULT_SEED } from '../bench/reliability/soak.ts';
import { markerRouteViolations, soakStrategy, strategyMoments, withStrategy } from '../bench/reliability/strategies.ts';
import { GLOO_NS, SCALE, seedTarget, specFor, target } from '../bench/reliability/targets.ts';
import { startKubeStandIn } from '../local/kube/stand-in.ts';
import type { KubeStandIn } from '../local/kube/stand-in.ts';

let kube: KubeStandIn | undefined;
afterEach(async () => {
  await kube?.close();
  kube = undefined;
});

describe('the soak runs A/B testing and blue/green targets under the same faults', () => {
  it('deals both strategies among the planned rollouts CI runs (N = 12, the fixed seed), never to a re-dealt one', () => {
    // Act
    const strategies = planFaults(DEFAULT_N, DEFAULT_SEED).map((plan) => soakStrategy(plan.index, plan.faults, 0));
    // Assess
    expect(strategies).toContain('ab');
    expect(strategies).toContain('blue-green');
    expect(strategies.filter((s) => s === 'canary').length).toBeGreaterThanOrEqual(DEFAULT_N / 2);
    expect(soakStrategy(5, [], 0)).toBe('ab');
    expect(soakStrategy(5, [], 1)).toBe('canary');
    expect(soakStrategy(5, [{ kind: 'foreign-weights', moment: 'first-move' }], 0)).toBe('canary');
    expect(soakStrategy(5, [{ kind: 'store-busy', moment: 'first-move' }], 0)).toBe('canary');
  });

  it('gives those targets valid specs: iterations and the match rule or blueGreen instead of the weighted steps', () => {
    const t = target(5);
    const base = specFor(t, [], 'http://127.0.0.1:9');

    const ab = withStrategy(base, 'ab').spec.strategy;
    const blueGreen = withStrategy(base, 'blue-green').spec.strategy;

    expect(ab).toMatchObject({ iterations: 2, match: [{ headers: { 'x-canary': { exact: 'insider' } } }] });
    expect(ab.stepWeights).toBeUndefined();
    expect(blueGreen).toMatchObject({ iterations: 2, blueGreen: {} });
    expect(withStrategy(base, 'canary')).toBe(base);
  });

  it('reads the first move from the API server: the A/B route appearing, or all traffic on green (their one stage is also the second step)', () => {
    const vs = (names: string[]) => ({
      apiVersion: 'gateway.solo.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'soak-03', namespace: GLOO_NS },
      spec: { virtualHost: { routes: names.map((name) => ({ name })) } },
    });
    const group = { apiVersion: 'gloo.solo.io/v1', kind: 'UpstreamGroup', metadata: { name: 'soak-05', namespace: GLOO_NS }, spec: {} };

    expect(strategyMoments('ab', vs(['sluice-ab-soak-03', 'main']), undefined)).toEqual(['first-move', 'second-step']);
    expect(strategyMoments('ab', vs(['main']), undefined)).toEqual([]);
    expect(strategyMoments('blue-green', group, { primary: 0, canary: SCALE })).toEqual(['first-move', 'second-step']);
    expect(strategyMoments('blue-green', group, { primary: SCALE, canary: 0 })).toEqual([]);
    expect(strategyMoments('canary', vs(['sluice-ab-soak-03', 'main']), undefined)).toEqual([]);
  });

  it('(g) finds a marker route left on the VirtualService, and only a marker route', async () => {
    // Prepare
    kube = await startKubeStandIn();
    const t = target(2);
    seedTarget(kube, t);
    const clean = markerRouteViolations(kube, t);
    const object = kube.get('gateway.solo.io/v1', 'VirtualService', GLOO_NS, t.name);
    const routes = (object?.spec as { virtualHost: { routes: Array<Record<string, unknown>> } }).virtualHost.routes;
    kube.apply({
      ...(object as NonNullable<typeof object>),
      spec: {
        virtualHost: {
          domains: [`${t.name}.example`],
          routes: [
            { name: 'sluice-ab-soak-03', matchers: [{ prefix: '/' }] },
            { name: 'hand-made', matchers: [{ prefix: '/' }] },
            ...routes,
          ],
        },
      },
    });
    // Act
    const left = markerRouteViolations(kube, t);
    // Assess
    expect(clean).toEqual([]);
    expect(left).toEqual([`VirtualService ${GLOO_NS}/soak-03 still carries the route 'sluice-ab-soak-03' after the rollout ended`]);
  });
});
