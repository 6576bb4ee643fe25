/**
 * `sluice doctor` for an A/B test (strategy.match), against the Kubernetes API stand-in with the
 * shipped RBAC (infra/k8s/rbac.yaml): the route order Gloo will evaluate — the first route whose
 * matchers fit a request takes it (Gloo translates a VirtualService's routes in order into an Envoy
 * virtual host, and Envoy checks "each route entry in the virtual host ... in order. If there is a
 * match, the route is used and no further route checks are made": envoyproxy.io, HTTP connection
 * manager, "Route matching"; a route's matchers are ANDed: docs.solo.io gloo_routing/virtual_services/
 * routes/matching_rules), so a catch-all route ahead of the weighted route would shadow the A/B route placed
 * just ahead of it — and the RBAC for the patched route object (the VirtualService whose route list
 * gets the A/B route). Metrics come from a scripted provider: the metric checks are
 * test/doctor.test.ts's.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { policyRulesForGroup, startKubeStandIn } from '../local/kube/stand-in.ts';
import type { KubeStandIn } from '../local/kube/stand-in.ts';
import { doctorCommand } from '../local/commands/doctor.ts';
import {
  APP_NS,
  CANARY_UPSTREAM,
  GLOO_NS,
  PRIMARY_UPSTREAM,
  deployment,
  glooSettled,
  seedGloo,
  virtualService,
} from '../lambdas/adapters/kube/cluster.fixtures.ts';
import { scriptedMetrics, successRate } from './support/recording-router.ts';

const RBAC = readFileSync(join(import.meta.dirname, '..', 'infra', 'k8s', 'rbac.yaml'), 'utf8');

let api: KubeStandIn;
let dir: string;

function abSpecFile(): string {
  const spec = {
    apiVersion: 'sluice.dev/v1',
    kind: 'Rollout',
    metadata: { name: 'podinfo' },
    spec: {
      cluster: { kubeconfigContext: 'stand-in' },
      router: {
        name: 'podinfo',
        namespace: GLOO_NS,
        route: { virtualService: 'podinfo', namespace: GLOO_NS, name: 'main' },
        primary: { upstream: { name: PRIMARY_UPSTREAM, namespace: GLOO_NS } },
        canary: { upstream: { name: CANARY_UPSTREAM, namespace: GLOO_NS } },
      },
      workload: { namespace: APP_NS, primary: 'podinfo-primary', canary: 'podinfo' },
      strategy: { interval: '1m', iterations: 3, match: [{ headers: { 'x-canary': { exact: 'insider' } } }] },
      analysis: {
        judge: 'threshold',
        prometheus: { address: 'http://127.0.0.1:9' },
        metrics: [{ name: 'request-success-rate', thresholdRange: { min: 99 } }],
      },
    },
  };
  const path = join(dir, 'ab.json');
  writeFileSync(path, JSON.stringify(spec));
  return path;
}

async function doctor(token: string): Promise<{ code: number; out: string }> {
  const out: string[] = [];
  const code = await doctorCommand(
    { spec: abSpecFile(), rollouts: dir },
    { stdout: (t) => out.push(t), stderr: () => {} },
    { kubeConfigOf: async () => api.kubeConfig(token), env: {}, metrics: scriptedMetrics(() => [successRate(null)]) },
  );
  return { code, out: out.join('') };
}

const routeNames = () =>
  (
    api.get('gateway.solo.io/v1', 'VirtualService', GLOO_NS, 'podinfo')?.spec as { virtualHost: { routes: Array<{ name?: string }> } }
  ).virtualHost.routes.map((r) => r.name);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-doctor-ab-'));
  api = await startKubeStandIn({ deploymentReadyDelayMs: 10 });
  api.apply(deployment('podinfo-primary'));
  api.apply(deployment('podinfo'));
  // The writers' identity (get + patch) and the read-only one (get): the shipped RBAC's two groups.
  api.addToken('writer', policyRulesForGroup(RBAC, 'sluice:orchestrator'));
  api.addToken('reader', policyRulesForGroup(RBAC, 'sluice:reader'));
});

beforeEach(async () => {
  seedGloo(api);
  await glooSettled(api);
});

afterAll(async () => {
  await api?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('sluice doctor for an A/B test', () => {
  it('passes when no route ahead of the weighted route takes all of its requests, and may patch the VirtualService the A/B route goes into', async () => {
    // Act
    const { code, out } = await doctor('writer');
    // Assess
    expect(out).toMatch(
      /^ok {4}gloo: UpstreamGroup gloo-system\/podinfo lists .*; no route ahead of it takes all of its requests, so the A\/B route \(placed just ahead of it\) will see the matched ones/m,
    );
    expect(out).toContain('ok    rbac: may patch VirtualService gloo-system/podinfo (server-side dry run: authorized, nothing stored)');
    expect(code).toBe(0);
    // Read and dry-run only: the route list is as it was.
    expect(routeNames()).toEqual(['health', 'main']);
  });

  it('fails, naming the route, when a catch-all route ahead of the weighted route would shadow the A/B route', async () => {
    // Prepare: a prefix-/ route ahead of `main` takes every request first (Gloo uses the first route that matches).
    api.apply(
      virtualService([
        {
          name: 'legacy',
          matchers: [{ prefix: '/' }],
          routeAction: { single: { upstream: { name: PRIMARY_UPSTREAM, namespace: GLOO_NS } } },
        },
        { name: 'main', matchers: [{ prefix: '/' }], routeAction: { upstreamGroup: { name: 'podinfo', namespace: GLOO_NS } } },
      ]),
    );
    await glooSettled(api);
    // Act
    const { code, out } = await doctor('writer');
    // Assess
    expect(out).toMatch(/^FAIL {2}gloo: .*route 'legacy' comes before .*route 'main' and takes all of its requests/m);
    expect(code).toBe(2);
    expect(routeNames()).toEqual(['legacy', 'main']);
  });

  it('fails the RBAC check of the VirtualService for an identity that may only read it', async () => {
    const { code, out } = await doctor('reader');

    expect(out).toContain('FAIL  rbac: cannot patch VirtualService gloo-system/podinfo: the API server answered 403');
    expect(code).toBe(2);
  });
});
