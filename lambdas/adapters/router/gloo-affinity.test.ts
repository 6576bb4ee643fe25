/**
 * Session affinity through the real @kubernetes/client-node against the Kubernetes API stand-in:
 * each side's Set-Cookie on the weighted destinations (WeightedDestinationOptions.headerManipulation),
 * the cookie route just ahead of the weighted route, and removal leaving the objects as they were
 * (a person's own headers kept), on both routers.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { affinityCookie } from '../../core/affinity.ts';
import { glooRouteFits } from '../../core/match.ts';
import type { RolloutSpec } from '../../core/spec.ts';
import { startKubeStandIn } from '../../../local/kube/stand-in.ts';
import type { KubeObject, KubeStandIn } from '../../../local/kube/stand-in.ts';
import { RouteRouter } from './gloo-route.ts';
import { UpstreamGroupRouter } from './gloo-upstream-group.ts';
import { CANARY_UPSTREAM, GLOO_NS, PRIMARY_UPSTREAM, destination, testSpec, until, upstream } from '../kube/cluster.fixtures.ts';

const FAST = { requestTimeoutMs: 2000, conflictRetry: { attempts: 5, baseDelayMs: 5 }, statusSettleMs: 150 };
const MARKER = 'sluice-affinity-podinfo';
const COOKIE = affinityCookie({ cookieName: 'canary-session', maxAge: 3600 }, 'exec-1');

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

/** A person's own response header on the primary: Sluice must keep it. */
const own = { header: { key: 'x-served-by', value: 'primary' }, append: true };
const primaryWithOwn = { ...destination(PRIMARY_UPSTREAM, 90), options: { headerManipulation: { responseHeadersToAdd: [own] } } };
const weighted = {
  name: 'main',
  matchers: [{ prefix: '/api' }],
  routeAction: { multi: { destinations: [primaryWithOwn, destination(CANARY_UPSTREAM, 10)] } },
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

type Route = { name?: string; matchers?: Array<Record<string, unknown>>; routeAction?: { multi?: { destinations: unknown[] } } };
const routes = (): Route[] =>
  (kube.get('gateway.solo.io/v1', 'VirtualService', GLOO_NS, 'podinfo')?.spec as { virtualHost: { routes: Route[] } }).virtualHost.routes;
const groupDestinations = () =>
  (kube.get('gloo.solo.io/v1', 'UpstreamGroup', GLOO_NS, 'podinfo')?.spec as { destinations: unknown[] }).destinations;

async function seed(list: unknown[]): Promise<void> {
  kube.apply(upstream(PRIMARY_UPSTREAM));
  kube.apply(upstream(CANARY_UPSTREAM));
  kube.apply({
    apiVersion: 'gloo.solo.io/v1',
    kind: 'UpstreamGroup',
    metadata: { name: 'podinfo', namespace: GLOO_NS },
    spec: { destinations: [primaryWithOwn, destination(CANARY_UPSTREAM, 10)] },
  });
  kube.apply(vs(list));
  await until(
    () =>
      (kube.get('gateway.solo.io/v1', 'VirtualService', GLOO_NS, 'podinfo')?.status as { statuses?: object } | undefined)?.statuses !==
      undefined,
    'Gloo to judge the VirtualService',
  );
}

const affinitySpec = (router: Record<string, unknown>): RolloutSpec =>
  testSpec({
    router,
    strategy: { stepWeights: [10, 50], sessionAffinity: { cookieName: 'canary-session', maxAge: 3600 } },
    analysis: { judge: 'threshold' },
  } as Parameters<typeof testSpec>[0]);

const setCookies = (d: unknown) =>
  (
    (d as { options?: { headerManipulation?: { responseHeadersToAdd?: Array<{ header: { key: string; value: string } }> } } }).options
      ?.headerManipulation?.responseHeadersToAdd ?? []
  )
    .filter((o) => o.header.key === 'Set-Cookie')
    .map((o) => o.header.value);

describe('session affinity on a route (VirtualService multi destinations)', () => {
  it('sets each side’s cookie and the cookie route ahead of the weighted route; removal leaves the route list as it was', async () => {
    // Prepare
    await seed([weighted]);
    const router = new RouteRouter({
      kubeConfig: kube.kubeConfig(),
      spec: affinitySpec({ kind: 'VirtualService', route: { virtualService: 'podinfo', namespace: GLOO_NS, name: 'main' } }),
      ...FAST,
    });
    await router.reconcile();
    // Act
    await router.setAffinity(COOKIE);
    await router.setAffinity(COOKIE); // idempotent: a retried SetWeight
    // Assess
    const list = routes();
    expect(list.map((r) => r.name)).toEqual([MARKER, 'main']);
    const [primary, canary] = list[1]?.routeAction?.multi?.destinations ?? [];
    expect(setCookies(canary)).toEqual([`canary-session=${COOKIE.value}; Max-Age=3600; Path=/`]);
    expect(setCookies(primary)).toEqual(['canary-session=; Max-Age=0; Path=/']);
    expect((primary as typeof primaryWithOwn).options.headerManipulation.responseHeadersToAdd[0]).toEqual(own);
    const fits = (cookie: string | undefined, path = '/api/x') =>
      glooRouteFits(list[0]?.matchers, { path, headers: cookie === undefined ? {} : { cookie }, query: new URLSearchParams() });
    expect([
      fits(`canary-session=${COOKIE.value}`),
      fits(`theme=dark; canary-session=${COOKIE.value}; lang=en`),
      fits('canary-session=0000000000000000'),
      fits(`xcanary-session=${COOKIE.value}`),
      fits(undefined),
      fits(`canary-session=${COOKIE.value}`, '/other'),
    ]).toEqual([true, true, false, false, false, false]);
    // The weights still move on the weighted route, headers kept.
    await router.setWeights({ primary: 50, canary: 50 }, { primary: 90, canary: 10 });
    expect(setCookies(routes()[1]?.routeAction?.multi?.destinations[1])).toHaveLength(1);

    await router.setAffinity(null);
    await router.setAffinity(null);
    const after = routes();
    expect(after.map((r) => r.name)).toEqual(['main']);
    expect(after[0]?.routeAction?.multi?.destinations).toEqual([{ ...primaryWithOwn, weight: 50 }, destination(CANARY_UPSTREAM, 50)]);
  });
});

describe('session affinity with an UpstreamGroup', () => {
  it('puts the Set-Cookie on the group’s destinations and the cookie route in the named VirtualService; removal takes both off', async () => {
    await seed([groupRoute]);
    const router = new UpstreamGroupRouter({
      kubeConfig: kube.kubeConfig(),
      spec: affinitySpec({ route: { virtualService: 'podinfo', namespace: GLOO_NS, name: 'main' } }),
      ...FAST,
    });
    await router.reconcile();

    await router.setAffinity(COOKIE);

    expect(routes().map((r) => r.name)).toEqual([MARKER, 'main']);
    expect(routes()[0]?.routeAction).toEqual({ single: { upstream: { name: CANARY_UPSTREAM, namespace: GLOO_NS } } });
    expect(groupDestinations().map(setCookies)).toEqual([
      ['canary-session=; Max-Age=0; Path=/'],
      [`canary-session=${COOKIE.value}; Max-Age=3600; Path=/`],
    ]);

    await router.setAffinity(null);
    expect(routes()).toEqual([groupRoute]);
    expect(groupDestinations()).toEqual([primaryWithOwn, destination(CANARY_UPSTREAM, 10)]);
  });

  it('retries a 409 on a fresh read; a failed route removal keeps the cookies, so a retried removal finds and removes both', async () => {
    // Prepare
    await seed([groupRoute]);
    const router = new UpstreamGroupRouter({
      kubeConfig: kube.kubeConfig(),
      spec: affinitySpec({ route: { virtualService: 'podinfo', namespace: GLOO_NS, name: 'main' } }),
      ...FAST,
    });
    kube.faults.add({ verb: 'patch', resource: 'upstreamgroups', status: 409, times: 2 });
    // Act: the headers go on through two conflicts.
    await router.setAffinity(COOKIE);
    // Assess
    expect(groupDestinations().map(setCookies).flat()).toHaveLength(2);
    expect(routes().map((r) => r.name)).toEqual([MARKER, 'main']);

    // Act: the API fails the route removal; nothing after it runs.
    kube.faults.add({ verb: 'patch', resource: 'virtualservices', status: 500, times: 1 });
    await expect(router.setAffinity(null)).rejects.toThrow();
    // Assess: the route and the cookies are still there together (the holders still reach the canary they hold)…
    expect(routes().map((r) => r.name)).toEqual([MARKER, 'main']);
    expect(groupDestinations().map(setCookies).flat()).toHaveLength(2);
    // …and the retry (Rollback's, the reconciler's) removes both.
    await router.setAffinity(null);
    expect(routes()).toEqual([groupRoute]);
    expect(groupDestinations()).toEqual([primaryWithOwn, destination(CANARY_UPSTREAM, 10)]);
  });

  it('never writes its headers over weights someone else wrote: ConflictError, the group untouched', async () => {
    await seed([groupRoute]);
    const router = new UpstreamGroupRouter({
      kubeConfig: kube.kubeConfig(),
      spec: affinitySpec({ route: { virtualService: 'podinfo', namespace: GLOO_NS, name: 'main' } }),
      ...FAST,
    });
    const before = kube.get('gloo.solo.io/v1', 'UpstreamGroup', GLOO_NS, 'podinfo')?.metadata.resourceVersion;

    // The group holds 90/10; Sluice last wrote 50/50.
    await expect(router.setAffinity(COOKIE, { expected: { primary: 50, canary: 50 } })).rejects.toThrow(
      /holds primary 90 \/ canary 10, but Sluice last wrote primary 50 \/ canary 50: someone else is steering/,
    );

    expect(kube.get('gloo.solo.io/v1', 'UpstreamGroup', GLOO_NS, 'podinfo')?.metadata.resourceVersion).toBe(before);
    expect(routes()).toEqual([groupRoute]);
  });

  it('refuses without spec.router.route, naming the field, and changes nothing', async () => {
    await seed([groupRoute]);
    const spec = affinitySpec({ route: undefined });
    const router = new UpstreamGroupRouter({ kubeConfig: kube.kubeConfig(), spec, ...FAST });

    await expect(router.setAffinity(COOKIE)).rejects.toThrow(/session affinity needs the route .*: set spec\.router\.route/);
    expect(groupDestinations()).toEqual([primaryWithOwn, destination(CANARY_UPSTREAM, 10)]);
  });
});
