/**
 * Progressive promotion (spec.strategy.stepWeightPromotion, Flagger's field) through the real ASL in
 * the local engine, against Deployments and Gloo objects in the Kubernetes API stand-in: after the
 * copy and the primary's readiness loop, traffic steps back to the primary (PromotionStep →
 * PromotionBake → PromotionLook → PromotionDecide) and Switch routes the rest. Flagger does the same
 * in its Promoting phase (pkg/controller/scheduler.go runPromotionTrafficShift: primary weight +=
 * stepWeightPromotion per interval, from the split the analysis ended at); Sluice also looks at each
 * split, thresholds on each arm only, and holds on the canary when a look fails.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { abortRollout } from '../local/commands/abort.ts';
import { statusCommand } from '../local/commands/control-commands.ts';
import { reportDataFromStore } from '../local/report/report-data.ts';
import { startRollout } from '../local/commands/run.ts';
import { kubeconfigSource, startLocalRuntime } from '../local/runtime.ts';
import type { LocalRuntime } from '../local/runtime.ts';
import { startKubeStandIn } from '../local/kube/stand-in.ts';
import type { KubeStandIn } from '../local/kube/stand-in.ts';
import type { MetricReading } from '../lambdas/core/verdict.ts';
import { APP_NS, GLOO_NS, deployment, glooSettled, seedGloo, testSpec } from '../lambdas/adapters/kube/cluster.fixtures.ts';
import { scriptedMetrics, successRate } from './support/recording-router.ts';
import { SHORT_RETRIES, SHORT_WAITS, statesEntered, until } from './support/flow.ts';

let kube: KubeStandIn;
let dir: string;
let runtime: LocalRuntime | undefined;
/** The canary weights the UpstreamGroup held, in order (repeats folded). */
let canaryWeights: number[];

const primaryVersion = () =>
  (
    kube.get('apps/v1', 'Deployment', APP_NS, 'podinfo-primary')?.spec as {
      template: { spec: { containers: { env: { name: string; value: string }[] }[] } };
    }
  ).template.spec.containers[0]?.env.find((e) => e.name === 'VERSION')?.value;
const groupWeights = () => {
  const destinations = (kube.get('gloo.solo.io/v1', 'UpstreamGroup', GLOO_NS, 'podinfo')?.spec as { destinations: { weight: number }[] })
    .destinations;
  return { primary: destinations[0]?.weight, canary: destinations[1]?.weight };
};

beforeEach(async () => {
  // Gloo's status lag and Sluice's settle shortened together (as test/flow-gloo.test.ts): every write waits for its verdict.
  kube = await startKubeStandIn({ deploymentReadyDelayMs: 50, glooStatusLagMs: 20 });
  seedGloo(kube);
  kube.apply(deployment('podinfo-primary', { app: 'podinfo-primary', replicas: 2, env: { VERSION: 'v1' } }));
  kube.apply(deployment('podinfo', { app: 'podinfo', replicas: 2, env: { VERSION: 'v2' } }));
  await glooSettled(kube);
  await new Promise((resolve) => setTimeout(resolve, 200)); // both Deployments ready
  dir = mkdtempSync(join(tmpdir(), 'sluice-progressive-'));
  canaryWeights = [];
  kube.onChange(({ object }) => {
    if (object.kind !== 'UpstreamGroup') return;
    const canary = (object.spec as { destinations: { weight: number }[] }).destinations[1]?.weight ?? -1;
    if (canaryWeights.at(-1) !== canary) canaryWeights.push(canary);
  });
});

afterEach(async () => {
  await runtime?.close();
  runtime = undefined;
  await kube.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A rollout 10 → 50, then stepWeightPromotion 20: 50 → 30 → 10 → 0 on the canary. `metrics` reads the cluster at each look. */
async function start(metrics: () => MetricReading[] = () => [successRate(99.9, 99.9)]) {
  const kubeconfigPath = join(dir, 'kubeconfig');
  kube.writeKubeconfigFile(kubeconfigPath);
  runtime = await startLocalRuntime({
    dir: join(dir, 'state'),
    advertise: false,
    env: {},
    log: () => {},
    kubeConfigOf: kubeconfigSource(kubeconfigPath),
    overrides: scriptedMetrics(() => metrics()),
    retryIntervalOverrides: SHORT_RETRIES,
    waitTimeOverrides: SHORT_WAITS,
    routerTuning: { statusSettleMs: 150 },
  });
  const spec = testSpec({
    strategy: { stepWeights: [10, 50], stepWeightPromotion: 20, interval: '1s', lookInterval: '1s', threshold: 2, deadline: '5m' },
    analysis: { judge: 'threshold', prometheus: { address: 'http://127.0.0.1:9' } },
  });
  return { runtime, rollout: await startRollout(runtime, spec, { version: 'v2' }) };
}

describe('progressive promotion (stepWeightPromotion) in the state machine', () => {
  it('steps traffic back to the promoted primary with a look at each split, then switches: promoted', async () => {
    const { runtime: rt, rollout } = await start();
    const summary = await rollout.done;
    expect(summary.outcome).toBe('promoted');
    expect(summary.exitCode).toBe(0);
    // Up through the analysis, then back down by 20 after the copy; Switch writes the last 0.
    expect(canaryWeights).toEqual([10, 50, 30, 10, 0]);
    expect(groupWeights()).toEqual({ primary: 100, canary: 0 });
    expect(primaryVersion()).toBe('v2');
    const states = await statesEntered(rt, rollout.executionArn);
    const loop = states.slice(states.indexOf('PrimaryReady'));
    expect(loop.filter((s) => s === 'PromotionStep')).toHaveLength(3);
    expect(loop.filter((s) => s === 'PromotionLook')).toHaveLength(2);
    expect(loop.slice(-3)).toEqual(['Switch', 'Finish', 'Promoted']);
    // What it costs (docs/reliability-flow.md): 5 transitions per split looked at (2 here), 2 for the step Switch takes over.
    expect(states.slice(states.indexOf('PromotionStep'), states.lastIndexOf('Switch'))).toHaveLength(5 * 2 + 2);
    // The steps are in the rollout's log with their weights (status and the report read them).
    const report = await reportDataFromStore(rt.deps.store, rollout.name);
    expect(report?.weights.map((point) => point.percent)).toEqual([0, 10, 50, 30, 10]);
    const steps = await rt.deps.store.listSteps(rollout.name);
    expect(steps.filter((s) => s.kind === 'promotion' && s.weights).map((s) => s.weights)).toEqual([
      { primary: 70, canary: 30 },
      { primary: 90, canary: 10 },
    ]);
  });

  it('a split whose primary arm fails its threshold is held on the canary: promotion-failed (exit 5), 0/100', async () => {
    // The canary arm stays healthy; the primary (now on the new template) fails: a one-sample check per arm, not a comparison.
    const { rollout } = await start(() => [successRate(99.9, primaryVersion() === 'v2' ? 90 : 99.9)]);
    const summary = await rollout.done;
    expect(summary.outcome).toBe('promotion-failed');
    expect(summary.exitCode).toBe(5);
    expect(summary.reason).toContain('request-success-rate (primary) 90.00 < min 99');
    expect(groupWeights()).toEqual({ primary: 0, canary: 100 });
    // It got to the first split and no further, then held everything on the canary.
    expect(canaryWeights).toEqual([10, 50, 30, 100]);
    expect(primaryVersion()).toBe('v2');
  });

  it('an abort during the promotion steps holds on the canary (promotion-failed, exit 5), never back to the old primary', async () => {
    const { runtime: rt, rollout } = await start();
    await until('the first promotion split', () => canaryWeights.includes(30));
    await until('its bake', async () => (await statesEntered(rt, rollout.executionArn)).includes('PromotionBake'));
    // `sluice status` shows where the promotion is on its way back to the primary.
    const out: string[] = [];
    const control = {
      kind: 'local' as const,
      sfn: rt.sfn,
      stateMachineArn: rt.engine.stateMachineArn,
      store: rt.deps.store,
      loadTarget: async () => Promise.reject(new Error('unused')),
      close: async () => {},
    };
    expect(await statusCommand(control, 'podinfo', {}, { stdout: (t) => out.push(t), stderr: (t) => out.push(t) })).toBe(0);
    expect(out.join('')).toContain('promotion stepping back to the primary: primary 70% / canary 30%');
    const result = await abortRollout({ store: rt.deps.store, sfn: rt.sfn, target: 'podinfo', by: 'alice', reason: 'stop' });
    expect(result).toMatchObject({ ok: true });
    const summary = await rollout.done;
    expect(summary.outcome).toBe('promotion-failed');
    expect(summary.exitCode).toBe(5);
    expect(summary.reason).toContain('aborted by alice: stop');
    expect(groupWeights()).toEqual({ primary: 0, canary: 100 });
    // Never all on the primary after the copy: it ends where it is safe, on the canary.
    expect(canaryWeights.slice(canaryWeights.indexOf(50))).not.toContain(0);
    expect(canaryWeights.at(-1)).toBe(100);
  });
});
