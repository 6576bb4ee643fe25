/**
 * The RBAC manifests for `sluice:orchestrator`: least privilege by construction (no wildcards,
 * no cluster-wide grant, no create/update/delete), and — through the Kubernetes API stand-in —
 * exactly the calls Sluice makes are allowed while their neighbours are refused with 403.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ApiException, AppsV1Api, AutoscalingV2Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { policyRulesForGroup, startKubeStandIn, type KubeStandIn } from '../../local/kube/stand-in.ts';

const manifests = readFileSync(fileURLToPath(new URL('./rbac.yaml', import.meta.url)), 'utf8');
const GROUP = 'sluice:orchestrator';
const READER = 'sluice:reader';

interface Doc {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: Array<{ apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }>;
  subjects?: Array<{ kind: string; name: string }>;
  roleRef?: { kind: string; name: string };
}

const docs = parseAllDocuments(manifests).map((d) => d.toJS() as Doc);

describe('infra/k8s/rbac.yaml', () => {
  it('grants no wildcard verbs, resources, groups or names', () => {
    const rules = docs.flatMap((d) => d.rules ?? []);
    expect(rules.length).toBeGreaterThan(0);
    for (const rule of rules) {
      for (const value of [...rule.verbs, ...rule.resources, ...rule.apiGroups, ...(rule.resourceNames ?? [])])
        expect(value).not.toContain('*');
    }
  });

  it('uses namespaced Roles bound to the sluice:orchestrator or sluice:reader group only, and never create/update/delete', () => {
    expect(new Set(docs.map((d) => d.kind))).toEqual(new Set(['Role', 'RoleBinding']));
    for (const binding of docs.filter((d) => d.kind === 'RoleBinding')) {
      expect(binding.subjects).toHaveLength(1);
      expect([GROUP, READER]).toContain(binding.subjects?.[0]?.name);
      expect(binding.subjects?.[0]?.kind).toBe('Group');
      expect(
        docs.some(
          (d) =>
            d.kind === binding.roleRef?.kind &&
            d.metadata.name === binding.roleRef.name &&
            d.metadata.namespace === binding.metadata.namespace,
        ),
      ).toBe(true);
    }
    const verbs = new Set(docs.flatMap((d) => d.rules ?? []).flatMap((r) => r.verbs));
    expect([...verbs].sort()).toEqual(['get', 'list', 'patch']);
  });

  it('gives the reader group (Prepare, Analyze) no verb but get, and list on HPAs only', () => {
    const readerRoles = new Set(
      docs
        .filter((d) => d.kind === 'RoleBinding' && d.subjects?.[0]?.name === READER)
        .map((d) => `${d.metadata.namespace}/${d.roleRef?.name}`),
    );
    expect(readerRoles.size).toBe(2);
    const rules = docs
      .filter((d) => d.kind === 'Role' && readerRoles.has(`${d.metadata.namespace}/${d.metadata.name}`))
      .flatMap((d) => d.rules ?? []);
    for (const rule of rules) {
      expect(
        rule.verbs.filter((v) => v !== 'get' && !(v === 'list' && rule.resources.includes('horizontalpodautoscalers'))),
        JSON.stringify(rule),
      ).toEqual([]);
    }
  });

  describe('enforced by the API stand-in', () => {
    let api: KubeStandIn;
    let custom: CustomObjectsApi;
    let apps: AppsV1Api;
    const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    const status = (call: Promise<unknown>) =>
      call.then(
        () => 200,
        (error: unknown) => (error instanceof ApiException ? error.code : Promise.reject(error)),
      );
    const group = (name: string) => ({
      apiVersion: 'gloo.solo.io/v1',
      kind: 'UpstreamGroup',
      metadata: { name, namespace: 'gloo-system' },
      spec: { destinations: [{ destination: { upstream: { name: 'primary', namespace: 'gloo-system' } }, weight: 100 }] },
    });
    const deployment = (name: string) => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace: 'default' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'x' }] } },
      },
    });

    beforeAll(async () => {
      // Prepare: the objects of the example target and a neighbour of each.
      api = await startKubeStandIn({ deploymentReadyDelayMs: 10, glooStatusLagMs: 10 });
      api.apply({
        apiVersion: 'gloo.solo.io/v1',
        kind: 'Upstream',
        metadata: { name: 'primary', namespace: 'gloo-system' },
        spec: { static: { hosts: [{ addr: '127.0.0.1', port: 1 }] } },
      });
      api.apply(group('podinfo'));
      api.apply(group('payments'));
      api.apply(deployment('podinfo'));
      api.apply(deployment('podinfo-primary'));
      api.apply(deployment('payments'));
      api.addToken('sluice', policyRulesForGroup(manifests, GROUP));
      api.addToken('reader', policyRulesForGroup(manifests, READER));
      custom = api.kubeConfig('sluice').makeApiClient(CustomObjectsApi);
      apps = api.kubeConfig('sluice').makeApiClient(AppsV1Api);
    });

    afterAll(async () => {
      await api.close();
    });

    it("allows Sluice's calls on the target's objects", async () => {
      const ug = { group: 'gloo.solo.io', version: 'v1', namespace: 'gloo-system', plural: 'upstreamgroups', name: 'podinfo' };
      expect(await status(custom.getNamespacedCustomObject(ug))).toBe(200);
      expect(
        await status(
          custom.patchNamespacedCustomObject(
            {
              ...ug,
              body: { spec: { destinations: [{ destination: { upstream: { name: 'primary', namespace: 'gloo-system' } }, weight: 99 }] } },
            },
            merge,
          ),
        ),
      ).toBe(200);
      expect(await status(custom.getNamespacedCustomObject({ ...ug, plural: 'upstreams', name: 'primary' }))).toBe(200);
      expect(await status(apps.readNamespacedDeployment({ namespace: 'default', name: 'podinfo-primary' }))).toBe(200);
      expect(
        await status(
          apps.patchNamespacedDeploymentScale({ namespace: 'default', name: 'podinfo', body: { spec: { replicas: 0 } } }, merge),
        ),
      ).toBe(200);
      expect(
        await status(
          api.kubeConfig('sluice').makeApiClient(AutoscalingV2Api).listNamespacedHorizontalPodAutoscaler({ namespace: 'default' }),
        ),
      ).toBe(200);
    });

    it("lets the reader group read the target's objects and refuses every patch with 403", async () => {
      const reader = api.kubeConfig('reader');
      const readerCustom = reader.makeApiClient(CustomObjectsApi);
      const readerApps = reader.makeApiClient(AppsV1Api);
      const ug = { group: 'gloo.solo.io', version: 'v1', namespace: 'gloo-system', plural: 'upstreamgroups', name: 'podinfo' };
      expect(await status(readerCustom.getNamespacedCustomObject(ug))).toBe(200);
      expect(await status(readerApps.readNamespacedDeployment({ namespace: 'default', name: 'podinfo' }))).toBe(200);
      expect(await status(readerCustom.patchNamespacedCustomObject({ ...ug, body: { spec: { destinations: [] } } }, merge))).toBe(403);
      expect(
        await status(
          readerApps.patchNamespacedDeploymentScale({ namespace: 'default', name: 'podinfo', body: { spec: { replicas: 0 } } }, merge),
        ),
      ).toBe(403);
      expect(
        await status(
          readerApps.patchNamespacedDeployment({ namespace: 'default', name: 'podinfo-primary', body: { spec: { replicas: 3 } } }, merge),
        ),
      ).toBe(403);
    });

    it('refuses other objects, other verbs and other namespaces with 403', async () => {
      const ug = { group: 'gloo.solo.io', version: 'v1', namespace: 'gloo-system', plural: 'upstreamgroups', name: 'payments' };
      expect(await status(custom.getNamespacedCustomObject(ug))).toBe(403);
      expect(await status(custom.deleteNamespacedCustomObject({ ...ug, name: 'podinfo' }))).toBe(403);
      expect(await status(custom.listNamespacedCustomObject({ ...ug }))).toBe(403);
      expect(await status(custom.createNamespacedCustomObject({ ...ug, body: group('new') }))).toBe(403);
      expect(
        await status(
          apps.patchNamespacedDeploymentScale({ namespace: 'default', name: 'payments', body: { spec: { replicas: 0 } } }, merge),
        ),
      ).toBe(403);
      expect(await status(apps.readNamespacedDeployment({ namespace: 'gloo-system', name: 'podinfo' }))).toBe(403);
      expect(api.get('gloo.solo.io/v1', 'UpstreamGroup', 'gloo-system', 'podinfo')).toBeDefined();
    });
  });
});
