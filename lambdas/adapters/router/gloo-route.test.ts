/**
 * The route-level router (VirtualService / RouteTable `routeAction.multi`) through the real
 * @kubernetes/client-node against the Kubernetes API stand-in.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, RefusedError, TransientError } from '../../core/errors.ts';
import type { Weights } from '../../core/records.ts';
import type { RolloutSpec } from '../../core/spec.ts';
import { startKubeStandIn } from '../../../local/kube/stand-in.ts';
import type { KubeObject, KubeStandIn } from '../../../local/kube/stand-in.ts';
import { RouteRouter } from './gloo-route.ts';
import type { GlooRouterOptions } from './gloo-route.ts';
import { CANARY_UPSTREAM, GLOO_NS, PRIMARY_UPSTREAM, destination, testSpec, until, upstream } from '../kube/cluster.fixtures.ts';

/** Gloo's status lag shortened for speed (the stand-in's default is Gloo's ~1 s), and Sluice's settle time above it. */
const LAG_MS = 20;
const FAST = { requestTimeoutMs: 2000, conflictRetry: { attempts: 5, baseDelayMs: 5 }, statusSettleMs: 150 };
const start: Weights = { primary: 100, canary: 0 };
const step: Weights = { primary: 95, canary: 5 };

let kube: KubeStandIn;

beforeAll(async () => {
  kube = await startKubeStandIn({ deploymentReadyDelayMs: 20, glooStatusLagMs: LAG_MS });
});
afterAll(async () => {
  await kube.close();
});
afterEach(() => {
  kube.faults.clear();
});

const otherRoute = {
  name: 'health',
  matchers: [{ exact: '/healthz' }],
  routeAction: { single: { upstream: { name: PRIMARY_UPSTREAM, namespace: GLOO_NS } } },
};
const multiRoute = (weights: Weights, name: string | undefined = 'main') => ({
  ...(name ? { name } : {}),
  matchers: [{ prefix: '/' }],
  routeAction: { multi: { destinations: [destination(PRIMARY_UPSTREAM, weights.primary), destination(CANARY_UPSTREAM, weights.canary)] } },
});

function routeObject(kind: 'VirtualService' | 'RouteTable', routes: unknown[]): KubeObject {
  return kind === 'VirtualService'
    ? {
        apiVersion: 'gateway.solo.io/v1',
        kind,
        metadata: { name: 'podinfo', namespace: GLOO_NS },
        spec: { virtualHost: { domains: ['*'], routes } },
      }
    : { apiVersion: 'gateway.solo.io/v1', kind, metadata: { name: 'podinfo-routes', namespace: GLOO_NS }, spec: { routes } };
}

function storedRoutes(kind: 'VirtualService' | 'RouteTable'): Array<Record<string, unknown>> {
  const object = kube.get('gateway.solo.io/v1', kind, GLOO_NS, kind === 'VirtualService' ? 'podinfo' : 'podinfo-routes');
  const spec = object?.spec as { virtualHost?: { routes: Array<Record<string, unknown>> }; routes?: Array<Record<string, unknown>> };
  return (kind === 'VirtualService' ? spec.virtualHost?.routes : spec.routes) ?? [];
}

function specFor(
  kind: 'VirtualService' | 'RouteTable',
  route: { name?: string; index?: number } = { name: 'main' },
  extra: Partial<Parameters<typeof testSpec>[0]> = {},
): RolloutSpec {
  const ref = kind === 'VirtualService' ? { virtualService: 'podinfo' } : { routeTable: 'podinfo-routes' };
  return testSpec({ ...extra, router: { kind, route: { ...ref, namespace: GLOO_NS, ...route }, ...extra.router } });
}

function delegatingVs(name: string, routes: unknown[], namespace = GLOO_NS): KubeObject {
  return {
    apiVersion: 'gateway.solo.io/v1',
    kind: 'VirtualService',
    metadata: { name, namespace },
    spec: { virtualHost: { domains: ['*'], routes } },
  };
}

async function seed(kind: 'VirtualService' | 'RouteTable', routes: unknown[]): Promise<void> {
  kube.apply(upstream(PRIMARY_UPSTREAM));
  kube.apply(upstream(CANARY_UPSTREAM));
  kube.apply(routeObject(kind, routes));
  const name = kind === 'VirtualService' ? 'podinfo' : 'podinfo-routes';
  // A RouteTable carries traffic only through a VirtualService that delegates to it (Gloo's model).
  if (kind === 'RouteTable')
    kube.apply(delegatingVs('podinfo-gateway', [{ matchers: [{ prefix: '/' }], delegateAction: { ref: { name } } }]));
  await until(
    () => (kube.get('gateway.solo.io/v1', kind, GLOO_NS, name)?.status as { statuses?: object } | undefined)?.statuses !== undefined,
    `Gloo to judge the ${kind}`,
  );
}

for (const kind of ['VirtualService', 'RouteTable'] as const) {
  describe(`RouteRouter on a ${kind}`, () => {
    const router = (overrides: Partial<GlooRouterOptions> = {}) =>
      new RouteRouter({ kubeConfig: kube.kubeConfig(), spec: specFor(kind), ...FAST, ...overrides });

    beforeEach(async () => {
      await seed(kind, [otherRoute, multiRoute(start)]);
    });

    it('moves the weights of the named route and leaves the other routes as they were', async () => {
      await router().reconcile();

      await router().setWeights(step, start);

      const routes = storedRoutes(kind);
      expect(routes[0]).toEqual(otherRoute);
      expect(routes[1]).toEqual(multiRoute(step));
      expect(await router().getWeights()).toEqual(step);
    });

    it('finds the route by index, or as the only multi route to the primary, when it has no name', async () => {
      await seed(kind, [otherRoute, multiRoute(start, undefined)]);

      await router({ spec: specFor(kind, { index: 1 }) }).setWeights(step, start);
      await router({ spec: specFor(kind, {}) }).setWeights({ primary: 80, canary: 20 }, step);

      expect(storedRoutes(kind)[1]).toEqual(multiRoute({ primary: 80, canary: 20 }, undefined));
    });

    it('retries through a 409 storm and stops with ConflictError when someone else moved the weights', async () => {
      kube.faults.add({ verb: 'patch', status: 409, times: 2 });
      await router().setWeights(step, start);
      kube.apply(routeObject(kind, [otherRoute, multiRoute({ primary: 60, canary: 40 })]));

      const error = await router()
        .setWeights({ primary: 90, canary: 10 }, step)
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(ConflictError);
      expect((error as Error).message).toMatch(
        new RegExp(`${kind} gloo-system/podinfo(-routes)? holds primary 60 / canary 40, but Sluice last wrote primary 95 / canary 5`),
      );
      expect(storedRoutes(kind)[1]).toEqual(multiRoute({ primary: 60, canary: 40 }));
    });

    it('reports a 5xx as transient with the weights unchanged', async () => {
      kube.faults.add({ verb: 'patch', status: 502 });

      const error = await router()
        .setWeights(step, start)
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(TransientError);
      expect((error as Error).message).toMatch(new RegExp(`${kind} gloo-system/podinfo(-routes)? patch failed: 502`));
      expect(storedRoutes(kind)[1]).toEqual(multiRoute(start));
    });

    it('refuses, naming the object, when the route is missing or has no multi destinations', async () => {
      const missing = await router({ spec: specFor(kind, { name: 'nope' }) })
        .reconcile()
        .catch((e: unknown) => e);
      await seed(kind, [{ ...otherRoute, name: 'main' }]);
      const single = await router()
        .reconcile()
        .catch((e: unknown) => e);

      expect(missing).toBeInstanceOf(RefusedError);
      expect((missing as Error).message).toMatch(
        new RegExp(`${kind} gloo-system/podinfo(-routes)? has no route named 'nope' \\(spec.router.route.name\\)`),
      );
      expect(single).toBeInstanceOf(RefusedError);
      expect((single as Error).message).toMatch(/route 'main' has no routeAction.multi destinations/);
    });

    it('refuses when the object itself is missing', async () => {
      const spec = testSpec({
        router: {
          kind,
          route: {
            ...(kind === 'VirtualService' ? { virtualService: 'absent' } : { routeTable: 'absent' }),
            namespace: GLOO_NS,
            name: 'main',
          },
        },
      });

      const error = await router({ spec })
        .reconcile()
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(RefusedError);
      expect((error as Error).message).toMatch(new RegExp(`${kind} gloo-system/absent not found`));
    });

    it('with route promotion, preflight only reads; the first weight write adds the new canary upstream', async () => {
      kube.apply(upstream('podinfo-v3'));
      const spec = specFor(
        kind,
        { name: 'main' },
        { promotion: 'route', workload: undefined, router: { canary: { upstream: { name: 'podinfo-v3', namespace: GLOO_NS } } } },
      );
      const writesBefore = kube.audit().length;

      await router({ spec }).reconcile();

      expect(kube.audit().length).toBe(writesBefore);
      expect(await router({ spec }).getWeights()).toEqual(start);

      await router({ spec }).setWeights(step, start);

      expect(storedRoutes(kind)[1]).toEqual({
        ...multiRoute(start),
        routeAction: { multi: { destinations: [destination(PRIMARY_UPSTREAM, 95), destination('podinfo-v3', 5)] } },
      });
    });

    it('sets and removes shadowing on its route', async () => {
      await router().setShadow({ percentage: 25 });
      const shadowed = storedRoutes(kind)[1];
      await router().setShadow(null);

      expect(shadowed?.options).toEqual({ shadowing: { upstream: { name: CANARY_UPSTREAM, namespace: GLOO_NS }, percentage: 25 } });
      expect(storedRoutes(kind)).toEqual([otherRoute, multiRoute(start)]);
    });
  });
}

describe('RouteRouter on a RouteTable named with its VirtualService: preflight checks the delegation', () => {
  const spec = () =>
    testSpec({
      router: { kind: 'RouteTable', route: { routeTable: 'podinfo-routes', virtualService: 'podinfo', namespace: GLOO_NS, name: 'main' } },
    });
  const router = () => new RouteRouter({ kubeConfig: kube.kubeConfig(), spec: spec(), ...FAST });
  const vsWith = (routes: unknown[]): KubeObject => ({
    apiVersion: 'gateway.solo.io/v1',
    kind: 'VirtualService',
    metadata: { name: 'podinfo', namespace: GLOO_NS },
    spec: { virtualHost: { domains: ['*'], routes } },
  });

  beforeEach(async () => {
    await seed('RouteTable', [otherRoute, multiRoute(start)]);
  });

  it('passes when a VirtualService route delegates to the table (by ref, or by the older name/namespace)', async () => {
    kube.apply(vsWith([{ matchers: [{ prefix: '/' }], delegateAction: { ref: { name: 'podinfo-routes', namespace: GLOO_NS } } }]));
    await expect(router().reconcile()).resolves.toBeUndefined();
    kube.apply(vsWith([{ matchers: [{ prefix: '/' }], delegateAction: { name: 'podinfo-routes', namespace: GLOO_NS } }]));
    await expect(router().reconcile()).resolves.toBeUndefined();
  });

  it('refuses, naming both objects, when the VirtualService delegates elsewhere or not at all; nothing is written', async () => {
    kube.apply(
      vsWith([{ matchers: [{ prefix: '/' }], delegateAction: { ref: { name: 'other-routes', namespace: GLOO_NS } } }, otherRoute]),
    );
    const before = storedRoutes('RouteTable');
    const error = await router()
      .reconcile()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RefusedError);
    expect((error as Error).message).toBe(
      `VirtualService ${GLOO_NS}/podinfo has no route delegating to RouteTable ${GLOO_NS}/podinfo-routes (delegateAction): traffic would not reach the table's weights`,
    );
    expect(storedRoutes('RouteTable')).toEqual(before);
  });
});

describe('RouteRouter on a RouteTable without a named VirtualService: preflight finds the delegation by listing', () => {
  const router = (token?: string) =>
    new RouteRouter({
      kubeConfig: kube.kubeConfig(token),
      spec: testSpec({ router: { kind: 'RouteTable', route: { routeTable: 'podinfo-routes', namespace: GLOO_NS, name: 'main' } } }),
      ...FAST,
    });
  const table = (labels: Record<string, string>): KubeObject => ({
    ...routeObject('RouteTable', [otherRoute, multiRoute(start)]),
    metadata: { name: 'podinfo-routes', namespace: GLOO_NS, labels },
  });
  const delegating = (delegateAction: unknown) => [{ matchers: [{ prefix: '/' }], delegateAction }];
  const refused = async (token?: string) => {
    const error = await router(token)
      .reconcile()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RefusedError);
    return (error as Error).message;
  };

  beforeEach(async () => {
    await seed('RouteTable', [otherRoute, multiRoute(start)]);
    // Only the VirtualServices each test adds delegate: the seeded gateway stops delegating.
    kube.apply(delegatingVs('podinfo-gateway', [otherRoute]));
    kube.apply(table({ app: 'podinfo', tier: 'web', rank: '3' }));
  });

  it('passes when a VirtualService in another namespace delegates by ref', async () => {
    kube.apply(delegatingVs('edge', delegating({ ref: { name: 'podinfo-routes', namespace: GLOO_NS } }), 'edge'));
    await expect(router().reconcile()).resolves.toBeUndefined();
    kube.apply(delegatingVs('edge', [otherRoute], 'edge'));
  });

  it('passes when a selector picks the table by labels or by expressions, and refuses a selector that does not', async () => {
    kube.apply(delegatingVs('podinfo-gateway', delegating({ selector: { labels: { app: 'podinfo' } } })));
    await expect(router().reconcile()).resolves.toBeUndefined();
    kube.apply(
      delegatingVs(
        'podinfo-gateway',
        delegating({
          selector: {
            expressions: [
              { key: 'tier', operator: 'In', values: ['web', 'api'] },
              { key: 'rank', operator: 'GreaterThan', values: ['2'] },
            ],
          },
        }),
      ),
    );
    await expect(router().reconcile()).resolves.toBeUndefined();
    // Another namespace: without `namespaces` a selector only looks in the VirtualService's own.
    kube.apply(delegatingVs('podinfo-gateway', [otherRoute]));
    kube.apply(delegatingVs('edge', delegating({ selector: { labels: { app: 'podinfo' } } }), 'edge'));
    expect(await refused()).toBe(
      `no VirtualService delegates to RouteTable ${GLOO_NS}/podinfo-routes (delegateAction ref or selector, directly or through other RouteTables): traffic would not reach the table's weights`,
    );
    kube.apply(delegatingVs('edge', delegating({ selector: { labels: { app: 'podinfo' }, namespaces: ['*'] } }), 'edge'));
    await expect(router().reconcile()).resolves.toBeUndefined();
    kube.apply(delegatingVs('edge', [otherRoute], 'edge'));
  });

  it('follows a chain VirtualService -> RouteTable -> the table', async () => {
    kube.apply({
      apiVersion: 'gateway.solo.io/v1',
      kind: 'RouteTable',
      metadata: { name: 'team-routes', namespace: GLOO_NS },
      spec: { routes: delegating({ ref: { name: 'podinfo-routes' } }) },
    });
    expect(await refused()).toMatch(/^no VirtualService delegates to RouteTable/);
    kube.apply(delegatingVs('podinfo-gateway', delegating({ ref: { name: 'team-routes' } })));

    await expect(router().reconcile()).resolves.toBeUndefined();
  });

  it('refuses when RBAC forbids the list, asking for the VirtualService by name; nothing is written', async () => {
    kube.addToken('no-list', [
      { apiGroups: ['gloo.solo.io'], resources: ['upstreams'], verbs: ['get'] },
      { apiGroups: ['gateway.solo.io'], resources: ['routetables'], verbs: ['get', 'patch'] },
    ]);
    const before = storedRoutes('RouteTable');

    const message = await refused('no-list');

    expect(message).toMatch(/virtualservices.*403|403.*virtualservices|forbidden/i);
    expect(message).toContain('or name the delegating VirtualService in spec.router.route.virtualService');
    expect(storedRoutes('RouteTable')).toEqual(before);
  });
});
