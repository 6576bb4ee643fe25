/**
 * A/B testing and blue/green through the real ASL in the local engine, against Deployments and Gloo
 * objects in the Kubernetes API stand-in. Routing is checked the way the sandbox gateway routes a
 * request (local/sandbox/gateway/routes.ts on Gloo's matcher semantics: a route's header matchers are
 * exact, or RE2 full-match with `regex: true`; gloo.solo.io HeaderMatcher, solo-io/gloo docs
 * "Header Matching"), fed with the objects the rollout wrote (test/support/ab-flow.ts).
 */
import { describe, expect, it } from 'vitest';
import { CANARY_UPSTREAM, PRIMARY_UPSTREAM } from '../lambdas/adapters/kube/cluster.fixtures.ts';
import { MARKER, MATCH, routeNames, routedTo, runtimeNow, start, statusNow, trailNow, useAbFlow, versionOf } from './support/ab-flow.ts';

useAbFlow();

describe('A/B testing (strategy.match) in the state machine', () => {
  it('sends matching requests to the canary for the iterations, everyone else to the primary; promotion removes the match route', async () => {
    // Prepare
    const during: Record<string, string | undefined>[] = [];
    const statuses: Promise<string>[] = [];
    const rollout = await start(
      { iterations: 2, match: MATCH },
      {
        onLook: (look) => {
          const runtime = runtimeNow();
          if (look === 1 && runtime) statuses.push(statusNow(runtime));
          during.push({
            cookie: routedTo({ cookie: 'canary=always; theme=dark' }),
            header: routedTo({ 'x-canary': 'insider' }),
            almost: routedTo({ 'x-canary': 'insider2' }),
            plain: routedTo({}),
          });
        },
      },
    );
    // Act
    const summary = await rollout.done;
    const trail = trailNow();
    // Assess
    expect(summary.outcome).toBe('promoted');
    expect(summary.reason).toBe(
      'promoted after 2 looks of the A/B stage (requests where header cookie ~ /^(.*?;)?(canary=always)(;.*)?$/ or header x-canary = "insider" on the canary; the canary judged against its thresholds)',
    );
    // The first metric read is Prepare's check that the queries answer, before any route changes.
    expect(during[0]).toEqual({ cookie: PRIMARY_UPSTREAM, header: PRIMARY_UPSTREAM, almost: PRIMARY_UPSTREAM, plain: PRIMARY_UPSTREAM });
    expect(during.slice(1)).toEqual(
      Array(2).fill({ cookie: CANARY_UPSTREAM, header: CANARY_UPSTREAM, almost: PRIMARY_UPSTREAM, plain: PRIMARY_UPSTREAM }),
    );
    // The weighted share never moved; the match route came and went around the template copy.
    expect(trail.filter((t) => t.startsWith('group:'))).toEqual([]);
    const inserted = trail.indexOf(`routes:health,${MARKER},main`);
    const copied = trail.findIndex((t) => t.startsWith('podinfo-primary:') && t.includes('version=v2'));
    const removed = trail.lastIndexOf('routes:health,main');
    expect(inserted).toBeGreaterThan(-1);
    expect(copied).toBeGreaterThan(inserted);
    expect(removed).toBeGreaterThan(copied);
    expect(routeNames()).toEqual(['health', 'main']);
    expect(versionOf('podinfo-primary')).toBe('v2');
    expect(routedTo({ 'x-canary': 'insider' })).toBe(PRIMARY_UPSTREAM);
    // `sluice status` during the stage says who gets the canary, next to weights that stay 100/0.
    const [status] = await Promise.all(statuses);
    expect(status).toMatch(
      /traffic {3}primary 100% \/ canary 0%.*\n {2}strategy {2}A\/B testing: requests where header cookie .* or header x-canary = "insider" go to the canary, all others to the primary \(2 looks of 1s, then promotion\)/,
    );
  });

  it('rolls back when the matched users see failures: the match route is removed, the primary keeps its template', async () => {
    const rollout = await start({ iterations: 3, match: MATCH }, { rate: (look) => (look >= 1 ? 80 : 99.9) });

    const summary = await rollout.done;
    const trail = trailNow();

    expect(summary.outcome).toBe('rolled-back');
    expect(summary.exitCode).toBe(3);
    expect(trail).toContain(`routes:health,${MARKER},main`);
    expect(routeNames()).toEqual(['health', 'main']);
    expect(versionOf('podinfo-primary')).toBe('v1');
    expect(routedTo({ cookie: 'canary=always' })).toBe(PRIMARY_UPSTREAM);
  });
});

describe('blue/green (strategy.blueGreen) in the state machine', () => {
  it('judges green with no user traffic, scales it to the primary and waits until ready, switches all traffic once, then promotes', async () => {
    const weightsDuringLooks: string[] = [];
    const rollout = await start({ iterations: 2, blueGreen: {} }, { onLook: () => weightsDuringLooks.push(routedTo({}) ?? '') });

    const summary = await rollout.done;
    const trail = trailNow();

    expect(summary.outcome).toBe('promoted');
    expect(summary.reason).toBe('promoted after 2 looks of green on its own traffic and one switch of all traffic');
    // Prepare's metric check, then the two looks: users stay on blue throughout.
    expect(weightsDuringLooks).toEqual([PRIMARY_UPSTREAM, PRIMARY_UPSTREAM, PRIMARY_UPSTREAM]);
    const scaledReady = trail.indexOf('podinfo:replicas=3,version=v2,available=3');
    const toGreen = trail.indexOf('group:canary=100');
    const copied = trail.findIndex((t) => t.startsWith('podinfo-primary:') && t.includes('version=v2'));
    const back = trail.lastIndexOf('group:canary=0');
    expect(scaledReady).toBeGreaterThan(-1);
    expect(toGreen).toBeGreaterThan(scaledReady);
    expect(copied).toBeGreaterThan(toGreen);
    expect(back).toBeGreaterThan(copied);
    // One switch each way: no weighted split ever.
    expect(trail.filter((t) => t.startsWith('group:'))).toEqual(['group:canary=100', 'group:canary=0']);
    expect(versionOf('podinfo-primary')).toBe('v2');
  });

  it('rolls back before any user traffic moved when green fails its looks', async () => {
    const rollout = await start({ iterations: 3, blueGreen: {} }, { rate: (look) => (look >= 1 ? 50 : 99.9) });

    const summary = await rollout.done;
    const trail = trailNow();

    expect(summary.outcome).toBe('rolled-back');
    expect(trail.filter((t) => t.startsWith('group:'))).toEqual([]);
    expect(versionOf('podinfo-primary')).toBe('v1');
  });
});
