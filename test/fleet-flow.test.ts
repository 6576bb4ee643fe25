/**
 * Fleet releases end to end: statemachine/fleet.asl.json in the local engine, each wave's members
 * run as nested executions of the real statemachine/rollout.asl.json (startExecution.sync:2
 * bridged by the local engine), with the real handlers, the UpstreamGroup router and Deployment
 * workload against three Kubernetes API stand-ins (one per cluster) through @kubernetes/client-node.
 * Metrics are scripted per cluster, so the fault in one cluster is the only difference.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseSpec } from '../lambdas/core/spec.ts';
import type { RolloutSpec } from '../lambdas/core/spec.ts';
import { APP_NS, GLOO_NS, deployment, glooSettled, seedGloo, testSpec, until } from '../lambdas/adapters/kube/cluster.fixtures.ts';
import { startKubeStandIn } from '../local/kube/stand-in.ts';
import type { KubeStandIn } from '../local/kube/stand-in.ts';
import { abortFleet, controlFleet, startFleet, startLocalFleetRuntime, stopFleet } from '../local/fleet.ts';
import type { FleetRunSummary, LocalFleetRuntime } from '../local/fleet.ts';
import type { LocalRuntimeOptions } from '../local/runtime.ts';
import { fleetStatusCommand } from '../local/commands/fleet.ts';
import { runCommand } from '../local/commands/run.ts';
import { reconcileLocal } from '../local/recovery.ts';
import { openSqliteStore } from '../lambdas/adapters/store/sqlite.ts';
import { scriptedMetrics, successRate } from './support/recording-router.ts';
import type { Script } from './support/recording-router.ts';
import { SHORT_RETRIES, SHORT_WAITS } from './support/flow.ts';

const CLUSTERS = ['a', 'b', 'c'] as const;
let kubes: Map<string, KubeStandIn>;
let dir: string;
let runtime: LocalFleetRuntime | undefined;

beforeEach(async () => {
  kubes = new Map();
  for (const cluster of CLUSTERS) {
    const kube = await startKubeStandIn({ deploymentReadyDelayMs: 50, glooStatusLagMs: 20 });
    seedGloo(kube);
    kube.apply(deployment('podinfo-primary', { app: 'podinfo-primary', env: { VERSION: 'v1' } }));
    kube.apply(deployment('podinfo', { app: 'podinfo', env: { VERSION: 'v2' } }));
    await glooSettled(kube);
    kubes.set(cluster, kube);
  }
  await new Promise((resolve) => setTimeout(resolve, 200)); // the Deployments ready
  dir = mkdtempSync(join(tmpdir(), 'sluice-fleet-flow-'));
});

afterEach(async () => {
  await runtime?.close();
  runtime = undefined;
  await Promise.all([...kubes.values()].map((kube) => kube.close()));
  rmSync(dir, { recursive: true, force: true });
});

type Wave = { clusters: string[]; maxParallel?: number; pause?: string; strategy?: { stepWeights: number[] } };

/** One step of 50% per member unless a wave says otherwise (a compressed schedule: 1-second looks). */
function fleetSpec(waves: Wave[]): RolloutSpec {
  const base = testSpec({
    strategy: { stepWeights: [50], interval: '1s', lookInterval: '1s', threshold: 2, deadline: '5m' },
    analysis: { judge: 'threshold', prometheus: { address: 'http://127.0.0.1:9' } },
  });
  return parseSpec({
    ...base,
    spec: { ...base.spec, fleet: { clusters: CLUSTERS.map((name) => ({ name, kubeconfigContext: name })), waves } },
  });
}

function runtimeOptions(script: Script): LocalRuntimeOptions {
  return {
    dir: join(dir, 'state'),
    advertise: false,
    env: {},
    log: () => {},
    // Each member's spec names its cluster's context: its own stand-in.
    kubeConfigOf: async (spec: RolloutSpec) => {
      const context = 'kubeconfigContext' in spec.spec.cluster ? spec.spec.cluster.kubeconfigContext : '';
      const kube = kubes.get(context);
      if (!kube) throw new Error(`no stand-in for context ${context}`);
      return kube.kubeConfig() as KubeConfig;
    },
    routerTuning: { statusSettleMs: 60 },
    overrides: scriptedMetrics(script),
    retryIntervalOverrides: { ...SHORT_RETRIES, Plan: 50, ResolveMember: 50, WaveDone: 50, Watch: 50, Finish: 50 },
    waitTimeOverrides: SHORT_WAITS,
  };
}

async function fleetRuntime(script: Script): Promise<LocalFleetRuntime> {
  runtime = await startLocalFleetRuntime({ ...runtimeOptions(script), fleetWaitTimeOverrides: { Pause: 100 } });
  return runtime;
}

const weights = (cluster: string) => {
  const spec = kubes.get(cluster)?.get('gloo.solo.io/v1', 'UpstreamGroup', GLOO_NS, 'podinfo')?.spec as {
    destinations: { weight: number }[];
  };
  return { primary: spec.destinations[0]?.weight, canary: spec.destinations[1]?.weight };
};
const primaryVersion = (cluster: string) => {
  const spec = kubes.get(cluster)?.get('apps/v1', 'Deployment', APP_NS, 'podinfo-primary')?.spec as {
    template: { spec: { containers: { env: { name: string; value: string }[] }[] } };
  };
  return spec.template.spec.containers[0]?.env.find((e) => e.name === 'VERSION')?.value;
};
const healthyEverywhere: Script = () => [successRate(99.9)];

describe('fleet release (fleet.asl.json nesting rollout.asl.json, three API stand-ins)', () => {
  it('halts the fleet at a bad cluster through `sluice run --json`: the earlier wave stays promoted, b rolls back, its wave-mate c is aborted to its safe side (exit 3); status shows the waves', async () => {
    // Prepare: b fails every look; c, in b's wave, is still stepping when b rolls back.
    const spec = fleetSpec([{ clusters: ['a'] }, { clusters: ['b', 'c'], strategy: { stepWeights: [10, 20, 30, 40, 50] } }]);
    const specPath = join(dir, 'podinfo.json');
    writeFileSync(specPath, JSON.stringify(spec));
    const out: string[] = [];
    // Act
    const code = await runCommand(
      specPath,
      {
        version: 'v2',
        json: true,
        runtime: runtimeOptions((_look, member) => [successRate(member.metadata.name === 'podinfo@b' ? 50 : 99.9)]),
      },
      { stdout: (text) => out.push(text), stderr: () => {} },
    );
    // Assess
    const summary = JSON.parse(out.join('').trim().split('\n').at(-1) ?? '{}') as FleetRunSummary;
    expect(code).toBe(3);
    expect(summary.outcome).toBe('halted');
    expect(summary.exitCode).toBe(3);
    expect(summary.reason).toMatch(/^halted at wave 2 cluster b: rolled-back \(.*request-success-rate 50\.00 < min 99/);
    expect(summary.clusters.map((c) => [c.cluster, c.wave, c.outcome])).toEqual([
      ['a', 1, 'promoted'],
      ['b', 2, 'rolled-back'],
      ['c', 2, 'aborted'],
    ]);
    expect([primaryVersion('a'), primaryVersion('b'), primaryVersion('c')]).toEqual(['v2', 'v1', 'v1']);
    for (const cluster of CLUSTERS) expect(weights(cluster)).toEqual({ primary: 100, canary: 0 });
    const store = openSqliteStore(join(dir, 'state', 'sluice.db'));
    const status: string[] = [];
    await fleetStatusCommand(store, spec, {}, { stdout: (text) => status.push(text), stderr: () => {} });
    await store.close();
    expect(status.join('')).toMatch(
      /wave 1\n\s+a\s+promoted\s+v2 .*\n\s+wave 2\n\s+b\s+rolled-back\s+v2 .*last look: fail.*\n\s+c\s+aborted/,
    );
  });

  it('an abort in the middle of a wave leaves every cluster on a safe side', async () => {
    // Prepare
    const fleet = await fleetRuntime(healthyEverywhere);
    const spec = fleetSpec([{ clusters: ['a'] }, { clusters: ['b', 'c'], strategy: { stepWeights: [10, 20, 30, 40, 50] } }]);
    const started = startFleet(fleet, spec, { version: 'v2' });
    await until(() => weights('b').canary === 20 && weights('c').canary === 20, 'b and c at 20%', 20_000);
    // Act
    await abortFleet(fleet, started, spec, 'alice', 'stop the release');
    const summary = await started.done;
    // Assess
    expect(summary.outcome).toBe('halted');
    expect(summary.exitCode).toBe(3);
    expect(summary.clusters.map((c) => [c.cluster, c.outcome])).toEqual([
      ['a', 'promoted'],
      ['b', 'aborted'],
      ['c', 'aborted'],
    ]);
    expect(weights('a')).toEqual({ primary: 100, canary: 0 });
    expect(primaryVersion('a')).toBe('v2');
    for (const cluster of ['b', 'c']) {
      expect(weights(cluster)).toEqual({ primary: 100, canary: 0 });
      expect(primaryVersion(cluster)).toBe('v1');
    }
    expect(summary.reason).toBe('halted: aborted by alice: stop the release');
    expect(await fleet.deps.store.getLock('podinfo')).toBeNull();
  });

  it('stopping the fleet execution stops its running nested executions; their safety nets restore each cluster', async () => {
    const fleet = await fleetRuntime(healthyEverywhere);
    const spec = fleetSpec([{ clusters: ['a', 'b'], strategy: { stepWeights: [10, 20, 30, 40, 50] } }, { clusters: ['c'] }]);
    const started = startFleet(fleet, spec, { version: 'v2' });
    await until(() => weights('a').canary === 10 && weights('b').canary === 10, 'a and b at 10%', 20_000);
    stopFleet(fleet, started.executionArn, 'stopped from the console');
    const summary = await started.done;
    const members = ['podinfo-a-v2', 'podinfo-b-v2'].map((name) => fleet.engine.describeExecution(fleet.engine.executionArn(name)).status);
    expect(members).toEqual(['ABORTED', 'ABORTED']);
    expect(summary.clusters.map((c) => [c.cluster, c.outcome])).toEqual([
      ['a', 'aborted'],
      ['b', 'aborted'],
      ['c', 'not-started'],
    ]);
    for (const cluster of CLUSTERS) expect(weights(cluster)).toEqual({ primary: 100, canary: 0 });
    expect(await fleet.deps.store.getLock('podinfo')).toBeNull();
  });

  it('promotes a healthy fleet everywhere: wave by wave, held by an operator pause, then promote-the-rest runs the remaining waves at once', async () => {
    // Prepare
    const fleet = await fleetRuntime(healthyEverywhere);
    const spec = fleetSpec([{ clusters: ['a'], pause: '1s' }, { clusters: ['b'], pause: '1h' }, { clusters: ['c'] }]);
    const started = startFleet(fleet, spec, { version: 'v2' });
    await controlFleet(fleet, started.name, 'pause', 'alice');
    await until(() => primaryVersion('a') === 'v2', 'a promoted', 20_000);
    await new Promise((resolve) => setTimeout(resolve, 1200)); // past a's 1s pause: held by the operator's pause
    expect(
      kubes
        .get('b')
        ?.audit()
        .filter((e) => e.verb === 'patch'),
    ).toEqual([]);
    // Act
    await controlFleet(fleet, started.name, 'promote-rest', 'alice');
    const summary = await started.done;
    // Assess
    expect(summary.outcome).toBe('promoted');
    expect(summary.exitCode).toBe(0);
    expect(summary.clusters.map((c) => [c.cluster, c.wave, c.outcome, c.execution])).toEqual([
      ['a', 1, 'promoted', 'podinfo-a-v2'],
      ['b', 2, 'promoted', 'podinfo-b-v2'],
      ['c', 3, 'promoted', 'podinfo-c-v2'],
    ]);
    for (const cluster of CLUSTERS) {
      expect(weights(cluster)).toEqual({ primary: 100, canary: 0 });
      expect(primaryVersion(cluster)).toBe('v2');
    }
    // b and c ran together (promote-the-rest skipped b's 1h pause).
    const [b, c] = await Promise.all(['podinfo@b', 'podinfo@c'].map(async (key) => (await fleet.deps.store.listRollouts(key))[0]));
    expect(b && c && Math.abs(Date.parse(b.startedAt) - Date.parse(c.startedAt))).toBeLessThan(1000);
    // Each member is keyed by target and cluster; the fleet's lock and every member's are free again.
    expect(await fleet.deps.store.listRollouts('podinfo')).toEqual([]);
    for (const key of ['podinfo', 'podinfo@a', 'podinfo@b', 'podinfo@c']) expect(await fleet.deps.store.getLock(key)).toBeNull();
  });

  it('refuses to start while the target is locked, and touches no cluster (exit 2)', async () => {
    const fleet = await fleetRuntime(healthyEverywhere);
    await fleet.deps.store.acquireLock('podinfo', 'podinfo-v1', new Date(Date.now() + 60_000));
    const summary = await startFleet(fleet, fleetSpec([{ clusters: ['a', 'b', 'c'] }]), { version: 'v2' }).done;
    expect(summary).toMatchObject({ outcome: 'refused', exitCode: 2, clusters: [] });
    expect(summary.reason).toContain('target podinfo is locked by podinfo-v1');
    for (const cluster of CLUSTERS)
      expect(
        kubes
          .get(cluster)
          ?.audit()
          .filter((e) => e.verb === 'patch'),
      ).toEqual([]);
  });

  it("the reconciler leaves a running fleet's lock alone (its owner is the fleet execution, not a rollout)", async () => {
    // Prepare: the fleet holds the target's lock while a's rollout runs.
    const fleet = await fleetRuntime(healthyEverywhere);
    const spec = fleetSpec([{ clusters: ['a'], strategy: { stepWeights: [10, 20, 30, 40, 50] } }, { clusters: ['b', 'c'] }]);
    const started = startFleet(fleet, spec, { version: 'v2' });
    await until(() => weights('a').canary === 10, 'a at 10%', 20_000);
    // Act: a person's recover skips the grace a fresh lock gets.
    const report = await reconcileLocal(fleet.deps, fleet.dir, { target: 'podinfo', manual: true });
    // Assess
    expect(await fleet.deps.store.getLock('podinfo')).toMatchObject({ owner: 'podinfo-v2-fleet' });
    expect(JSON.stringify(report)).toContain('it runs');
    await abortFleet(fleet, started, spec, 'test', 'done');
    await started.done;
  });
});
