/**
 * The races the N = 50 fault soak found around a promotion's last steps, each made deterministic
 * here (real ASL, local engine, Kubernetes API stand-in, store calls intercepted at the exact
 * moment): an abort flagged just before Switch passes the point of no return, a Finish that fails
 * right after its record write, and a template copy that landed while its record did not.
 */
import { DescribeExecutionCommand } from '@aws-sdk/client-sfn';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { abortRollout } from '../local/commands/abort.ts';
import { startRollout } from '../local/commands/run.ts';
import { kubeconfigSource, startLocalRuntime } from '../local/runtime.ts';
import type { LocalRuntime } from '../local/runtime.ts';
import { startKubeStandIn } from '../local/kube/stand-in.ts';
import type { KubeStandIn } from '../local/kube/stand-in.ts';
import { APP_NS, GLOO_NS, deployment, glooSettled, seedGloo, testSpec } from '../lambdas/adapters/kube/cluster.fixtures.ts';
import { TransientError } from '../lambdas/core/errors.ts';
import { scriptedMetrics, successRate } from './support/recording-router.ts';
import { SHORT_RETRIES, SHORT_WAITS } from './support/flow.ts';

let kube: KubeStandIn;
let dir: string;
let runtime: LocalRuntime | undefined;
/** Every canary weight the group held, in order. */
let canaryWeights: number[];

const versionOf = (name: string) =>
  (
    kube.get('apps/v1', 'Deployment', APP_NS, name) as
      | { spec: { template: { spec: { containers: { env: { name: string; value: string }[] }[] } } } }
      | undefined
  )?.spec.template.spec.containers[0]?.env.find((e) => e.name === 'VERSION')?.value;
const groupWeights = () => {
  const destinations = (kube.get('gloo.solo.io/v1', 'UpstreamGroup', GLOO_NS, 'podinfo')?.spec as { destinations: { weight: number }[] })
    .destinations;
  return { primary: destinations[0]?.weight, canary: destinations[1]?.weight };
};

beforeEach(async () => {
  kube = await startKubeStandIn({ deploymentReadyDelayMs: 50 });
  seedGloo(kube);
  kube.apply(deployment('podinfo-primary', { app: 'podinfo-primary', replicas: 2, env: { VERSION: 'v1' } }));
  kube.apply(deployment('podinfo', { app: 'podinfo', replicas: 2, env: { VERSION: 'v2' } }));
  await glooSettled(kube);
  await new Promise((resolve) => setTimeout(resolve, 200)); // both Deployments ready
  dir = mkdtempSync(join(tmpdir(), 'sluice-no-return-'));
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

async function start() {
  const kubeconfigPath = join(dir, 'kubeconfig');
  kube.writeKubeconfigFile(kubeconfigPath);
  runtime = await startLocalRuntime({
    dir: join(dir, 'state'),
    advertise: false,
    env: {},
    log: () => {},
    kubeConfigOf: kubeconfigSource(kubeconfigPath),
    overrides: scriptedMetrics(() => [successRate(99.9)]),
    retryIntervalOverrides: SHORT_RETRIES,
    waitTimeOverrides: SHORT_WAITS,
  });
  return runtime;
}

describe('the last steps of a promotion under races (real ASL, API stand-in)', () => {
  it('an abort flagged just before Switch passes the point of no return wins: held on the canary, never switched', async () => {
    // Prepare: the abort lands between Switch's start and its commit (the narrowest window there is).
    const rt = await start();
    const store = rt.deps.store;
    const commit = store.commitPromotion.bind(store);
    let answer: Awaited<ReturnType<typeof abortRollout>> | undefined;
    store.commitPromotion = async (execution, at) => {
      answer ??= await abortRollout({ store, sfn: rt.sfn, target: 'podinfo', by: 'dana', reason: 'saw errors' });
      return commit(execution, at);
    };

    // Act
    const rollout = await startRollout(rt, specOf(), { version: 'v2' });
    const summary = await rollout.done;

    // Assess: the answer acknowledged the abort, and the abort was honoured.
    expect(answer).toMatchObject({ ok: true, execution: rollout.name });
    expect(summary.outcome).toBe('promotion-failed');
    expect(summary.exitCode).toBe(5);
    expect(summary.reason).toContain('aborted by dana: saw errors');
    expect(groupWeights()).toEqual({ primary: 0, canary: 100 });
    expect(canaryWeights).not.toContain(0);
  });

  it('a Finish that fails right after recording `promoted` ends promoted (exit 0, SUCCEEDED), moves no traffic and frees the lock', async () => {
    // Prepare: the store fails Finish's lock release (right after its record write), past every retry.
    const rt = await start();
    const store = rt.deps.store;
    const release = store.releaseLock.bind(store);
    let failures = 0;
    store.releaseLock = async (target, owner) => {
      const record = await store.getRollout(owner);
      if (record?.outcome === 'promoted' && failures < 10) {
        failures++;
        throw new TransientError('the store is busy (releaseLock): another connection holds the write lock');
      }
      return release(target, owner);
    };

    // Act
    const rollout = await startRollout(rt, specOf(), { version: 'v2' });
    const summary = await rollout.done;
    const described = await rt.sfn.send(new DescribeExecutionCommand({ executionArn: rollout.executionArn }));

    // Assess
    expect(failures).toBeGreaterThan(0);
    expect(summary.outcome).toBe('promoted');
    expect(summary.exitCode).toBe(0);
    expect(described.status).toBe('SUCCEEDED');
    expect(groupWeights()).toEqual({ primary: 100, canary: 0 });
    expect(canaryWeights.at(-1)).toBe(0);
    expect(await store.getLock('podinfo')).toBeNull();
  });

  it('a template copy that landed while its record did not is held on the canary, not "promoted" by a rollback to the primary', async () => {
    // Prepare: Promote's copy lands, then its record of the copy fails past Promote's retries (a busy store).
    const rt = await start();
    const store = rt.deps.store;
    const update = store.updateRollout.bind(store);
    store.updateRollout = async (execution, patch) => {
      if (patch.safeSide === 'canary' && patch.primaryFingerprint !== undefined)
        throw new TransientError('the store is busy (updateRollout): another connection holds the write lock');
      return update(execution, patch);
    };

    // Act
    const rollout = await startRollout(rt, specOf(), { version: 'v2' });
    const summary = await rollout.done;

    // Assess: the primary runs v2 (the copy landed), all traffic on the ready canary, held (exit 5).
    expect(versionOf('podinfo-primary')).toBe('v2');
    expect(summary.outcome).toBe('promotion-failed');
    expect(summary.exitCode).toBe(5);
    expect(groupWeights()).toEqual({ primary: 0, canary: 100 });
  });
});

function specOf() {
  return testSpec({
    workload: { namespace: APP_NS, primary: 'podinfo-primary', canary: 'podinfo' },
    strategy: { stepWeights: [50], interval: '1s', lookInterval: '1s', threshold: 2, deadline: '5m' },
    analysis: { judge: 'threshold', prometheus: { address: 'http://127.0.0.1:9' } },
  });
}
