/**
 * The Deployment workload through the real @kubernetes/client-node against the Kubernetes API
 * stand-in, whose Deployment simulator makes new pods ready after a delay (or never).
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startKubeStandIn } from '../../../local/kube/stand-in.ts';
import type { KubeStandIn } from '../../../local/kube/stand-in.ts';
import { TransientError } from '../../core/errors.ts';
import { DeploymentWorkload, canonicalJson } from './workload.ts';
import { APP_NS, deployment, testSpec } from './cluster.fixtures.ts';

let kube: KubeStandIn;
const logs: string[] = [];

beforeAll(async () => {
  kube = await startKubeStandIn({ deploymentReadyDelayMs: 30, glooStatusLagMs: 10 });
});
afterAll(async () => {
  await kube.close();
});
beforeEach(async () => {
  logs.length = 0;
  kube.deployments.setReadyDelayMs(30);
  kube.deployments.neverReady(APP_NS, 'podinfo-primary', false);
  kube.apply(deployment('podinfo-primary', { env: { VERSION: '1.0.0' }, annotations: { 'prometheus.io/scrape': 'true' } }));
  kube.apply(deployment('podinfo', { env: { VERSION: '2.0.0' }, annotations: { release: 'v2' } }));
  const w = workload();
  await w.waitReady('primary', 2000, 10);
  await w.waitReady('canary', 2000, 10);
});
afterEach(async () => {
  kube.faults.clear();
  await deleteHpa();
});

function workload(requestTimeoutMs = 2000): DeploymentWorkload {
  return new DeploymentWorkload({ kubeConfig: kube.kubeConfig(), spec: testSpec(), requestTimeoutMs, log: (m) => logs.push(m) });
}

const stored = (name: string) =>
  kube.get('apps/v1', 'Deployment', APP_NS, name) as unknown as {
    spec: { replicas: number; template: { metadata: { labels: object; annotations?: object }; spec: object } };
  };

describe('DeploymentWorkload', () => {
  it("copies the canary pod template into the primary, keeping the primary's labels, and waits for it", async () => {
    kube.deployments.setReadyDelayMs(500); // long enough to look at the primary mid-rollout
    const w = workload();

    await w.promoteTemplate();
    const readyRightAway = await w.isReady('primary');
    await w.waitReady('primary', 2000, 10);

    const primary = stored('podinfo-primary');
    expect(primary.spec.template.spec).toEqual(stored('podinfo').spec.template.spec);
    expect(primary.spec.template.metadata).toEqual({ labels: { app: 'podinfo-primary' }, annotations: { release: 'v2' } });
    expect(readyRightAway).toBe(false);
    expect(await w.isReady('primary')).toBe(true);
  });

  it('times out waiting for a primary that never becomes ready, saying where its rollout stands', async () => {
    kube.deployments.neverReady(APP_NS, 'podinfo-primary');
    const w = workload();
    await w.promoteTemplate();

    const error = await w.waitReady('primary', 300, 20).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(
      /^Deployment default\/podinfo-primary did not become ready within 300ms: observedGeneration (\d+)\/\1, updated 2\/2, available 0\/2/,
    );
  });

  it('scales the canary to zero through the scale subresource', async () => {
    const w = workload();

    await w.scale('canary', 0);
    await w.waitReady('canary', 2000, 10);

    expect(stored('podinfo').spec.replicas).toBe(0);
    expect(await w.isReady('canary')).toBe(true);
  });

  it('leaves the replicas alone when an HPA manages the Deployment, and says so', async () => {
    kube.apply({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'podinfo', namespace: APP_NS },
      spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo' }, minReplicas: 2, maxReplicas: 4 },
    });
    const w = workload();

    await w.scale('canary', 0);

    expect(await w.hasHpa('canary')).toBe(true);
    expect(await w.hasHpa('primary')).toBe(false);
    expect(stored('podinfo').spec.replicas).toBe(2);
    expect(logs).toEqual([
      expect.stringMatching(/Deployment default\/podinfo is managed by a HorizontalPodAutoscaler: leaving its replicas alone/),
    ]);
  });

  it("serves with spec.replicas, or an HPA's minReplicas when one targets the Deployment (what the canary is scaled to before promotion)", async () => {
    kube.apply({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'podinfo', namespace: APP_NS },
      spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo' }, minReplicas: 3, maxReplicas: 6 },
    });
    const w = workload();

    expect(await w.servingReplicas('primary')).toBe(2);
    expect(await w.servingReplicas('canary')).toBe(3);
  });

  it("serves with the HPA's current count when it runs more than minReplicas (a side about to take all traffic carries today's load)", async () => {
    kube.apply({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'podinfo', namespace: APP_NS },
      spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo' }, minReplicas: 2, maxReplicas: 9 },
      status: { currentReplicas: 7, desiredReplicas: 7 },
    });

    expect(await workload().servingReplicas('canary')).toBe(7);
  });

  it('tells whether the primary runs the canary pod spec: not before the copy, yes after it, whatever the labels', async () => {
    const w = workload();
    const before = await w.primaryRunsCanaryTemplate();

    await w.promoteTemplate();

    expect(before).toBe(false);
    expect(await w.primaryRunsCanaryTemplate()).toBe(true);
  });

  it('changes the template fingerprint when someone edits the primary, and only then', async () => {
    const w = workload();
    const before = await w.templateFingerprint('primary');
    await w.scale('primary', 3);
    const afterScale = await w.templateFingerprint('primary');

    kube.apply(deployment('podinfo-primary', { env: { VERSION: '1.0.1' }, annotations: { 'prometheus.io/scrape': 'true' } }));

    expect(afterScale).toBe(before);
    expect(await w.templateFingerprint('primary')).not.toBe(before);
  });

  it('reports API failures as transient and a missing Deployment by name', async () => {
    kube.faults.add({ verb: 'get', resource: 'deployments', status: 503, times: 1 });
    const transient = await workload()
      .isReady('primary')
      .catch((e: unknown) => e);
    const missing = await new DeploymentWorkload({
      kubeConfig: kube.kubeConfig(),
      spec: testSpec({ workload: { namespace: APP_NS, primary: 'absent', canary: 'podinfo' } }),
    })
      .isReady('primary')
      .catch((e: unknown) => e);

    expect(transient).toBeInstanceOf(TransientError);
    expect((transient as Error).message).toMatch(/Deployment default\/podinfo-primary get failed: 503/);
    expect((missing as Error).message).toMatch(/Deployment default\/absent not found \(spec.workload.primary\)/);
  });
});

describe('canonicalJson', () => {
  it('gives the same text for the same content in any key order', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: undefined }], c: null } })).toBe('{"a":{"c":null,"d":[1,{"y":2}]},"b":1}');
  });
});

async function deleteHpa(): Promise<void> {
  const response = await fetch(`${kube.url}/apis/autoscaling/v2/namespaces/${APP_NS}/horizontalpodautoscalers/podinfo`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${kube.adminToken}` },
  });
  if (!response.ok && response.status !== 404) throw new Error(`deleting the HPA failed: ${response.status}`);
}
