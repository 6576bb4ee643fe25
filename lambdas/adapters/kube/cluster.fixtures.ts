/**
 * Test fixtures for the Kubernetes adapters' tests (not loaded by production code): a rollout
 * spec and the Gloo objects and Deployments it names, seeded into the Kubernetes API stand-in.
 */
import { rolloutSpecSchema } from '../../core/spec.ts';
import type { RolloutSpec, RolloutSpecInput } from '../../core/spec.ts';
import type { Weights } from '../../core/records.ts';
import type { KubeObject, KubeStandIn } from '../../../local/kube/stand-in.ts';

export const GLOO_NS = 'gloo-system';
export const APP_NS = 'default';
export const PRIMARY_UPSTREAM = 'default-podinfo-primary-9898';
export const CANARY_UPSTREAM = 'default-podinfo-canary-9898';

type SpecOverrides = { router?: Partial<RolloutSpecInput['spec']['router']> } & Omit<Partial<RolloutSpecInput['spec']>, 'router'>;

/** A resolved spec (schema only: the "not supported yet" gate is the handlers' business). */
export function testSpec(overrides: SpecOverrides = {}): RolloutSpec {
  const { router, ...rest } = overrides;
  return rolloutSpecSchema.parse({
    apiVersion: 'sluice.dev/v1',
    kind: 'Rollout',
    metadata: { name: 'podinfo' },
    spec: {
      cluster: { kubeconfigContext: 'stand-in' },
      router: {
        kind: 'UpstreamGroup',
        name: 'podinfo',
        namespace: GLOO_NS,
        route: { virtualService: 'podinfo', namespace: GLOO_NS, name: 'main' },
        primary: { upstream: { name: PRIMARY_UPSTREAM, namespace: GLOO_NS } },
        canary: { upstream: { name: CANARY_UPSTREAM, namespace: GLOO_NS } },
        ...router,
      },
      workload: { namespace: APP_NS, primary: 'podinfo-primary', canary: 'podinfo' },
      ...rest,
    },
  });
}

export function upstream(name: string, namespace = GLOO_NS): KubeObject {
  return {
    apiVersion: 'gloo.solo.io/v1',
    kind: 'Upstream',
    metadata: { name, namespace },
    spec: { kube: { serviceName: name, serviceNamespace: APP_NS, servicePort: 9898 } },
  };
}

export function destination(name: string, weight: number, namespace = GLOO_NS) {
  return { destination: { upstream: { name, namespace } }, weight };
}

export function upstreamGroup(destinations: unknown[], name = 'podinfo'): KubeObject {
  return { apiVersion: 'gloo.solo.io/v1', kind: 'UpstreamGroup', metadata: { name, namespace: GLOO_NS }, spec: { destinations } };
}

export function groupWith(weights: Weights): KubeObject {
  return upstreamGroup([destination(PRIMARY_UPSTREAM, weights.primary), destination(CANARY_UPSTREAM, weights.canary)]);
}

/** A route to the group named `main`, after an unrelated `health` route that must stay untouched. */
export function virtualService(routes?: unknown[], name = 'podinfo'): KubeObject {
  return {
    apiVersion: 'gateway.solo.io/v1',
    kind: 'VirtualService',
    metadata: { name, namespace: GLOO_NS },
    spec: {
      virtualHost: {
        domains: ['*'],
        routes: routes ?? [
          {
            name: 'health',
            matchers: [{ exact: '/healthz' }],
            routeAction: { single: { upstream: { name: PRIMARY_UPSTREAM, namespace: GLOO_NS } } },
          },
          { name: 'main', matchers: [{ prefix: '/' }], routeAction: { upstreamGroup: { name: 'podinfo', namespace: GLOO_NS } } },
        ],
      },
    },
  };
}

export function deployment(
  name: string,
  options: { replicas?: number; env?: Record<string, string>; app?: string; annotations?: Record<string, string> } = {},
): KubeObject {
  const app = options.app ?? name;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: APP_NS },
    spec: {
      replicas: options.replicas ?? 2,
      selector: { matchLabels: { app } },
      template: {
        metadata: { labels: { app }, ...(options.annotations ? { annotations: options.annotations } : {}) },
        spec: {
          containers: [
            {
              name: 'podinfo',
              image: 'ghcr.io/stefanprodan/podinfo:6.0.0',
              env: Object.entries(options.env ?? {}).map(([key, value]) => ({ name: key, value })),
            },
          ],
        },
      },
    },
  };
}

/** Both Upstreams, the group at the start state, and the route that sends traffic to it. */
export function seedGloo(kube: KubeStandIn, weights: Weights = { primary: 100, canary: 0 }): void {
  kube.apply(upstream(PRIMARY_UPSTREAM));
  kube.apply(upstream(CANARY_UPSTREAM));
  kube.apply(groupWith(weights));
  kube.apply(virtualService());
}

/** The weights the stand-in holds for the group, read straight from its store. */
export function storedDestinations(kube: KubeStandIn, name = 'podinfo'): unknown {
  return (kube.get('gloo.solo.io/v1', 'UpstreamGroup', GLOO_NS, name)?.spec as { destinations?: unknown } | undefined)?.destinations;
}

export async function until(check: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Waits until Gloo's reporter has judged the seeded objects (seeding leaves no status, and a stale Rejected must not leak into the next test). */
export async function glooSettled(kube: KubeStandIn): Promise<void> {
  const state = (apiVersion: string, kind: string, name: string) =>
    (kube.get(apiVersion, kind, GLOO_NS, name)?.status as { statuses?: Record<string, { state?: string }> } | undefined)?.statuses?.[
      GLOO_NS
    ]?.state;
  await until(
    () =>
      state('gloo.solo.io/v1', 'UpstreamGroup', 'podinfo') === 'Accepted' &&
      state('gateway.solo.io/v1', 'VirtualService', 'podinfo') !== undefined,
    'Gloo to accept the seeded objects',
  );
}
