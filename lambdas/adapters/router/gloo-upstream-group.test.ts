/**
 * The UpstreamGroup router through the real @kubernetes/client-node against the Kubernetes API
 * stand-in (always), and against a real cluster when KUBECONFIG is set (a separate describe at
 * the end, registered only then: it needs Gloo's CRDs installed and creates its own objects).
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import { ConflictError, RefusedError, TransientError } from '../../core/errors.ts';
import { startKubeStandIn } from '../../../local/kube/stand-in.ts';
import type { KubeStandIn } from '../../../local/kube/stand-in.ts';
import { UpstreamGroupRouter } from './gloo-upstream-group.ts';
import { WRITER_ANNOTATION } from './gloo-weights.ts';
import type { GlooRouterOptions } from './gloo-route.ts';
import type { RolloutSpec } from '../../core/spec.ts';
import {
  CANARY_UPSTREAM,
  GLOO_NS,
  PRIMARY_UPSTREAM,
  destination,
  glooSettled,
  groupWith,
  seedGloo,
  storedDestinations,
  testSpec,
  until,
  upstream,
  upstreamGroup,
  virtualService,
} from '../kube/cluster.fixtures.ts';

/** Gloo's status lag shortened for speed (the stand-in's default is Gloo's ~1 s), and Sluice's settle time above it. */
const LAG_MS = 20;
const FAST = { requestTimeoutMs: 2000, conflictRetry: { attempts: 5, baseDelayMs: 5 }, statusSettleMs: 150 };

let kube: KubeStandIn;

beforeAll(async () => {
  kube = await startKubeStandIn({ deploymentReadyDelayMs: 20, glooStatusLagMs: LAG_MS });
});
afterAll(async () => {
  await kube.close();
});
beforeEach(async () => {
  seedGloo(kube);
  await glooSettled(kube);
});
afterEach(() => {
  kube.faults.clear();
  kube.gloo.accept('UpstreamGroup', GLOO_NS, 'podinfo');
});

function router(overrides: Partial<GlooRouterOptions> = {}): UpstreamGroupRouter {
  return new UpstreamGroupRouter({ kubeConfig: kube.kubeConfig(), spec: testSpec(), ...FAST, ...overrides });
}

const start = { primary: 100, canary: 0 };
const step = { primary: 90, canary: 10 };

describe('UpstreamGroupRouter.setWeights', () => {
  it('writes the new weights, replacing the destination list whole', async () => {
    // Prepare: an extra field on a destination must survive the rewrite.
    kube.apply(
      upstreamGroup([{ ...destination(PRIMARY_UPSTREAM, 100), options: { headerManipulation: {} } }, destination(CANARY_UPSTREAM, 0)]),
    );

    // Act
    await router().setWeights(step, start);

    // Assess
    expect(storedDestinations(kube)).toEqual([
      { ...destination(PRIMARY_UPSTREAM, 90), options: { headerManipulation: {} } },
      destination(CANARY_UPSTREAM, 10),
    ]);
    expect(await router().getWeights()).toEqual(step);
  });

  it('names the writing execution on the group, so two executions of one target are told apart in the audit log', async () => {
    // Prepare: two executions of the same target share its token.
    const first = router({ writer: 'podinfo-v2' });
    const second = router({ writer: 'podinfo-v2-a2' });

    // Act
    await first.setWeights(step, start);
    await second.setWeights(start, step);

    // Assess: the object says who wrote it last; each audited write says who made it.
    const annotations = (kube.get('gloo.solo.io/v1', 'UpstreamGroup', GLOO_NS, 'podinfo')?.metadata as { annotations?: object })
      .annotations;
    expect(annotations).toEqual({ [WRITER_ANNOTATION]: 'podinfo-v2-a2' });
    const writes = kube.audit().filter((a) => a.resource === 'upstreamgroups' && a.verb === 'patch' && a.code === 200);
    expect(writes.slice(-2).map((a) => a.annotations?.[WRITER_ANNOTATION])).toEqual(['podinfo-v2', 'podinfo-v2-a2']);
  });

  it('waits the Retry-After a throttled (429) request asks for, then carries on', async () => {
    // Kubernetes docs, "API Priority and Fairness": a rejected request gets 429 with Retry-After.
    kube.faults.add({ verb: 'patch', resource: 'upstreamgroups', status: 429, retryAfterSeconds: 1, times: 1 });
    const started = Date.now();

    await router().setWeights(step, start);

    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(await router().getWeights()).toEqual(step);
  });

  it('gives up on throttling that does not end as transient (the state machine retries later)', async () => {
    kube.faults.add({ verb: 'get', resource: 'upstreamgroups', status: 429, retryAfterSeconds: 0 });

    const error = await router()
      .getWeights()
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toMatch(/^UpstreamGroup gloo-system\/podinfo get failed: 429/);
  });

  it('retries through a 409 storm while the group still holds what Sluice last wrote', async () => {
    kube.faults.add({ verb: 'patch', resource: 'upstreamgroups', status: 409, times: 3 });

    await router().setWeights(step, start);

    expect(await router().getWeights()).toEqual(step);
  });

  it('gives up on an endless 409 storm as transient, leaving the weights alone', async () => {
    kube.faults.add({ verb: 'patch', resource: 'upstreamgroups', status: 409 });

    const error = await router()
      .setWeights(step, start)
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toMatch(/UpstreamGroup gloo-system\/podinfo patch failed: 409 conflict on 5 attempts/);
    expect(await router().getWeights()).toEqual(start);
  });

  it('stops with ConflictError, writing nothing, when someone else changed the weights', async () => {
    kube.apply(groupWith({ primary: 50, canary: 50 }));
    await glooSettled(kube);
    const before = kube.get('gloo.solo.io/v1', 'UpstreamGroup', GLOO_NS, 'podinfo')?.metadata.resourceVersion;

    const error = await router()
      .setWeights(step, start)
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ConflictError);
    expect((error as Error).message).toMatch(
      /UpstreamGroup gloo-system\/podinfo holds primary 50 \/ canary 50, but Sluice last wrote primary 100 \/ canary 0: someone else is steering/,
    );
    expect(kube.get('gloo.solo.io/v1', 'UpstreamGroup', GLOO_NS, 'podinfo')?.metadata.resourceVersion).toBe(before);
  });

  it('stops with ConflictError when someone else writes between its read and its write', async () => {
    // Prepare: hold the patch long enough for another writer to move the weights under it.
    kube.faults.add({ verb: 'patch', resource: 'upstreamgroups', delayMs: 300, times: 1 });
    setTimeout(() => kube.apply(groupWith({ primary: 70, canary: 30 })), 100);

    const error = await router()
      .setWeights(step, start)
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ConflictError);
    expect(await router().getWeights()).toEqual({ primary: 70, canary: 30 });
  });

  it('treats a group already at the new weights as done (a retried write that landed)', async () => {
    kube.apply(groupWith(step));
    await glooSettled(kube);
    const before = kube.get('gloo.solo.io/v1', 'UpstreamGroup', GLOO_NS, 'podinfo')?.metadata.resourceVersion;

    await router().setWeights(step, start);

    expect(kube.get('gloo.solo.io/v1', 'UpstreamGroup', GLOO_NS, 'podinfo')?.metadata.resourceVersion).toBe(before);
  });

  it.each([
    ['an API 5xx', { status: 503 }, /UpstreamGroup gloo-system\/podinfo patch failed: 503/],
    ['a timeout', { delayMs: 1500, status: 504 }, /UpstreamGroup gloo-system\/podinfo patch failed: timed out/],
    ['a dropped connection', { drop: true }, /UpstreamGroup gloo-system\/podinfo patch failed: connection failed/],
  ])('reports %s as transient and leaves the weights unchanged', async (_what, fault, message) => {
    kube.faults.add({ verb: 'patch', resource: 'upstreamgroups', ...fault });

    const error = await router({ requestTimeoutMs: 300 })
      .setWeights(step, start)
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toMatch(message);
    kube.faults.clear();
    expect(await router().getWeights()).toEqual(start);
  });

  it('names the verb and resource when RBAC refuses the patch, without calling it transient', async () => {
    kube.addToken('read-only', [{ verbs: ['get'], apiGroups: ['gloo.solo.io'], resources: ['upstreamgroups'] }]);

    const error = await router({ kubeConfig: kube.kubeConfig('read-only') })
      .setWeights(step, start)
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(TransientError);
    expect((error as Error).message).toMatch(/^forbidden: patch upstreamgroups gloo-system\/podinfo — check the sluice:orchestrator RBAC/);
    expect(await router().getWeights()).toEqual(start);
  });

  it("reports a write Gloo's strict validation webhook denies with Gloo's reason, not as an RBAC problem", async () => {
    kube.faults.add({
      verb: 'patch',
      resource: 'upstreamgroups',
      admissionDenial: 'resource incompatible with current Gloo snapshot: [destination weights]',
    });

    const error = await router()
      .setWeights(step, start)
      .catch((e: unknown) => e);

    expect(error).not.toBeInstanceOf(TransientError);
    expect((error as Error).message).toBe(
      "UpstreamGroup gloo-system/podinfo patch refused by gloo.gloo-system.svc (Gloo's validating admission webhook, strict validation): resource incompatible with current Gloo snapshot: [destination weights]",
    );
    expect(await router().getWeights()).toEqual(start);
  });

  it("fails with Gloo's reason when Gloo rejects the group, and puts the old weights back", async () => {
    kube.gloo.reject('UpstreamGroup', GLOO_NS, 'podinfo', 'destination # 2: upstream is bogus');

    const error = await router()
      .setWeights(step, start)
      .catch((e: unknown) => e);

    expect((error as Error).message).toMatch(
      /UpstreamGroup gloo-system\/podinfo was rejected by Gloo after Sluice wrote primary 90 \/ canary 10: destination # 2: upstream is bogus; reverted to primary 100 \/ canary 0/,
    );
    expect(await router().getWeights()).toEqual(start);
  });

  it('waits for a status Gloo writes after the write: a Rejected reported a second later still fails it (default settle)', async () => {
    // Gloo writes statuses asynchronously, about once a second, and its status carries no
    // generation: a read 200 ms after the write (the old settle) saw the previous Accepted.
    kube.gloo.setStatusLagMs(1000);
    try {
      const writes: number[] = [];
      const stop = kube.onChange(({ object }) => {
        if (object.kind === 'UpstreamGroup' && (object.spec as { destinations: { weight: number }[] }).destinations[1]?.weight === 10)
          writes.push(Date.now());
      });
      const slow = new UpstreamGroupRouter({
        kubeConfig: kube.kubeConfig(),
        spec: testSpec(),
        requestTimeoutMs: 2000,
        conflictRetry: { attempts: 5, baseDelayMs: 5 },
      });
      const pending = slow.setWeights(step, start).catch((e: unknown) => e);
      await until(() => writes.length > 0, 'the write');
      kube.gloo.reject('UpstreamGroup', GLOO_NS, 'podinfo', 'destination weights refused by the translator');

      const error = await pending;
      stop();

      expect((error as Error).message).toMatch(
        /rejected by Gloo after Sluice wrote primary 90 \/ canary 10: destination weights refused by the translator; reverted to primary 100 \/ canary 0/,
      );
    } finally {
      kube.gloo.setStatusLagMs(LAG_MS);
    }
  });

  it('fails a write whose error Gloo reports on the VirtualService that routes to the group, and reverts it', async () => {
    // An error caused by an UpstreamGroup's weights is reported where the group is used.
    kube.gloo.reject('VirtualService', GLOO_NS, 'podinfo', 'route 1: upstream group gloo-system/podinfo: weighted destinations refused');

    const error = await router()
      .setWeights(step, start)
      .catch((e: unknown) => e);
    kube.gloo.accept('VirtualService', GLOO_NS, 'podinfo');

    expect((error as Error).message).toBe(
      'UpstreamGroup gloo-system/podinfo was rejected by Gloo after Sluice wrote primary 90 / canary 10 (reported on VirtualService gloo-system/podinfo): route 1: upstream group gloo-system/podinfo: weighted destinations refused; reverted to primary 100 / canary 0',
    );
    expect(await router().getWeights()).toEqual(start);
  });

  it('leaves an all-on-one-side write in place when Gloo rejects it, rather than half-shift back', async () => {
    kube.apply(groupWith(step));
    await glooSettled(kube);
    kube.gloo.reject('UpstreamGroup', GLOO_NS, 'podinfo', 'upstream gone');

    const error = await router()
      .setWeights(start, step)
      .catch((e: unknown) => e);

    expect((error as Error).message).toMatch(
      /rejected by Gloo after Sluice wrote primary 100 \/ canary 0: upstream gone; left at primary 100 \/ canary 0/,
    );
    expect(await router().getWeights()).toEqual(start);
  });

  it('refuses an all-zero total before any API call', async () => {
    // Prepare: every request would fail as transient, so a call made would show.
    kube.faults.add({ status: 500 });

    const error = await router()
      .setWeights({ primary: 0, canary: 0 }, start)
      .catch((e: unknown) => e);

    expect(error).not.toBeInstanceOf(TransientError);
    expect((error as Error).message).toMatch(
      /refusing to write primary 0 \/ canary 0 to UpstreamGroup gloo-system\/podinfo: Gloo rejects an all-zero total/,
    );
  });

  it('writes per-mille weights with weightScale 1000 and refuses weights off that scale', async () => {
    kube.apply(groupWith({ primary: 1000, canary: 0 }));
    const perMille = router({ spec: testSpec({ router: { weightScale: 1000 } }) });

    await perMille.setWeights({ primary: 999, canary: 1 }, { primary: 1000, canary: 0 });
    const offScale = await perMille.setWeights({ primary: 90, canary: 10 }, { primary: 999, canary: 1 }).catch((e: unknown) => e);

    expect(storedDestinations(kube)).toEqual([destination(PRIMARY_UPSTREAM, 999), destination(CANARY_UPSTREAM, 1)]);
    expect((offScale as Error).message).toMatch(/must add up to the weight scale 1000/);
  });
});

describe('UpstreamGroupRouter.reconcile', () => {
  it('accepts a group that fits the spec and is routed', async () => {
    await expect(router().reconcile()).resolves.toBeUndefined();
  });

  it('accepts a group routed by some VirtualService when the spec names no route', async () => {
    const spec = testSpec({ router: { route: undefined } });
    await expect(router({ spec }).reconcile()).resolves.toBeUndefined();
  });

  const singleRoute = [
    { name: 'main', matchers: [{ prefix: '/' }], routeAction: { single: { upstream: { name: PRIMARY_UPSTREAM, namespace: GLOO_NS } } } },
  ];

  it.each<[string, () => Promise<RolloutSpec>, RegExp]>([
    [
      'the group is missing',
      async () => testSpec({ router: { name: 'missing' } }),
      /UpstreamGroup gloo-system\/missing not found \(spec.router.name\)/,
    ],
    [
      'the group lists other upstreams',
      async () => {
        kube.apply(upstreamGroup([destination(PRIMARY_UPSTREAM, 100), destination('someone-else', 0)]));
        return testSpec();
      },
      /UpstreamGroup gloo-system\/podinfo lists gloo-system\/default-podinfo-primary-9898, gloo-system\/someone-else; expected exactly the primary/,
    ],
    [
      'the canary Upstream is missing',
      async () => {
        await deleteObject('gloo.solo.io/v1', 'Upstream', CANARY_UPSTREAM);
        return testSpec();
      },
      /Upstream gloo-system\/default-podinfo-canary-9898 not found \(spec.router.canary.upstream\)/,
    ],
    [
      'the named route does not reference the group',
      async () => {
        kube.apply(virtualService(singleRoute));
        return testSpec();
      },
      /VirtualService gloo-system\/podinfo route 'main' \(spec.router.route\) does not send traffic to UpstreamGroup gloo-system\/podinfo/,
    ],
    [
      'the named VirtualService is missing',
      async () => {
        await deleteObject('gateway.solo.io/v1', 'VirtualService', 'podinfo');
        return testSpec();
      },
      /VirtualService gloo-system\/podinfo not found \(spec.router.route\)/,
    ],
  ])('refuses, naming the object, when %s', async (_what, prepare, message) => {
    const spec = await prepare();

    const error = await router({ spec })
      .reconcile()
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RefusedError);
    expect((error as Error).message).toMatch(message);
  });

  it('refuses when no route in the cluster references the group', async () => {
    kube.apply(virtualService(singleRoute));

    const error = await router({ spec: testSpec({ router: { route: undefined } }) })
      .reconcile()
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RefusedError);
    expect((error as Error).message).toMatch(/no VirtualService or RouteTable route references UpstreamGroup gloo-system\/podinfo/);
  });

  it('refuses a group Gloo rejected', async () => {
    kube.gloo.reject('UpstreamGroup', GLOO_NS, 'podinfo', 'bad destination');
    await until(
      () => JSON.stringify(kube.get('gloo.solo.io/v1', 'UpstreamGroup', GLOO_NS, 'podinfo')?.status ?? {}).includes('Rejected'),
      'the Rejected status',
    );

    const error = await router()
      .reconcile()
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RefusedError);
    expect((error as Error).message).toMatch(/UpstreamGroup gloo-system\/podinfo is Rejected by Gloo: bad destination/);
  });

  it("with route promotion, preflight only reads; the first weight write puts the new canary in the retired one's place", async () => {
    // Prepare: v2 took all traffic in the previous rollout; v1 is retired at weight 0.
    for (const name of ['podinfo-v1', 'podinfo-v2', 'podinfo-v3']) kube.apply(upstream(name));
    kube.apply(upstreamGroup([destination('podinfo-v1', 0), destination('podinfo-v2', 100)]));
    const spec = testSpec({
      promotion: 'route',
      workload: undefined,
      router: {
        primary: { upstream: { name: 'podinfo-v2', namespace: GLOO_NS } },
        canary: { upstream: { name: 'podinfo-v3', namespace: GLOO_NS } },
      },
    });

    const writesBefore = kube.audit().length;

    await router({ spec }).reconcile();

    // Prepare's read-only role suffices: nothing written, and the group carries primary 100 / canary 0 as it is.
    expect(kube.audit().length).toBe(writesBefore);
    expect(storedDestinations(kube)).toEqual([destination('podinfo-v1', 0), destination('podinfo-v2', 100)]);
    expect(await router({ spec }).getWeights()).toEqual({ primary: 100, canary: 0 });

    // SetWeight (the writers' role): one merge patch replaces the retired upstream with the canary at its first weight.
    await router({ spec }).setWeights({ primary: 95, canary: 5 }, { primary: 100, canary: 0 });

    expect(storedDestinations(kube)).toEqual([destination('podinfo-v3', 5), destination('podinfo-v2', 95)]);
    expect(await router({ spec }).getWeights()).toEqual({ primary: 95, canary: 5 });
  });

  it('with route promotion, a rollback before the canary was adopted finds the safe side and writes nothing', async () => {
    for (const name of ['podinfo-v1', 'podinfo-v2', 'podinfo-v3']) kube.apply(upstream(name));
    kube.apply(upstreamGroup([destination('podinfo-v1', 0), destination('podinfo-v2', 100)]));
    const spec = testSpec({
      promotion: 'route',
      workload: undefined,
      router: {
        primary: { upstream: { name: 'podinfo-v2', namespace: GLOO_NS } },
        canary: { upstream: { name: 'podinfo-v3', namespace: GLOO_NS } },
      },
    });
    const writesBefore = kube.audit().length;

    await router({ spec }).setWeights({ primary: 100, canary: 0 }, { primary: 100, canary: 0 });

    expect(kube.audit().length).toBe(writesBefore);
    expect(storedDestinations(kube)).toEqual([destination('podinfo-v1', 0), destination('podinfo-v2', 100)]);
  });

  it('with route promotion, refuses to retire an upstream that still has weight', async () => {
    for (const name of ['podinfo-v1', 'podinfo-v2', 'podinfo-v3']) kube.apply(upstream(name));
    kube.apply(upstreamGroup([destination('podinfo-v1', 10), destination('podinfo-v2', 90)]));
    const spec = testSpec({
      promotion: 'route',
      workload: undefined,
      router: {
        primary: { upstream: { name: 'podinfo-v2', namespace: GLOO_NS } },
        canary: { upstream: { name: 'podinfo-v3', namespace: GLOO_NS } },
      },
    });

    const error = await router({ spec })
      .reconcile()
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RefusedError);
    expect((error as Error).message).toMatch(/still sends weight 10 to gloo-system\/podinfo-v1/);
    expect(storedDestinations(kube)).toEqual([destination('podinfo-v1', 10), destination('podinfo-v2', 90)]);
  });
});

describe('UpstreamGroupRouter.setShadow', () => {
  const mainRoute = () => {
    const vs = kube.get('gateway.solo.io/v1', 'VirtualService', GLOO_NS, 'podinfo');
    return (vs?.spec as { virtualHost: { routes: Array<Record<string, unknown>> } }).virtualHost.routes;
  };

  it('sets and removes mirroring to the canary on the named route, touching no other route', async () => {
    const before = mainRoute();

    await router().setShadow({ percentage: 50 });
    const shadowed = mainRoute();
    await router().setShadow(null);

    expect(shadowed[1]?.options).toEqual({ shadowing: { upstream: { name: CANARY_UPSTREAM, namespace: GLOO_NS }, percentage: 50 } });
    expect(shadowed[0]).toEqual(before[0]);
    expect(mainRoute()).toEqual(before);
  });

  it('refuses when the spec names no route', async () => {
    const error = await router({ spec: testSpec({ router: { route: undefined } }) })
      .setShadow({ percentage: 100 })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RefusedError);
    expect((error as Error).message).toMatch(
      /shadowing needs the route that sends traffic to UpstreamGroup gloo-system\/podinfo: set spec.router.route/,
    );
  });
});

async function deleteObject(apiVersion: string, kind: string, name: string): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kube.kubeConfig());
  await api.delete({ apiVersion, kind, metadata: { name, namespace: GLOO_NS } });
}

/*
 * Against a real cluster: only when KUBECONFIG is set (the describe is not registered otherwise).
 * Needs Gloo Edge's CRDs and rights to create/delete Upstreams, UpstreamGroups and
 * VirtualServices in SLUICE_TEST_NAMESPACE (default: gloo-system). It creates uniquely named
 * objects and deletes them afterwards.
 */
if (process.env.KUBECONFIG) {
  describe('UpstreamGroupRouter against the cluster in KUBECONFIG', () => {
    const namespace = process.env.SLUICE_TEST_NAMESPACE ?? GLOO_NS;
    const suffix = Date.now().toString(36);
    const names = {
      group: `sluice-test-${suffix}`,
      primary: `sluice-test-primary-${suffix}`,
      canary: `sluice-test-canary-${suffix}`,
      vs: `sluice-test-${suffix}`,
    };
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromDefault();
    const api = KubernetesObjectApi.makeApiClient(kubeConfig);
    const objects: KubernetesObject[] = [
      { ...upstream(names.primary, namespace), metadata: { name: names.primary, namespace } },
      { ...upstream(names.canary, namespace), metadata: { name: names.canary, namespace } },
      {
        apiVersion: 'gloo.solo.io/v1',
        kind: 'UpstreamGroup',
        metadata: { name: names.group, namespace },
        spec: { destinations: [destination(names.primary, 100, namespace), destination(names.canary, 0, namespace)] },
      } as KubernetesObject,
      {
        apiVersion: 'gateway.solo.io/v1',
        kind: 'VirtualService',
        metadata: { name: names.vs, namespace },
        spec: {
          virtualHost: {
            domains: [`${names.vs}.invalid`],
            routes: [{ name: 'main', matchers: [{ prefix: '/' }], routeAction: { upstreamGroup: { name: names.group, namespace } } }],
          },
        },
      } as KubernetesObject,
    ];
    const spec = testSpec({
      router: {
        name: names.group,
        namespace,
        route: { virtualService: names.vs, namespace, name: 'main' },
        primary: { upstream: { name: names.primary, namespace } },
        canary: { upstream: { name: names.canary, namespace } },
      },
    });
    const clusterRouter = () => new UpstreamGroupRouter({ kubeConfig, spec });

    beforeAll(async () => {
      for (const object of objects) await api.create(object);
    });
    afterAll(async () => {
      for (const object of [...objects].reverse()) await api.delete(object).catch(() => undefined);
    });

    it('reconciles, moves weights, and refuses to fight another writer', async () => {
      await clusterRouter().reconcile();
      await clusterRouter().setWeights(step, start);
      expect(await clusterRouter().getWeights()).toEqual(step);
      await expect(clusterRouter().setWeights({ primary: 75, canary: 25 }, start)).rejects.toBeInstanceOf(ConflictError);
      await clusterRouter().setWeights(start, step);
      expect(await clusterRouter().getWeights()).toEqual(start);
    });
  });
}
