/**
 * The A/B marker route through the real @kubernetes/client-node against the Kubernetes API
 * stand-in: inserted just ahead of the weighted route with the read's resourceVersion, only the
 * route with the marker name ever removed, the route order checked at preflight.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RefusedError } from '../../core/errors.ts';
import type { MatchRule } from '../../core/match.ts';
import { glooRouteFits } from '../../core/match.ts';
import type { RolloutSpec } from '../../core/spec.ts';
import { startKubeStandIn } from '../../../local/kube/stand-in.ts';
import type { KubeObject, KubeStandIn } from '../../../local/kube/stand-in.ts';
import { RouteRouter } from './gloo-route.ts';
import { UpstreamGroupRouter } from './gloo-upstream-group.ts';
import { CANARY_UPSTREAM, GLOO_NS, PRIMARY_UPSTREAM, destination, testSpec, until, upstream } from '../kube/cluster.fixtures.ts';

const FAST = { requestTimeoutMs: 2000, conflictRetry: { attempts: 5, baseDelayMs: 5 }, statusSettleMs: 150 };
const RULES: MatchRule[] = [{ headers: { 'x-canary': { exact: 'insider' } } }, { queryParams: { beta: { exact: '1' } } }];
const MARKER = 'sluice-ab-podinfo';

let kube: KubeStandIn;
beforeAll(async () => {
  kube = await startKubeStandIn({ deploymentReadyDelayMs: 20, glooStatusLagMs: 20 });
});
afterAll(async () => {
  await kube.close();
});
afterEach(() => {
  kube.faults.clear();
});

const health = {
  name: 'health',
  matchers: [{ exact: '/healthz' }],
  routeAction: { single: { upstream: { name: PRIMARY_UPSTREAM, namespace: GLOO_NS } } },
};
const weighted = {
  name: 'main',
  matchers: [{ prefix: '/api' }],
  routeAction: { multi: { destinations: [destination(PRIMARY_UPSTREAM, 100), destination(CANARY_UPSTREAM, 0)] } },
};
const groupRoute = {
  name: 'main',
  matchers: [{ prefix: '/api' }],
  routeAction: { upstreamGroup: { name: 'podinfo', namespace: GLOO_NS } },
};

function vs(routes: unknown[]): KubeObject {
  return {
    apiVersion: 'gateway.solo.io/v1',
    kind: 'VirtualService',
    metadata: { name: 'podinfo', namespace: GLOO_NS },
    spec: { virtualHost: { domains: ['*'], routes } },
  };
}

function routes(): Array<{ name?: string; matchers?: Array<Record<string, unknown>>; routeAction?: unknown }> {
  const object = kube.get('gateway.solo.io/v1', 'VirtualService', GLOO_NS, 'podinfo');
  return (object?.spec as { virtualHost: { routes: [] } }).virtualHost.routes;
}

async function seed(list: unknown[]): Promise<void> {
  kube.apply(upstream(PRIMARY_UPSTREAM));
  kube.apply(upstream(CANARY_UPSTREAM));
  kube.apply({
    apiVersion: 'gloo.solo.io/v1',
    kind: 'UpstreamGroup',
    metadata: { name: 'podinfo', namespace: GLOO_NS },
    spec: { destinations: [destination(PRIMARY_UPSTREAM, 100), destination(CANARY_UPSTREAM, 0)] },
  });
  kube.apply(vs(list));
  await until(
    () =>
      (kube.get('gateway.solo.io/v1', 'VirtualService', GLOO_NS, 'podinfo')?.status as { statuses?: object } | undefined)?.statuses !==
      undefined,
    'Gloo to judge the VirtualService',
  );
}

const abSpec = (router: Record<string, unknown>): RolloutSpec =>
  testSpec({ router, strategy: { iterations: 2, match: RULES }, analysis: { judge: 'threshold' } } as Parameters<typeof testSpec>[0]);
const routeRouter = (spec = abSpec({ kind: 'VirtualService', route: { virtualService: 'podinfo', namespace: GLOO_NS, index: 1 } })) =>
  new RouteRouter({ kubeConfig: kube.kubeConfig(), spec, ...FAST });
const groupRouter = () => new UpstreamGroupRouter({ kubeConfig: kube.kubeConfig(), spec: abSpec({}), ...FAST });

describe('the A/B marker route', () => {
  it('goes just ahead of the weighted route, on its path, and sends matching requests to the canary; removal leaves the list as it was', async () => {
    // Prepare
    await seed([health, weighted]);
    const router = routeRouter();
    await router.reconcile();
    // Act
    await router.setMatch(RULES);
    // Assess
    const list = routes();
    expect(list.map((r) => r.name)).toEqual(['health', MARKER, 'main']);
    expect(list[1]).toEqual({
      name: MARKER,
      matchers: [
        { prefix: '/api', headers: [{ name: 'x-canary', value: 'insider' }] },
        { prefix: '/api', queryParameters: [{ name: 'beta', value: '1' }] },
      ],
      routeAction: { single: { upstream: { name: CANARY_UPSTREAM, namespace: GLOO_NS } } },
    });
    const fits = (path: string, headers: Record<string, string>, query = '') =>
      glooRouteFits(list[1]?.matchers, { path, headers, query: new URLSearchParams(query) });
    expect([
      fits('/api/x', { 'x-canary': 'insider' }),
      fits('/api/x', {}, 'beta=1'),
      fits('/api/x', {}),
      fits('/other', { 'x-canary': 'insider' }),
    ]).toEqual([true, true, false, false]);
    // spec.router.route.index 1 still means the weighted route: marker routes do not count.
    await router.setWeights({ primary: 100, canary: 0 }, { primary: 100, canary: 0 });
    expect(await router.getWeights()).toEqual({ primary: 100, canary: 0 });

    await router.setMatch(null);
    expect(routes()).toEqual([health, weighted]);
  });

  it('is idempotent, replaces its own older copy, and never removes a route without its marker name', async () => {
    // Prepare: a person's own header route, and a stale copy of the marker from an earlier run.
    const personal = {
      name: 'sluice-like-but-mine',
      matchers: [{ prefix: '/api', headers: [{ name: 'x-team', value: 'qa' }] }],
      routeAction: weighted.routeAction,
    };
    const stale = {
      name: MARKER,
      matchers: [{ prefix: '/' }],
      routeAction: { single: { upstream: { name: CANARY_UPSTREAM, namespace: GLOO_NS } } },
    };
    await seed([stale, personal, weighted]);
    const router = routeRouter(abSpec({ kind: 'VirtualService', route: { virtualService: 'podinfo', namespace: GLOO_NS, name: 'main' } }));
    // Act
    await router.setMatch(RULES);
    const once = JSON.stringify(routes());
    await router.setMatch(RULES);
    // Assess
    expect(JSON.stringify(routes())).toBe(once);
    expect(routes().map((r) => r.name)).toEqual(['sluice-like-but-mine', MARKER, 'main']);
    await router.setMatch(null);
    await router.setMatch(null);
    expect(routes().map((r) => r.name)).toEqual(['sluice-like-but-mine', 'main']);
  });

  it('writes with the read resourceVersion: a concurrent edit answers 409 and the insert is recomputed from a fresh read', async () => {
    // Prepare
    await seed([health, weighted]);
    kube.faults.add({ verb: 'patch', resource: 'virtualservices', status: 409, times: 2 });
    // Act
    await routeRouter().setMatch(RULES);
    // Assess
    expect(routes().map((r) => r.name)).toEqual(['health', MARKER, 'main']);
    const patches = kube.audit().filter((entry) => entry.verb === 'patch' && entry.resource === 'virtualservices');
    expect(patches.slice(-3).map((entry) => entry.code)).toEqual([409, 409, 200]);
  });

  it('goes into a delegated RouteTable that carries the weights, ahead of its weighted route', async () => {
    // Prepare
    await seed([{ matchers: [{ prefix: '/' }], delegateAction: { ref: { name: 'podinfo-routes', namespace: GLOO_NS } } }]);
    kube.apply({
      apiVersion: 'gateway.solo.io/v1',
      kind: 'RouteTable',
      metadata: { name: 'podinfo-routes', namespace: GLOO_NS },
      spec: { routes: [weighted] },
    });
    const router = routeRouter(abSpec({ kind: 'RouteTable', route: { routeTable: 'podinfo-routes', namespace: GLOO_NS, index: 0 } }));
    const tableRoutes = () =>
      (kube.get('gateway.solo.io/v1', 'RouteTable', GLOO_NS, 'podinfo-routes')?.spec as { routes: Array<{ name?: string }> }).routes;
    // Act
    await router.setMatch(RULES);
    // Assess
    expect(tableRoutes().map((r) => r.name)).toEqual([MARKER, 'main']);
    expect(await router.getWeights()).toEqual({ primary: 100, canary: 0 });
    await router.setMatch(null);
    expect(tableRoutes()).toEqual([weighted]);
  });

  it('goes ahead of the route that sends traffic to an UpstreamGroup (router.route)', async () => {
    await seed([health, groupRoute]);
    await groupRouter().reconcile();

    await groupRouter().setMatch(RULES);

    expect(routes().map((r) => r.name)).toEqual(['health', MARKER, 'main']);
    await groupRouter().setMatch(null);
    expect(routes()).toEqual([health, groupRoute]);
  });

  it('refuses at preflight when a route ahead takes every request of the weighted route (Gloo uses the first match)', async () => {
    // Prepare
    const catchAll = {
      name: 'legacy',
      matchers: [{ prefix: '/' }],
      routeAction: { single: { upstream: { name: PRIMARY_UPSTREAM, namespace: GLOO_NS } } },
    };
    await seed([catchAll, groupRoute]);
    // Act
    const refused = await groupRouter()
      .reconcile()
      .catch((error: unknown) => error);
    // Assess
    expect(refused).toBeInstanceOf(RefusedError);
    expect((refused as Error).message).toMatch(/route 'legacy' comes before .*route 'main' and takes all of its requests/);
    await expect(groupRouter().setMatch(RULES)).rejects.toThrow(/takes all of its requests/);
    expect(routes().map((r) => r.name)).toEqual(['legacy', 'main']);
  });
});
