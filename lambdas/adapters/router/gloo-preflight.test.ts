/** The Gloo preflight against the Kubernetes API stand-in, with the real router and workload. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startKubeStandIn } from '../../../local/kube/stand-in.ts';
import type { KubeStandIn } from '../../../local/kube/stand-in.ts';
import { RefusedError, TransientError } from '../../core/errors.ts';
import { PreflightRefusedError, preflightGloo } from './gloo-preflight.ts';
import { UpstreamGroupRouter } from './gloo-upstream-group.ts';
import { DeploymentWorkload } from '../kube/workload.ts';
import { APP_NS, deployment, glooSettled, groupWith, seedGloo, testSpec } from '../kube/cluster.fixtures.ts';

let kube: KubeStandIn;

beforeAll(async () => {
  kube = await startKubeStandIn({ deploymentReadyDelayMs: 20, glooStatusLagMs: 10 });
});
afterAll(async () => {
  await kube.close();
});
beforeEach(async () => {
  kube.faults.clear();
  kube.deployments.neverReady(APP_NS, 'podinfo', false);
  seedGloo(kube);
  kube.apply(deployment('podinfo-primary'));
  kube.apply(deployment('podinfo'));
  await glooSettled(kube);
  await parts().workload.waitReady('canary', 2000, 10);
});

function parts() {
  const spec = testSpec();
  const kubeConfig = kube.kubeConfig();
  return {
    spec,
    router: new UpstreamGroupRouter({ kubeConfig, spec, statusSettleMs: 0 }),
    workload: new DeploymentWorkload({ kubeConfig, spec }),
  };
}

describe('preflightGloo', () => {
  it('passes a cluster in the start state, one readable line per check', async () => {
    const checks = await preflightGloo(parts());

    expect(checks.map((c) => [c.name, c.status])).toEqual([
      ['router', 'ok'],
      ['canary-ready', 'ok'],
      ['start-weights', 'ok'],
    ]);
    expect(checks[2]?.message).toBe('UpstreamGroup gloo-system/podinfo holds the start state primary 100 / canary 0');
  });

  it('notes an HPA on the canary without refusing', async () => {
    kube.apply({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'podinfo-preflight', namespace: APP_NS },
      spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo' }, maxReplicas: 4 },
    });

    const checks = await preflightGloo(parts());

    expect(checks).toContainEqual({
      name: 'canary-hpa',
      status: 'note',
      message: 'a HorizontalPodAutoscaler manages Deployment default/podinfo: Sluice will leave its replica count alone',
    });
  });

  it('refuses weights that are not the start state, naming the weights found, and a canary that is not ready', async () => {
    kube.apply(groupWith({ primary: 80, canary: 20 }));
    kube.deployments.neverReady(APP_NS, 'podinfo');
    await glooSettled(kube);

    const error = await preflightGloo(parts()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PreflightRefusedError);
    expect(error).toBeInstanceOf(RefusedError);
    const failed = (error as PreflightRefusedError).checks.filter((c) => c.status === 'failed').map((c) => c.message);
    expect(failed).toEqual([
      'canary Deployment default/podinfo is not ready (its rollout has not completed)',
      'UpstreamGroup gloo-system/podinfo holds primary 80 / canary 20; expected the start state primary 100 / canary 0',
    ]);
    expect((error as Error).message).toMatch(/^preflight failed: canary Deployment default\/podinfo is not ready/);
  });

  it('lets a transient API failure through as transient, not as a refusal', async () => {
    kube.faults.add({ verb: 'get', resource: 'upstreamgroups', status: 503 });

    const error = await preflightGloo(parts()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(TransientError);
  });
});
