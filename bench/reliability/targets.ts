/**
 * One soak target: its Gloo objects and Deployments in the API stand-in, its own bearer token
 * (so the stand-in's audit log says which target's Sluice wrote), and its rollout spec on a
 * compressed time scale (1-second steps, a 3-second readiness timeout).
 */
import type { KubeObject, KubeStandIn, PolicyRule } from '../../local/kube/stand-in.ts';
import { parseSpec } from '../../lambdas/core/spec.ts';
import type { RolloutSpec } from '../../lambdas/core/spec.ts';
import type { FaultKind } from './faults.ts';
import { affinityStrategy } from './affinity.ts';

export const GLOO_NS = 'gloo-system';
export const APP_NS = 'default';
export const SCALE = 100;
export const STEPS = [10, 50] as const;
/** The user name of the soak's "someone else" (a person with kubectl, a GitOps sync). */
export const FOREIGN_USER = 'someone-else';

export interface Target {
  name: string;
  token: string;
  user: string;
  primaryUpstream: string;
  canaryUpstream: string;
  primaryDeployment: string;
  canaryDeployment: string;
}

export function target(index: number): Target {
  const name = `soak-${String(index + 1).padStart(2, '0')}`;
  return {
    name,
    token: `sluice-${name}-token`,
    user: `sluice/${name}`,
    primaryUpstream: `${name}-primary`,
    canaryUpstream: `${name}-canary`,
    primaryDeployment: `${name}-primary`,
    canaryDeployment: name,
  };
}

/** Everything Sluice's RBAC (infra/k8s/rbac.yaml) grants, simplified to "all verbs" for the soak. */
export const FULL_ACCESS: PolicyRule[] = [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }];
/** RBAC after someone removed Sluice's write access to UpstreamGroups (the 403-after-move fault). */
export const NO_GROUP_WRITES: PolicyRule[] = [
  { verbs: ['*'], apiGroups: ['apps', 'autoscaling', 'gateway.solo.io', ''], resources: ['*'] },
  { verbs: ['get', 'list', 'watch'], apiGroups: ['gloo.solo.io'], resources: ['*'] },
];

function deployment(name: string, version: string): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: APP_NS },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image: 'ghcr.io/stefanprodan/podinfo:6.0.0', env: [{ name: 'VERSION', value: version }] }] },
      },
    },
  };
}

export function seedTarget(kube: KubeStandIn, t: Target): void {
  kube.addToken(t.token, FULL_ACCESS, t.user);
  for (const upstream of [t.primaryUpstream, t.canaryUpstream]) {
    kube.apply({
      apiVersion: 'gloo.solo.io/v1',
      kind: 'Upstream',
      metadata: { name: upstream, namespace: GLOO_NS },
      spec: { kube: { serviceName: upstream, serviceNamespace: APP_NS, servicePort: 9898 } },
    });
  }
  kube.apply({
    apiVersion: 'gloo.solo.io/v1',
    kind: 'UpstreamGroup',
    metadata: { name: t.name, namespace: GLOO_NS },
    spec: {
      destinations: [
        { destination: { upstream: { name: t.primaryUpstream, namespace: GLOO_NS } }, weight: SCALE },
        { destination: { upstream: { name: t.canaryUpstream, namespace: GLOO_NS } }, weight: 0 },
      ],
    },
  });
  kube.apply({
    apiVersion: 'gateway.solo.io/v1',
    kind: 'VirtualService',
    metadata: { name: t.name, namespace: GLOO_NS },
    spec: {
      virtualHost: {
        domains: [`${t.name}.example`],
        routes: [{ name: 'main', matchers: [{ prefix: '/' }], routeAction: { upstreamGroup: { name: t.name, namespace: GLOO_NS } } }],
      },
    },
  });
  kube.apply(deployment(t.primaryDeployment, 'v1'));
  kube.apply(deployment(t.canaryDeployment, 'v2'));
}

/** Whether a target's rollout steps its promotion back to the primary (stepWeightPromotion). */
export function progressive(t: Target, kinds: readonly FaultKind[]): boolean {
  return Number(t.name.slice(-2)) % 2 === 0 && !kinds.includes('foreign-weights');
}

export function specFor(t: Target, kinds: readonly FaultKind[], webhookUrl: string): RolloutSpec {
  return parseSpec({
    apiVersion: 'sluice.dev/v1',
    kind: 'Rollout',
    metadata: { name: t.name },
    spec: {
      cluster: { kubeconfigContext: 'stand-in' },
      router: {
        kind: 'UpstreamGroup',
        name: t.name,
        namespace: GLOO_NS,
        route: { virtualService: t.name, namespace: GLOO_NS, name: 'main' },
        primary: { upstream: { name: t.primaryUpstream, namespace: GLOO_NS } },
        canary: { upstream: { name: t.canaryUpstream, namespace: GLOO_NS } },
      },
      workload: { namespace: APP_NS, primary: t.primaryDeployment, canary: t.canaryDeployment, readyTimeout: '3s' },
      strategy: {
        stepWeights: [...STEPS],
        interval: '1s',
        lookInterval: '1s',
        threshold: 2,
        deadline: '5m',
        // Every other target promotes progressively (50 → 30 → 10 → 0), so faults also land on its steps. Not where
        // someone else writes 70/30: that is one of the steps, and the soak could not tell the writers apart.
        ...(progressive(t, kinds) ? { stepWeightPromotion: 20 } : {}),
        ...affinityStrategy(t, kinds),
        ...(kinds.includes('approve') ? { approvals: { beforePromotion: true, timeout: '30s', onTimeout: 'abort' } } : {}),
      },
      analysis: {
        judge: 'threshold',
        prometheus: { address: 'http://127.0.0.1:9' },
        // The gate states (ConfirmRollout, ConfirmPromotion) call the same receiver: a failure there holds the gate a look.
        ...(kinds.includes('webhook-fails')
          ? {
              webhooks: (['confirm-rollout', 'rollout', 'confirm-promotion'] as const).map((type) => ({
                name: type === 'rollout' ? 'load-check' : `${type}-gate`,
                type,
                url: `${webhookUrl}/${t.name}`,
                timeout: '1s',
              })),
            }
          : {}),
      },
    },
  });
}

export interface GroupState {
  primary: number;
  canary: number;
}

export function groupWeights(object: KubeObject | undefined, t: Target): GroupState | undefined {
  const destinations = (
    object?.spec as { destinations?: Array<{ destination?: { upstream?: { name?: string } }; weight?: number }> } | undefined
  )?.destinations;
  if (!destinations) return undefined;
  const weightOf = (upstream: string) => destinations.find((d) => d.destination?.upstream?.name === upstream)?.weight ?? 0;
  return { primary: weightOf(t.primaryUpstream), canary: weightOf(t.canaryUpstream) };
}

export function primaryVersion(object: KubeObject | undefined): string | undefined {
  const containers = (
    object?.spec as { template?: { spec?: { containers?: Array<{ env?: Array<{ name: string; value?: string }> }> } } } | undefined
  )?.template?.spec?.containers;
  return containers?.[0]?.env?.find((e) => e.name === 'VERSION')?.value;
}
