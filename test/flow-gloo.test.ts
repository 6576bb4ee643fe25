/**
 * `sluice run --local` end to end against Gloo objects and Deployments in the Kubernetes API
 * stand-in: the real state machine, handlers, UpstreamGroup router and Deployment workload,
 * through @kubernetes/client-node. Metrics are scripted (the demo's tests use real Prometheus),
 * so each fault below is the only thing that differs from a healthy rollout.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCommand } from '../local/commands/run.ts';
import { startKubeStandIn } from '../local/kube/stand-in.ts';
import type { KubeStandIn } from '../local/kube/stand-in.ts';
import type { RolloutSummary } from '../local/summary.ts';
import type { RolloutSpec } from '../lambdas/core/spec.ts';
import {
  APP_NS,
  CANARY_UPSTREAM,
  GLOO_NS,
  PRIMARY_UPSTREAM,
  deployment,
  glooSettled,
  seedGloo,
  testSpec,
  upstream,
} from '../lambdas/adapters/kube/cluster.fixtures.ts';
import { scriptedMetrics, successRate } from './support/recording-router.ts';
import type { Script } from './support/recording-router.ts';
import { SHORT_RETRIES, SHORT_WAITS } from './support/flow.ts';

let kube: KubeStandIn;
let dir: string;
let canaryWeights: number[];

beforeEach(async () => {
  // Gloo's status lag shortened (default ~1 s, as Gloo), with Sluice's settle time above it.
  kube = await startKubeStandIn({ deploymentReadyDelayMs: 50, glooStatusLagMs: 20 });
  seedGloo(kube);
  kube.apply(deployment('podinfo-primary', { app: 'podinfo-primary', env: { VERSION: 'v1' } }));
  kube.apply(deployment('podinfo', { app: 'podinfo', env: { VERSION: 'v2' } }));
  await glooSettled(kube);
  await new Promise((resolve) => setTimeout(resolve, 200)); // both Deployments ready
  dir = mkdtempSync(join(tmpdir(), 'sluice-gloo-flow-'));
  canaryWeights = [];
  kube.onChange(({ object }) => {
    if (object.kind !== 'UpstreamGroup') return;
    const destinations = (object.spec as { destinations: { destination: { upstream: { name: string } }; weight: number }[] }).destinations;
    const canary = destinations.find((d) => d.destination.upstream.name.includes('canary'))?.weight ?? 0;
    if (canaryWeights.at(-1) !== canary) canaryWeights.push(canary);
  });
});

afterEach(async () => {
  await kube.close();
  rmSync(dir, { recursive: true, force: true });
});

const groupWeights = () => {
  const destinations = (kube.get('gloo.solo.io/v1', 'UpstreamGroup', GLOO_NS, 'podinfo')?.spec as { destinations: { weight: number }[] })
    .destinations;
  return { primary: destinations[0]?.weight, canary: destinations[1]?.weight };
};
const deploymentSpec = (name: string) =>
  kube.get('apps/v1', 'Deployment', APP_NS, name)?.spec as {
    replicas: number;
    template: { spec: { containers: { env: { name: string; value: string }[] }[] } };
  };
const envOf = (name: string) =>
  Object.fromEntries(deploymentSpec(name).template.spec.containers[0]?.env.map((e) => [e.name, e.value]) ?? []);

const FAST_STRATEGY = { stepWeights: [10, 50], interval: '1s', lookInterval: '1s', threshold: 2, deadline: '5m' };
const NO_PROMETHEUS = { judge: 'threshold', prometheus: { address: 'http://127.0.0.1:9' } } as const;

async function run(
  script: Script,
  during?: (look: number) => void | Promise<void>,
  workload: { readyTimeout?: string } = {},
  token?: string,
): Promise<{ code: number; summary: RolloutSummary; stderr: string }> {
  const spec = testSpec({
    workload: { namespace: APP_NS, primary: 'podinfo-primary', canary: 'podinfo', ...workload },
    strategy: FAST_STRATEGY,
    analysis: NO_PROMETHEUS,
  });
  return runSpec(spec, script, during, token);
}

async function runSpec(
  spec: RolloutSpec,
  script: Script,
  during?: (look: number) => void | Promise<void>,
  token?: string,
): Promise<{ code: number; summary: RolloutSummary; stderr: string }> {
  const specPath = join(dir, 'podinfo.json');
  writeFileSync(specPath, JSON.stringify(spec));
  const kubeconfigPath = join(dir, 'kubeconfig');
  kube.writeKubeconfigFile(kubeconfigPath, token);
  const { kubeconfigSource } = await import('../local/runtime.ts');
  const out: string[] = [];
  const err: string[] = [];
  const metrics = scriptedMetrics(async (look, s) => {
    await during?.(look);
    return script(look, s);
  });
  const code = await runCommand(
    specPath,
    {
      version: 'v2',
      json: true,
      runtime: {
        dir: join(dir, 'state'),
        advertise: false,
        kubeConfigOf: kubeconfigSource(kubeconfigPath),
        overrides: metrics,
        retryIntervalOverrides: SHORT_RETRIES,
        waitTimeOverrides: SHORT_WAITS,
        routerTuning: { statusSettleMs: 150 },
      },
    },
    { stdout: (t) => out.push(t), stderr: (t) => err.push(t) },
  );
  const last = out.join('').trim().split('\n').at(-1) ?? '{}';
  return { code, summary: JSON.parse(last) as RolloutSummary, stderr: err.join('') };
}

const healthy: Script = () => [successRate(99.9)];

describe('sluice run --local against Gloo in the API stand-in', () => {
  it('promotes: the group steps through the plan, the primary gets the canary template, the canary scales to zero', async () => {
    const { code, summary } = await run(healthy);
    expect(code).toBe(0);
    expect(summary.outcome).toBe('promoted');
    expect(canaryWeights).toEqual([10, 50, 0]);
    expect(groupWeights()).toEqual({ primary: 100, canary: 0 });
    expect(envOf('podinfo-primary')).toEqual({ VERSION: 'v2' });
    expect(deploymentSpec('podinfo').replicas).toBe(0);
  });

  it('rolls back a failing canary to 100/0 and scales it to zero (exit 3)', async () => {
    const { code, summary } = await run((look) => [successRate(look === 0 ? 99.9 : 50)]);
    expect(code).toBe(3);
    expect(summary.outcome).toBe('rolled-back');
    expect(groupWeights()).toEqual({ primary: 100, canary: 0 });
    expect(envOf('podinfo-primary')).toEqual({ VERSION: 'v1' });
    expect(deploymentSpec('podinfo').replicas).toBe(0);
  });

  it("stops on a write Gloo's strict validation webhook denies, quoting Gloo's reason, not blaming RBAC", async () => {
    // The API server's answer to a webhook denial (k8s.io/apiserver webhook/errors/statuserror.go: 403,
    // 'admission webhook "<name>" denied the request: <reason>'), as Gloo's webhook words it (kgateway-dev/kgateway#6932).
    kube.faults.add({
      verb: 'patch',
      resource: 'upstreamgroups',
      admissionDenial: 'resource incompatible with current Gloo snapshot: [route main: weights]',
      times: 1,
    });
    const { code, summary } = await run(healthy);
    expect(code).toBe(3);
    expect(summary.reason).toContain(
      "refused by gloo.gloo-system.svc (Gloo's validating admission webhook, strict validation): resource incompatible with current Gloo snapshot: [route main: weights]",
    );
    expect(summary.reason).not.toMatch(/RBAC/);
    expect(groupWeights()).toEqual({ primary: 100, canary: 0 });
  });

  it('retries API 5xx and dropped connections during SetWeight and carries on', async () => {
    kube.faults.add({ verb: 'patch', resource: 'upstreamgroups', status: 503, times: 2 });
    kube.faults.add({ verb: 'patch', resource: 'upstreamgroups', drop: true, times: 1 });
    const { code } = await run(healthy);
    expect(code).toBe(0);
    expect(canaryWeights).toEqual([10, 50, 0]);
  });

  // Rollback never overwrites weights someone else wrote after Sluice's last write (before: forced 100/0, exit 3).
  it('stops when someone else changes the weights, leaves their weights, announces Rollout Stuck and exits 1', async () => {
    const { code, summary } = await run(healthy, (look) => {
      if (look !== 1) return;
      const group = kube.get('gloo.solo.io/v1', 'UpstreamGroup', GLOO_NS, 'podinfo');
      const destinations = (group?.spec as { destinations: { weight: number }[] }).destinations;
      kube.apply({ ...group!, spec: { destinations: destinations.map((d, i) => ({ ...d, weight: i === 0 ? 70 : 30 })) } });
    });
    expect(code).toBe(1);
    expect(summary.outcome).toBe('failed');
    expect(summary.reason).toMatch(/UpstreamGroup gloo-system\/podinfo/);
    expect(summary.reason).toMatch(/taken over by someone else/);
    expect(summary.weights).toEqual({ primary: 70, canary: 30 });
    expect(groupWeights()).toEqual({ primary: 70, canary: 30 });
  });

  // a sticky Rejected on the safe weights was reported as restored (before: "the safety net restored the safe side").
  it('a sticky Gloo Rejected on the rollback is not reported as restored (exit 1, record open); `sluice recover` closes it once Gloo accepts', async () => {
    const { code, summary } = await run(
      (look) => [successRate(look === 0 ? 99.9 : 50)],
      (look) => {
        if (look === 1) kube.gloo.reject('UpstreamGroup', GLOO_NS, 'podinfo', 'destination # 1: upstream is being replaced');
      },
    );
    expect(code).toBe(1);
    expect(summary.outcome).toBe('failed');
    expect(summary.reason).not.toMatch(/restored the safe side|moved traffic to the safe side/);
    expect(summary.reason).toMatch(/Gloo rejects primary 100% \/ canary 0% on podinfo: destination # 1: upstream is being replaced/);
    expect(summary.reason).toContain('sluice recover podinfo');

    kube.gloo.accept('UpstreamGroup', GLOO_NS, 'podinfo');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const { recoverCommand } = await import('../local/commands/recover.ts');
    const previous = process.env.SLUICE_STATE_DIR;
    process.env.SLUICE_STATE_DIR = join(dir, 'state');
    const out: string[] = [];
    try {
      const recovered = await recoverCommand(
        'podinfo',
        { local: true, kubeconfig: join(dir, 'kubeconfig') },
        { stdout: (t) => out.push(t), stderr: () => {} },
      );
      expect(recovered).toBe(0);
    } finally {
      if (previous === undefined) delete process.env.SLUICE_STATE_DIR;
      else process.env.SLUICE_STATE_DIR = previous;
    }
    expect(out.join('')).toMatch(/podinfo podinfo-v2\S*: orphan, restored → rolled-back/);
    expect(groupWeights()).toEqual({ primary: 100, canary: 0 });
  });

  it('stops when the primary template is changed mid-rollout (e.g. a GitOps sync)', async () => {
    const { code, summary } = await run(healthy, (look) => {
      if (look !== 1) return;
      const primary = kube.get('apps/v1', 'Deployment', APP_NS, 'podinfo-primary');
      kube.apply({ ...primary!, spec: deployment('podinfo-primary', { app: 'podinfo-primary', env: { VERSION: 'v1-hotfix' } }).spec });
    });
    expect(code).toBe(3);
    expect(summary.reason).toMatch(/pod template changed/);
    expect(groupWeights()).toEqual({ primary: 100, canary: 0 });
  });

  it('holds traffic on the canary when the promoted primary never becomes ready (exit 5)', async () => {
    kube.deployments.neverReady(APP_NS, 'podinfo-primary');
    const { code, summary } = await run(healthy, undefined, { readyTimeout: '2s' });
    expect(code).toBe(5);
    expect(summary.outcome).toBe('promotion-failed');
    expect(summary.reason).toMatch(/podinfo-primary was not ready within 2s/);
    expect(groupWeights()).toEqual({ primary: 0, canary: 100 });
    expect(deploymentSpec('podinfo').replicas).toBeGreaterThan(0);
  });

  it("route promotion: Prepare writes nothing; SetWeight's first write puts the new version in the retired one's place; promotion switches to it", async () => {
    // Prepare: the primary (v2 here, PRIMARY_UPSTREAM) took all traffic last time; CANARY_UPSTREAM is retired at weight 0.
    kube.apply(upstream('podinfo-v3'));
    const lists: string[] = [];
    kube.onChange(({ object }) => {
      if (object.kind !== 'UpstreamGroup') return;
      const list = (object.spec as { destinations: { destination: { upstream: { name: string } }; weight: number }[] }).destinations
        .map((d) => `${d.destination.upstream.name}=${d.weight}`)
        .join(',');
      if (lists.at(-1) !== list) lists.push(list);
    });
    const spec = testSpec({
      promotion: 'route',
      workload: undefined,
      router: { canary: { upstream: { name: 'podinfo-v3', namespace: GLOO_NS } } },
      strategy: FAST_STRATEGY,
      analysis: NO_PROMETHEUS,
    });

    const { code, summary } = await runSpec(spec, healthy);

    expect(code).toBe(0);
    expect(summary.outcome).toBe('promoted');
    // No weight-0 adoption write (what Prepare used to do in the writers' group): the first change already moves traffic.
    expect(lists).toEqual([
      `${PRIMARY_UPSTREAM}=90,podinfo-v3=10`,
      `${PRIMARY_UPSTREAM}=50,podinfo-v3=50`,
      `${PRIMARY_UPSTREAM}=0,podinfo-v3=100`,
    ]);
    expect(lists.join(' ')).not.toContain(CANARY_UPSTREAM);
  });

  it('fails loudly when RBAC forbids patching the group, leaving traffic untouched (exit 1)', async () => {
    kube.addToken('read-only', [{ verbs: ['get', 'list', 'watch'], apiGroups: ['*'], resources: ['*'] }]);
    const { code, summary } = await run(healthy, undefined, {}, 'read-only');
    expect(code).toBe(1);
    expect(summary.outcome).toBe('failed');
    expect(summary.reason).toMatch(/forbidden/);
    expect(groupWeights()).toEqual({ primary: 100, canary: 0 });
  });
});
