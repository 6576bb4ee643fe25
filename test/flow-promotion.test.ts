/**
 * The promotion through the real ASL in the local engine, against Deployments and Gloo objects in
 * the Kubernetes API stand-in: CheckCanary → Promote (the copy) → the primary's Wait/Choice loop →
 * Switch → Finish. Each defect the old single-Lambda Promote had is one test here: a failed copy
 * reported with 100% on the canary, a failed switch after the copy reported as a rollback, an abort
 * during Promote ignored, no readiness wait for the canary, a busy-wait inside one Lambda.
 */
import { GetExecutionHistoryCommand } from '@aws-sdk/client-sfn';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, type TestContext } from 'vitest';
import { abortRollout } from '../local/commands/abort.ts';
import { abortCommand } from '../local/commands/control-commands.ts';
import { startRollout } from '../local/commands/run.ts';
import { kubeconfigSource, startLocalRuntime } from '../local/runtime.ts';
import type { LocalRuntime } from '../local/runtime.ts';
import { startKubeStandIn } from '../local/kube/stand-in.ts';
import type { KubeStandIn } from '../local/kube/stand-in.ts';
import { APP_NS, GLOO_NS, deployment, glooSettled, seedGloo, testSpec } from '../lambdas/adapters/kube/cluster.fixtures.ts';
import { scriptedMetrics, successRate } from './support/recording-router.ts';
import { SHORT_RETRIES, SHORT_WAITS, statesEntered, until } from './support/flow.ts';

interface DeploymentShape {
  replicas: number;
  template: { spec: { containers: { env: { name: string; value: string }[] }[] } };
}

/**
 * One test's world: its own API stand-in with Gloo's objects and both Deployments, its own state
 * folder and runtime, removed when the test ends. Nothing is shared, so the tests run concurrently
 * (each waits on 1-second bakes, not on the CPU).
 */
async function setUp(onTestFinished: TestContext['onTestFinished']) {
  // Gloo's status reporter at 20 ms (1 s in Gloo) paired with a 150 ms settle for Sluice, as flow-gloo does:
  // each weight write then costs ~0.2 s instead of ~1.5 s, and the order of writes is unchanged.
  const kube: KubeStandIn = await startKubeStandIn({ deploymentReadyDelayMs: 50, glooStatusLagMs: 20 });
  const world: { runtime?: LocalRuntime } = {};
  const dir = mkdtempSync(join(tmpdir(), 'sluice-promotion-flow-'));
  onTestFinished(async () => {
    await world.runtime?.close();
    await kube.close();
    rmSync(dir, { recursive: true, force: true });
  });
  seedGloo(kube);
  kube.apply(deployment('podinfo-primary', { app: 'podinfo-primary', replicas: 3, env: { VERSION: 'v1' } }));
  kube.apply(deployment('podinfo', { app: 'podinfo', replicas: 1, env: { VERSION: 'v2' } }));
  await glooSettled(kube);
  await new Promise((resolve) => setTimeout(resolve, 200)); // both Deployments ready
  /** Every change in order, as `kind/name:what` (the order of scale, copy and switch is the point). */
  const trail: string[] = [];
  kube.onChange(({ object }) => {
    if (object.kind === 'UpstreamGroup') {
      const canary = (object.spec as { destinations: { weight: number }[] }).destinations[1]?.weight;
      if (trail.at(-1) !== `group:canary=${canary}`) trail.push(`group:canary=${canary}`);
    }
    if (object.kind === 'Deployment') {
      const spec = object.spec as DeploymentShape;
      const status = object.status as { availableReplicas?: number } | undefined;
      const entry = `${object.metadata.name}:replicas=${spec.replicas},version=${spec.template.spec.containers[0]?.env.find((e) => e.name === 'VERSION')?.value},available=${status?.availableReplicas ?? 0}`;
      if (trail.at(-1) !== entry) trail.push(entry);
    }
  });

  const deploymentOf = (name: string) =>
    kube.get('apps/v1', 'Deployment', APP_NS, name) as { spec: DeploymentShape; status?: { availableReplicas?: number } } | undefined;
  const versionOf = (name: string) => deploymentOf(name)?.spec.template.spec.containers[0]?.env.find((e) => e.name === 'VERSION')?.value;
  const groupWeights = () => {
    const destinations = (kube.get('gloo.solo.io/v1', 'UpstreamGroup', GLOO_NS, 'podinfo')?.spec as { destinations: { weight: number }[] })
      .destinations;
    return { primary: destinations[0]?.weight, canary: destinations[1]?.weight };
  };

  const start = async (options: { readyTimeout?: string; onLook?: (look: number) => void } = {}) => {
    const kubeconfigPath = join(dir, 'kubeconfig');
    kube.writeKubeconfigFile(kubeconfigPath);
    const metrics = scriptedMetrics((look) => {
      options.onLook?.(look);
      return [successRate(99.9)];
    });
    const runtime = await startLocalRuntime({
      dir: join(dir, 'state'),
      advertise: false,
      env: {},
      log: () => {},
      kubeConfigOf: kubeconfigSource(kubeconfigPath),
      overrides: metrics,
      retryIntervalOverrides: SHORT_RETRIES,
      waitTimeOverrides: SHORT_WAITS,
      routerTuning: { statusSettleMs: 150 },
    });
    world.runtime = runtime;
    const spec = testSpec({
      workload: {
        namespace: APP_NS,
        primary: 'podinfo-primary',
        canary: 'podinfo',
        ...(options.readyTimeout ? { readyTimeout: options.readyTimeout } : {}),
      },
      strategy: { stepWeights: [10, 50], interval: '1s', lookInterval: '1s', threshold: 2, deadline: '5m' },
      analysis: { judge: 'threshold', prometheus: { address: 'http://127.0.0.1:9' } },
    });
    return { runtime, rollout: await startRollout(runtime, spec, { version: 'v2' }) };
  };
  return { kube, world, trail, start, deploymentOf, versionOf, groupWeights };
}

describe.concurrent('promotion in the state machine (real ASL, API stand-in)', () => {
  it("scales the canary to the primary's replicas and waits until it is ready before the copy, then copies, waits for the primary, switches", async ({
    onTestFinished,
  }) => {
    const { trail, start, deploymentOf, versionOf, groupWeights } = await setUp(onTestFinished);
    const { runtime: rt, rollout } = await start();
    const summary = await rollout.done;
    expect(summary.outcome).toBe('promoted');
    expect(summary.exitCode).toBe(0);
    const scaledReady = trail.indexOf('podinfo:replicas=3,version=v2,available=3');
    const copied = trail.findIndex((t) => t.startsWith('podinfo-primary:') && t.includes('version=v2'));
    const switched = trail.lastIndexOf('group:canary=0');
    expect(scaledReady).toBeGreaterThan(-1);
    expect(copied).toBeGreaterThan(scaledReady);
    expect(switched).toBeGreaterThan(copied);
    expect(groupWeights()).toEqual({ primary: 100, canary: 0 });
    expect(versionOf('podinfo-primary')).toBe('v2');
    expect(deploymentOf('podinfo')?.spec.replicas).toBe(0);
    const states = await statesEntered(rt, rollout.executionArn);
    const promotion = states.slice(states.indexOf('CheckCanary'));
    expect(promotion.slice(0, 4)).toEqual(['CheckCanary', 'CanaryReady', 'WaitForCanary', 'CheckCanary']);
    expect(promotion).toEqual(
      expect.arrayContaining(['Promote', 'PrimaryReady', 'WaitForPrimary', 'CheckPrimary', 'Switch', 'Finish', 'Promoted']),
    );
  });

  it("scales the canary to the primary HPA's minReplicas when an HPA owns the primary", async ({ onTestFinished }) => {
    const { kube, trail, start } = await setUp(onTestFinished);
    kube.apply({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'podinfo-primary', namespace: APP_NS },
      spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo-primary' }, minReplicas: 4, maxReplicas: 8 },
    });
    const { rollout } = await start();
    const summary = await rollout.done;
    expect(summary.outcome).toBe('promoted');
    const scaledReady = trail.indexOf('podinfo:replicas=4,version=v2,available=4');
    const copied = trail.findIndex((t) => t.startsWith('podinfo-primary:') && t.includes('version=v2'));
    expect(scaledReady).toBeGreaterThan(-1);
    expect(copied).toBeGreaterThan(scaledReady);
  });

  it('a template copy that fails (403) leaves the old primary safe: rolled-back with 100% on the primary, never on the canary', async ({
    onTestFinished,
  }) => {
    const { kube, trail, start, versionOf, groupWeights } = await setUp(onTestFinished);
    kube.faults.add({ verb: 'patch', resource: 'deployments', name: 'podinfo-primary', status: 403 });
    const { rollout } = await start();
    const summary = await rollout.done;
    expect(summary.outcome).toBe('rolled-back');
    expect(summary.exitCode).toBe(3);
    expect(groupWeights()).toEqual({ primary: 100, canary: 0 });
    expect(trail).not.toContain('group:canary=100');
    expect(versionOf('podinfo-primary')).toBe('v1');
  });

  it('a switch that fails after the copy is held on the canary: promotion-failed (exit 5), not rolled-back', async ({ onTestFinished }) => {
    const { kube, start, versionOf, groupWeights } = await setUp(onTestFinished);
    let armed = false;
    kube.onChange(({ object }) => {
      if (armed || object.kind !== 'Deployment' || object.metadata.name !== 'podinfo-primary') return;
      if (JSON.stringify(object.spec).includes('"v2"')) {
        armed = true;
        kube.faults.add({ verb: 'patch', resource: 'upstreamgroups', status: 403, times: 1 });
      }
    });
    const { rollout } = await start();
    const summary = await rollout.done;
    expect(armed).toBe(true);
    expect(summary.outcome).toBe('promotion-failed');
    expect(summary.exitCode).toBe(5);
    expect(groupWeights()).toEqual({ primary: 0, canary: 100 });
    expect(versionOf('podinfo-primary')).toBe('v2');
  });

  it('an abort while Promote waits for the canary rolls back to the old primary (aborted, exit 4); the template is never copied', async ({
    onTestFinished,
  }) => {
    const { kube, start, versionOf, groupWeights } = await setUp(onTestFinished);
    const { runtime: rt, rollout } = await start({ onLook: (look) => look === 2 && kube.deployments.neverReady(APP_NS, 'podinfo') });
    await until('the canary readiness loop', async () => (await statesEntered(rt, rollout.executionArn)).includes('WaitForCanary'));
    const result = await abortRollout({ store: rt.deps.store, sfn: rt.sfn, target: 'podinfo', by: 'alice', reason: 'stop' });
    const summary = await rollout.done;
    expect(result).toMatchObject({ ok: true });
    expect(summary.outcome).toBe('aborted');
    expect(summary.exitCode).toBe(4);
    expect(summary.reason).toContain('aborted by alice: stop');
    expect(groupWeights()).toEqual({ primary: 100, canary: 0 });
    expect(versionOf('podinfo-primary')).toBe('v1');
  });

  it('an abort after the copy holds on the canary: promotion-failed (exit 5), naming the abort', async ({ onTestFinished }) => {
    const { kube, start, groupWeights } = await setUp(onTestFinished);
    kube.onChange(({ object }) => {
      if (object.kind === 'Deployment' && object.metadata.name === 'podinfo-primary' && JSON.stringify(object.spec).includes('"v2"'))
        kube.deployments.neverReady(APP_NS, 'podinfo-primary');
    });
    const { runtime: rt, rollout } = await start();
    await until('the primary readiness loop', async () => (await statesEntered(rt, rollout.executionArn)).includes('WaitForPrimary'));
    const out: string[] = [];
    const control = {
      kind: 'local' as const,
      sfn: rt.sfn,
      stateMachineArn: rt.engine.stateMachineArn,
      store: rt.deps.store,
      loadTarget: async () => Promise.reject(new Error('unused')),
      close: async () => {},
    };
    const previousUser = process.env.USER;
    process.env.USER = 'bob';
    try {
      expect(await abortCommand(control, 'podinfo', 'pager went off', { stdout: (t) => out.push(t), stderr: (t) => out.push(t) })).toBe(0);
    } finally {
      if (previousUser === undefined) delete process.env.USER;
      else process.env.USER = previousUser;
    }
    // The person is told what will happen: a hold on the canary, not a rollback.
    expect(out.join('')).toContain('holds all traffic on the canary (promotion-failed, exit 5)');
    const summary = await rollout.done;
    expect(summary.outcome).toBe('promotion-failed');
    expect(summary.exitCode).toBe(5);
    expect(summary.reason).toContain('aborted by bob@cli: pager went off');
    expect(groupWeights()).toEqual({ primary: 0, canary: 100 });
  });

  it('an abort that arrives after the switch is answered too late, flags nothing, and the rollout promotes', async ({ onTestFinished }) => {
    const { kube, world, trail, start } = await setUp(onTestFinished);
    let execution = '';
    let answer: Promise<Awaited<ReturnType<typeof abortRollout>>> | undefined;
    kube.onChange(({ object }) => {
      const runtime = world.runtime;
      if (object.kind !== 'UpstreamGroup' || !runtime || !execution || answer) return;
      const [primary] = (object.spec as { destinations: { weight: number }[] }).destinations;
      if (primary?.weight === 100 && trail.some((t) => t.startsWith('podinfo-primary:') && t.includes('version=v2'))) {
        answer = abortRollout({ store: runtime.deps.store, sfn: runtime.sfn, target: 'podinfo', by: 'carol', reason: 'second thoughts' });
      }
    });
    const { rollout } = await start();
    execution = rollout.name;
    const summary = await rollout.done;
    expect(await answer).toMatchObject({
      ok: false,
      tooLate: true,
      execution,
      message: expect.stringContaining('nothing was rolled back'),
    });
    expect(await world.runtime?.deps.store.getAbort(execution)).toBeNull();
    expect(summary.outcome).toBe('promoted');
    expect(summary.exitCode).toBe(0);
  });
});

// Times a Lambda against the primary's readiness delay: alone, so that no concurrent test stretches it.
describe('promotion in the state machine: the readiness wait', () => {
  it('waits for the primary in Wait/Choice states, not inside a Lambda: a readyTimeout longer than any Lambda runs is fine', async ({
    onTestFinished,
  }) => {
    const { kube, start } = await setUp(onTestFinished);
    kube.deployments.setReadyDelayMs(700); // several checks, 100 ms apart in the test
    const { runtime: rt, rollout } = await start({ readyTimeout: '30m' });
    const summary = await rollout.done;
    expect(summary.outcome).toBe('promoted');
    const history = await rt.sfn.send(new GetExecutionHistoryCommand({ executionArn: rollout.executionArn, maxResults: 1000 }));
    const entered = (history.events ?? []).flatMap((e) => (e.stateEnteredEventDetails?.name ? [e.stateEnteredEventDetails.name] : []));
    expect(entered.filter((s) => s === 'CheckPrimary').length).toBeGreaterThanOrEqual(2);
    expect(entered.filter((s) => s === 'Promote')).toHaveLength(1);
    // Promote returns right after the copy: it entered and left long before the primary was ready.
    const at = (type: string, name: string) =>
      (history.events ?? [])
        .find((e) => e.type === type && (e.stateEnteredEventDetails?.name ?? e.stateExitedEventDetails?.name) === name)
        ?.timestamp?.getTime() ?? Number.NaN;
    expect(at('TaskStateExited', 'Promote') - at('TaskStateEntered', 'Promote')).toBeLessThan(700);
  });
});
