/**
 * Session affinity (spec.strategy.sessionAffinity, Flagger's fields) through the real ASL in the
 * local engine, against Deployments and Gloo objects in the Kubernetes API stand-in. Routing is
 * checked the way the sandbox gateway routes a request (local/sandbox/gateway/routes.ts, Gloo's
 * matcher semantics: a `regex: true` header matcher is an RE2 full match), fed with the objects the
 * rollout wrote: a holder of the rollout's cookie goes to the canary, anyone else by the weights,
 * and the canary side's responses carry the Set-Cookie. Promotion, rollback and a progressive
 * promotion each leave neither the cookie route nor a Set-Cookie header behind.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startRollout } from '../local/commands/run.ts';
import { kubeconfigSource, startLocalRuntime } from '../local/runtime.ts';
import type { LocalRuntime } from '../local/runtime.ts';
import { startKubeStandIn } from '../local/kube/stand-in.ts';
import type { KubeStandIn } from '../local/kube/stand-in.ts';
import { RouteTable, targetsOf } from '../local/sandbox/gateway/routes.ts';
import { upstreamGroupSchema, virtualServiceSchema } from '../lambdas/core/gloo-schema.ts';
import type { UpstreamGroup } from '../lambdas/core/gloo-schema.ts';
import { affinityCookieValue } from '../lambdas/core/affinity.ts';
import { parseSpec } from '../lambdas/core/spec.ts';
import type { RolloutSpec, RolloutSpecInput } from '../lambdas/core/spec.ts';
import type { WeightedDestination } from '../lambdas/core/gloo-schema.ts';
import { importFlaggerCanary } from '../local/import/flagger.ts';
import {
  APP_NS,
  CANARY_UPSTREAM,
  GLOO_NS,
  PRIMARY_UPSTREAM,
  deployment,
  destination,
  glooSettled,
  seedGloo,
  testSpec,
  upstream,
  virtualService,
} from '../lambdas/adapters/kube/cluster.fixtures.ts';
import { scriptedMetrics, successRate } from './support/recording-router.ts';
import { SHORT_RETRIES, SHORT_WAITS } from './support/flow.ts';
import { statusNow } from './support/ab-flow.ts';

let kube: KubeStandIn;
let dir: string;
let runtime: LocalRuntime | undefined;
/** Route lists, group canary weights and the group's Set-Cookie count, in order (consecutive repeats folded). */
let trail: string[];

const MARKER = 'sluice-affinity-podinfo';
const routeNames = () =>
  (
    (kube.get('gateway.solo.io/v1', 'VirtualService', GLOO_NS, 'podinfo')?.spec as { virtualHost: { routes: { name?: string }[] } })
      .virtualHost.routes ?? []
  ).map((r) => r.name);
const group = () => upstreamGroupSchema.parse(kube.get('gloo.solo.io/v1', 'UpstreamGroup', GLOO_NS, 'podinfo'));
/** The Set-Cookie values on each destination of the group: [primary, canary]. */
const setCookies = () =>
  group().spec.destinations.map((d) =>
    (d.options?.headerManipulation?.responseHeadersToAdd ?? []).filter((o) => o.header?.key === 'Set-Cookie').map((o) => o.header?.value),
  );
const primaryVersion = () =>
  (
    kube.get('apps/v1', 'Deployment', APP_NS, 'podinfo-primary')?.spec as {
      template: { spec: { containers: { env: { name: string; value: string }[] }[] } };
    }
  ).template.spec.containers[0]?.env.find((e) => e.name === 'VERSION')?.value;

/** Where the sandbox gateway would send a request with these headers now: one upstream, or the weighted split. */
function routedTo(headers: Record<string, string>): string | undefined {
  const targets = targetsOf(
    [PRIMARY_UPSTREAM, CANARY_UPSTREAM].map((name, i) => ({ name, namespace: GLOO_NS, address: `127.0.0.1:${1000 + i}` })),
    (u) => u.name,
  );
  const table = new RouteTable(targets, GLOO_NS);
  table.setGroups(new Map<string, UpstreamGroup>([[`${GLOO_NS}/podinfo`, group()]]), new Set([`${GLOO_NS}/podinfo`]));
  table.setVirtualService(virtualServiceSchema.parse(kube.get('gateway.solo.io/v1', 'VirtualService', GLOO_NS, 'podinfo')));
  const found = table.resolve({ path: '/api/info', headers, query: new URLSearchParams() });
  const live = found?.resolved.destinations.filter((d) => d.weight > 0) ?? [];
  return live.length === 1 ? live[0]?.name : 'split';
}

beforeEach(async () => {
  kube = await startKubeStandIn({ deploymentReadyDelayMs: 50, glooStatusLagMs: 20 });
  seedGloo(kube);
  kube.apply(deployment('podinfo-primary', { app: 'podinfo-primary', replicas: 2, env: { VERSION: 'v1' } }));
  kube.apply(deployment('podinfo', { app: 'podinfo', replicas: 2, env: { VERSION: 'v2' } }));
  await glooSettled(kube);
  await new Promise((resolve) => setTimeout(resolve, 200)); // both Deployments ready
  dir = mkdtempSync(join(tmpdir(), 'sluice-affinity-flow-'));
  trail = [];
  kube.onChange(({ object }) => {
    let entry: string | undefined;
    if (object.kind === 'UpstreamGroup') {
      const destinations = upstreamGroupSchema.parse(object).spec.destinations;
      const cookies = destinations.flatMap((d) => d.options?.headerManipulation?.responseHeadersToAdd ?? []).length;
      entry = `group:canary=${destinations[1]?.weight},cookies=${cookies}`;
    }
    if (object.kind === 'VirtualService')
      entry = `routes:${(object.spec as { virtualHost: { routes: { name?: string }[] } }).virtualHost.routes.map((r) => r.name).join(',')}`;
    if (object.kind === 'Deployment' && object.metadata.name === 'podinfo-primary') entry = `primary:version=${primaryVersion()}`;
    if (entry && trail.at(-1) !== entry) trail.push(entry);
  });
});

afterEach(async () => {
  await runtime?.close();
  runtime = undefined;
  await kube.close();
  rmSync(dir, { recursive: true, force: true });
});

type Strategy = NonNullable<RolloutSpecInput['spec']['strategy']>;

async function start(
  strategy: Strategy,
  options: { rate?: (look: number) => number; onLook?: (look: number) => void; spec?: RolloutSpec } = {},
) {
  const kubeconfigPath = join(dir, 'kubeconfig');
  kube.writeKubeconfigFile(kubeconfigPath);
  runtime = await startLocalRuntime({
    dir: join(dir, 'state'),
    advertise: false,
    env: {},
    log: () => {},
    kubeConfigOf: kubeconfigSource(kubeconfigPath),
    overrides: scriptedMetrics((look) => {
      options.onLook?.(look);
      return [successRate(options.rate?.(look) ?? 99.9)];
    }),
    retryIntervalOverrides: SHORT_RETRIES,
    waitTimeOverrides: SHORT_WAITS,
    routerTuning: { statusSettleMs: 150 },
  });
  const spec =
    options.spec ??
    testSpec({
      strategy: {
        stepWeights: [10, 50],
        interval: '1s',
        lookInterval: '1s',
        threshold: 2,
        deadline: '5m',
        sessionAffinity: { cookieName: 'canary', maxAge: 600 },
        ...strategy,
      },
      analysis: { judge: 'threshold', prometheus: { address: 'http://127.0.0.1:9' } },
    } as Parameters<typeof testSpec>[0]);
  return startRollout(runtime, spec, { version: 'v2' });
}

describe('session affinity (strategy.sessionAffinity) in the state machine', () => {
  it('sends holders of the rollout’s cookie to the canary while others follow the weights; promotion removes route and cookies', async () => {
    // Prepare
    const during: Array<Record<string, unknown>> = [];
    const statuses: Promise<string>[] = [];
    let value = '';
    const rollout = await start(
      {},
      {
        onLook: (look) => {
          if (look === 0) return; // Prepare's query check: nothing moved yet
          if (look === 1 && runtime) statuses.push(statusNow(runtime));
          during.push({
            holder: routedTo({ cookie: `theme=dark; canary=${value}` }),
            stale: routedTo({ cookie: 'canary=0123456789abcdef' }),
            plain: routedTo({}),
            cookies: setCookies(),
          });
        },
      },
    );
    value = affinityCookieValue(rollout.name);
    // Act
    const summary = await rollout.done;
    // Assess
    expect(summary.outcome).toBe('promoted');
    expect(during.length).toBeGreaterThan(0);
    for (const look of during)
      expect(look).toEqual({
        holder: CANARY_UPSTREAM,
        stale: 'split',
        plain: 'split',
        cookies: [['canary=; Max-Age=0; Path=/'], [`canary=${value}; Max-Age=600; Path=/`]],
      });
    // Headers and route went on with the first split, and off only after the copy and the switch to the primary.
    const on = trail.indexOf(`routes:health,${MARKER},main`);
    const copied = trail.indexOf('primary:version=v2');
    const off = trail.lastIndexOf('routes:health,main');
    expect(trail.indexOf('group:canary=10,cookies=2')).toBeLessThan(on);
    expect(copied).toBeGreaterThan(on);
    expect(off).toBeGreaterThan(copied);
    expect(routeNames()).toEqual(['health', 'main']);
    expect(setCookies()).toEqual([[], []]);
    expect(group().spec.destinations.every((d) => d.options === undefined)).toBe(true);
    expect(routedTo({ cookie: `canary=${value}` })).toBe(PRIMARY_UPSTREAM);
    // `sluice status` during the rollout names the cookie.
    const [status] = await Promise.all(statuses);
    expect(status).toContain(`  affinity  cookie canary=${value} (Max-Age 600 s): users who reached the canary keep reaching it`);
    // The affinity is in the rollout's log (status and the report read it).
    const steps = await runtime?.deps.store.listSteps(rollout.name);
    expect(steps?.filter((s) => s.kind === 'note' && s.detail?.startsWith('affinity:')).map((s) => s.detail)).toEqual([
      `affinity: cookie canary=${value} (Max-Age 600 s): users who reached the canary keep reaching it`,
    ]);
  });

  it('rolls back a failing canary: the cookie route and every Set-Cookie are removed, the primary keeps its template', async () => {
    const rollout = await start({}, { rate: (look) => (look >= 2 ? 80 : 99.9) });

    const summary = await rollout.done;

    expect(summary.outcome).toBe('rolled-back');
    expect(trail).toContain(`routes:health,${MARKER},main`);
    expect(routeNames()).toEqual(['health', 'main']);
    expect(setCookies()).toEqual([[], []]);
    expect(primaryVersion()).toBe('v1');
    expect(routedTo({ cookie: `canary=${affinityCookieValue(rollout.name)}` })).toBe(PRIMARY_UPSTREAM);
  });

  it('runs an imported Flagger Canary with stepWeightPromotion and sessionAffinity on its RouteTable: affinity ends at the first promotion step', async () => {
    // Prepare: the objects Flagger's gloo router made (a RouteTable over its upstreams, delegated from a VirtualService).
    const canaryUpstream = `${APP_NS}-podinfo-canaryupstream-9898`;
    const primaryUpstream = `${APP_NS}-podinfo-primaryupstream-9898`;
    for (const name of [primaryUpstream, canaryUpstream]) kube.apply(upstream(name, APP_NS));
    const tableRoute = {
      matchers: [{ prefix: '/' }],
      routeAction: { multi: { destinations: [destination(primaryUpstream, 100, APP_NS), destination(canaryUpstream, 0, APP_NS)] } },
    };
    kube.apply({
      apiVersion: 'gateway.solo.io/v1',
      kind: 'RouteTable',
      metadata: { name: 'podinfo', namespace: APP_NS },
      spec: { routes: [tableRoute] },
    });
    kube.apply(
      virtualService(
        [{ name: 'apps', matchers: [{ prefix: '/' }], delegateAction: { ref: { name: 'podinfo', namespace: APP_NS } } }],
        'apps',
      ),
    );
    const imported = importFlaggerCanary(
      {
        apiVersion: 'flagger.app/v1beta1',
        kind: 'Canary',
        metadata: { name: 'podinfo', namespace: APP_NS },
        spec: {
          provider: 'gloo',
          targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo' },
          service: { port: 9898 },
          analysis: {
            interval: '10s',
            threshold: 2,
            stepWeights: [50],
            stepWeightPromotion: 25,
            sessionAffinity: { cookieName: 'flagger-cookie', maxAge: 3600 },
            metrics: [{ name: 'request-success-rate', thresholdRange: { min: 99 }, interval: '1m' }],
          },
        },
      },
      { cluster: { kubeconfigContext: 'stand-in' }, prometheusAddress: 'http://127.0.0.1:9' },
    );
    expect(imported.spec.spec.strategy).toMatchObject({
      stepWeightPromotion: 25,
      sessionAffinity: { cookieName: 'flagger-cookie', maxAge: 3600 },
    });
    // Only the clock is compressed for the test: Flagger's 10 s minimum interval becomes 1 s.
    const spec = parseSpec({
      ...imported.spec,
      spec: { ...imported.spec.spec, strategy: { ...imported.spec.spec.strategy, interval: '1s', lookInterval: '1s', deadline: '5m' } },
    });
    const table = () =>
      (
        kube.get('gateway.solo.io/v1', 'RouteTable', APP_NS, 'podinfo')?.spec as {
          routes: Array<{ name?: string; routeAction: { multi?: { destinations: WeightedDestination[] } } }>;
        }
      ).routes;
    const seen: string[] = [];
    kube.onChange(({ object }) => {
      if (object.kind !== 'RouteTable') return;
      const routes = (object.spec as { routes: ReturnType<typeof table> }).routes;
      const weighted = routes.find((r) => r.routeAction.multi)?.routeAction.multi?.destinations ?? [];
      const cookies = weighted.flatMap((d) => d.options?.headerManipulation?.responseHeadersToAdd ?? []).length;
      const entry = `${routes.map((r) => r.name ?? '#').join(',')} canary=${weighted[1]?.weight} cookies=${cookies}`;
      if (seen.at(-1) !== entry) seen.push(entry);
    });
    // Act
    const rollout = await start({}, { spec });
    const summary = await rollout.done;
    // Assess
    expect(summary.outcome).toBe('promoted');
    // Weights, then cookies, then the cookie route; the first promotion step writes its split (25), then the
    // route goes, then the cookies; Switch routes the rest (0).
    expect(seen.slice(seen.indexOf('# canary=50 cookies=0'))).toEqual([
      '# canary=50 cookies=0',
      '# canary=50 cookies=2',
      'sluice-affinity-podinfo,# canary=50 cookies=2',
      'sluice-affinity-podinfo,# canary=25 cookies=2',
      '# canary=25 cookies=2',
      '# canary=25 cookies=0',
      '# canary=0 cookies=0',
    ]);
    expect(table()).toEqual([
      {
        ...tableRoute,
        routeAction: { multi: { destinations: [destination(primaryUpstream, 100, APP_NS), destination(canaryUpstream, 0, APP_NS)] } },
      },
    ]);
  });
});
