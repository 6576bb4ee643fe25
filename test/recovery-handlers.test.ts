/**
 * The restore code shared by Rollback, the safety net and the reconciler, driven directly with a
 * clock the test moves (minutes of outage without waiting them out): Rollout Stuck after a few
 * minutes and Rollout Recovered when it lands; never overwriting a newer rollout (the stale
 * safety-net delivery) or someone else's weights; the reconciler's owner and liveness checks and
 * its recovery window. Real sqlite store and event log; a recording router.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalEventPublisher } from '../lambdas/adapters/events/publisher.ts';
import { openSqliteStore } from '../lambdas/adapters/store/sqlite.ts';
import type { SqliteRolloutStore } from '../lambdas/adapters/store/sqlite.ts';
import { TransientError } from '../lambdas/core/errors.ts';
import type { RolloutRecord, Weights } from '../lambdas/core/records.ts';
import { STUCK_AFTER_SECONDS, lockExpiresAt } from '../lambdas/core/recovery.ts';
import type { HandlerDeps } from '../lambdas/app/deps.ts';
import { reconcile } from '../lambdas/app/reconcile.ts';
import type { ExecutionLiveness, LivenessAnswer } from '../lambdas/core/ports.ts';
import { restoreSafeSide } from '../lambdas/app/restore.ts';
import { safetyNet } from '../lambdas/handlers/safety-net.ts';
import { RecordingRouter, scriptedMetrics, successRate, transient } from './support/recording-router.ts';
import { webSpec } from './support/flow.ts';

const spec = webSpec();
let dir: string;
let store: SqliteRolloutStore;
let router: RecordingRouter;
let clock: Date;
let deps: HandlerDeps;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-recovery-'));
  // The store judges lock expiry on the test's clock, as the handlers do: no dependence on the day the test runs.
  store = openSqliteStore(join(dir, 'sluice.db'), { now: () => clock });
  router = new RecordingRouter();
  clock = new Date('2026-12-06T10:00:00.000Z');
  deps = {
    store,
    events: new LocalEventPublisher(store, () => {}, { now: () => clock }),
    now: () => clock,
    routerFor: async () => router,
    workloadFor: async () => null,
    ...scriptedMetrics(() => [successRate(99.9)]),
  };
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function openRollout(
  execution: string,
  weights: Weights,
  options: { lock?: boolean; patch?: Partial<RolloutRecord> } = {},
): Promise<void> {
  await store.createRollout({
    execution,
    target: 'web',
    version: execution.replace('web-', ''),
    requestedBy: 'alice@local',
    startedAt: clock.toISOString(),
    safeSide: 'primary',
    lastWeights: weights,
    status: 'running',
    spec,
    ...options.patch,
  });
  await store.appendStep({ execution, at: clock.toISOString(), kind: 'weight', weights });
  if (options.lock ?? true) await store.acquireLock('web', execution, lockExpiresAt(clock));
}

const types = async (execution: string) => (await store.listEvents(execution)).map((e) => e.detailType);
const later = (seconds: number) => (clock = new Date(clock.getTime() + seconds * 1000));
const liveness = (answers: Record<string, LivenessAnswer['state']>): ExecutionLiveness => ({
  of: async (execution) => ({
    state: answers[execution] ?? 'not-running',
    detail: answers[execution] === 'running' ? 'RUNNING' : 'ended FAILED',
  }),
});

describe('restoreSafeSide', () => {
  it('says nothing for the first minutes of an outage, sends Rollout Stuck once after STUCK_AFTER_SECONDS, and Rollout Recovered when it lands', async () => {
    await openRollout('web-v2', { primary: 90, canary: 10 });
    router.weights = { primary: 90, canary: 10 };
    router.failNextWrites.push(transient(), transient(), transient());
    const closure = { outcome: 'rolled-back' as const, reason: 'analysis failed' };

    await expect(restoreSafeSide(deps, spec, 'web-v2', closure)).rejects.toBeInstanceOf(TransientError);
    later(60);
    await expect(restoreSafeSide(deps, spec, 'web-v2', closure)).rejects.toBeInstanceOf(TransientError);
    expect(await types('web-v2')).not.toContain('Rollout Stuck');
    later(STUCK_AFTER_SECONDS);
    await expect(restoreSafeSide(deps, spec, 'web-v2', closure)).rejects.toBeInstanceOf(TransientError);
    const restored = await restoreSafeSide(deps, spec, 'web-v2', closure);

    expect(restored).toMatchObject({ outcome: 'rolled-back', result: 'restored' });
    expect(router.weights).toEqual({ primary: 100, canary: 0 });
    expect(await types('web-v2')).toEqual(['Rollout Stuck', 'Rollout Recovered', 'Rollout Rolled Back']);
    expect(await store.getLock('web')).toBeNull();
  });

  it('a late safety-net delivery for a dead execution leaves the newer rollout that holds the target alone', async () => {
    // web-v1 died at 90/10 and its record stayed open; web-v2 now holds the lock and the group at 50/50.
    await openRollout('web-v1', { primary: 90, canary: 10 }, { lock: false });
    await openRollout('web-v2', { primary: 50, canary: 50 });
    router.weights = { primary: 50, canary: 50 };

    const result = await safetyNet(deps, {
      detail: { name: 'web-v1', status: 'ABORTED', input: JSON.stringify({ spec, version: 'v1', requestedBy: 'alice@local' }) },
    });

    expect(result).toMatchObject({ outcome: 'failed', result: 'superseded' });
    expect(router.writes).toEqual([]);
    expect(router.weights).toEqual({ primary: 50, canary: 50 });
    expect((await store.getLock('web'))?.owner).toBe('web-v2');
    expect((await store.getRollout('web-v1'))?.status).toBe('finished');
  });

  it('flags a StopExecution as an abort, so a Switch still running after the stop cannot pass the point of no return', async () => {
    // Prepare: a template promotion stopped after the copy, at 50/50, before Switch committed; its Lambda runs on.
    const templated = webSpec({
      spec: { workload: { namespace: 'apps', primary: 'web-primary', canary: 'web', scaleCanaryToZero: false } },
    });
    await openRollout('web-v2', { primary: 50, canary: 50 }, { patch: { safeSide: 'canary', spec: templated } });
    router.weights = { primary: 50, canary: 50 };
    const workload = {
      isReady: async () => true,
      templateFingerprint: async () => 'v2',
      promoteTemplate: async () => {},
      scale: async () => {},
      servingReplicas: async () => 2,
      primaryRunsCanaryTemplate: async () => true,
      podTemplate: async () => ({ annotations: {}, spec: {} }),
      setPodTemplate: async () => {},
    };

    // Act: the safety net first, then the running Switch reaches its commit.
    const result = await safetyNet(
      { ...deps, workloadFor: async () => workload },
      {
        detail: {
          name: 'web-v2',
          status: 'ABORTED',
          input: JSON.stringify({ spec: templated, version: 'v2', requestedBy: 'alice@local' }),
        },
      },
    );
    const commit = await store.commitPromotion('web-v2', clock.toISOString());

    // Assess: held on the canary (the safe side after the copy), and the switch refused.
    expect(result).toMatchObject({ outcome: 'promotion-failed', result: 'restored' });
    expect(router.weights).toEqual({ primary: 0, canary: 100 });
    expect(commit).toMatchObject({ committed: false, abort: { by: 'StopExecution' } });
  });

  it('names a StopExecution that came after the point of no return: the switch was committed before it', async () => {
    // Prepare: Switch committed and moved all traffic to the primary; then the execution was stopped before Finish.
    await openRollout('web-v2', { primary: 100, canary: 0 });
    await store.commitPromotion('web-v2', '2026-03-01T10:00:00.000Z');
    router.weights = { primary: 100, canary: 0 };

    // Act
    const result = await safetyNet(deps, {
      detail: { name: 'web-v2', status: 'ABORTED', input: JSON.stringify({ spec, version: 'v2', requestedBy: 'alice@local' }) },
    });

    // Assess: nothing moves, and the reason says the stop came too late to undo anything.
    expect(result).toMatchObject({ result: 'restored' });
    expect(result).toHaveProperty(
      'reason',
      expect.stringContaining('after the promotion passed its point of no return at 2026-03-01T10:00:00.000Z'),
    );
    expect(router.writes).toEqual([]);
    expect(await store.getAbort('web-v2')).toBeNull();
  });

  it('never overwrites weights someone else wrote after Sluice: stops, records outcome failed, sends Rollout Stuck, frees the lock', async () => {
    await openRollout('web-v2', { primary: 90, canary: 10 });
    router.weights = { primary: 70, canary: 30 };

    const result = await restoreSafeSide(deps, spec, 'web-v2', { outcome: 'rolled-back', reason: 'analysis failed' });

    expect(result).toMatchObject({ outcome: 'failed', result: 'taken-over' });
    expect(result.reason).toMatch(/taken over by someone else: web holds primary 70% \/ canary 30%/);
    expect(router.writes).toEqual([]);
    expect(await types('web-v2')).toEqual(['Rollout Stuck']);
    expect(await store.getLock('web')).toBeNull();
  });

  it("a 409 storm while the group still holds Sluice's weights is transient (retried), not a takeover", async () => {
    await openRollout('web-v2', { primary: 90, canary: 10 });
    router.weights = { primary: 90, canary: 10 };
    router.failNextWrites.push(new TransientError('UpstreamGroup gloo-system/web patch failed: 409 conflict on 5 attempts in a row'));

    await expect(restoreSafeSide(deps, spec, 'web-v2', { outcome: 'rolled-back', reason: 'x' })).rejects.toBeInstanceOf(TransientError);
    const result = await restoreSafeSide(deps, spec, 'web-v2', { outcome: 'rolled-back', reason: 'x' });

    expect(result.result).toBe('restored');
    expect(router.weights).toEqual({ primary: 100, canary: 0 });
  });

  it('retries a read-back that times out after writing the safe side (transient), then reports rolled-back, never failed', async () => {
    // Prepare: 90/10 in place; the API server times out on the read right after the restore's write.
    await openRollout('web-v2', { primary: 90, canary: 10 });
    router.weights = { primary: 90, canary: 10 };
    router.failReadsAfterWrite.push(transient('UpstreamGroup gloo-system/web get failed: timed out'));
    const closure = { outcome: 'rolled-back' as const, reason: 'canary failed its analysis' };

    // Act: the first attempt fails transiently (Rollback's retry policy calls again); the second lands.
    const first = await restoreSafeSide(deps, spec, 'web-v2', closure).catch((error: unknown) => error);
    const second = await restoreSafeSide(deps, spec, 'web-v2', closure);

    // Assess
    expect(first).toMatchObject({ name: 'Sluice.Transient' });
    expect(String((first as Error).message)).toContain('could not be read back');
    expect(second).toMatchObject({ outcome: 'rolled-back', result: 'restored', weights: { primary: 100, canary: 0 } });
    expect((await store.getRollout('web-v2'))?.outcome).toBe('rolled-back');
  });

  it('reports a rollout that never moved traffic as refused (exit 2), not rolled back', async () => {
    await store.createRollout({
      execution: 'web-v2',
      target: 'web',
      version: 'v2',
      requestedBy: 'a',
      startedAt: clock.toISOString(),
      safeSide: 'primary',
      lastWeights: { primary: 100, canary: 0 },
      status: 'running',
      spec,
    });
    const result = await restoreSafeSide(deps, spec, 'web-v2', {
      outcome: 'rolled-back',
      reason: 'deadline passed while waiting for approval',
    });
    expect(result.outcome).toBe('refused');
  });
});

describe('restoreSafeSide after a failed attempt', () => {
  it("still knows Sluice's own pending write (a revert that failed) on the next attempt: restores, not taken over", async () => {
    // Prepare: SetWeight wrote 50/50 (pending), Gloo rejected it and the revert to 90/10 failed.
    await openRollout('web-v2', { primary: 90, canary: 10 }, { patch: { pendingWeights: { primary: 50, canary: 50 } } });
    router.weights = { primary: 50, canary: 50 };
    router.failNextWrites.push(transient());
    const closure = { outcome: 'rolled-back' as const, reason: 'canary failed its analysis' };
    await expect(restoreSafeSide(deps, spec, 'web-v2', closure)).rejects.toThrow();

    // Act: the retry (the ASL's next Rollback attempt) once the API answers.
    const result = await restoreSafeSide(deps, spec, 'web-v2', closure);

    // Assess
    expect(result).toMatchObject({ outcome: 'rolled-back', result: 'restored' });
    expect(router.weights).toEqual({ primary: 100, canary: 0 });
    expect(await store.getRollout('web-v2')).toMatchObject({ status: 'finished', lastWeights: { primary: 100, canary: 0 } });
  });
});

describe("restoreSafeSide racing Sluice's own in-flight task", () => {
  it("a 409 because SetWeight reverted to Sluice's last weights meanwhile is retried, not a takeover", async () => {
    // Prepare: 50/50 pending in place; while the safety net restores, the still-running SetWeight
    // reverts to 90/10 (Gloo rejected 50/50), so the safety net's write expecting 50/50 gets a 409.
    await openRollout('web-v2', { primary: 90, canary: 10 }, { patch: { pendingWeights: { primary: 50, canary: 50 } } });
    router.weights = { primary: 50, canary: 50 };
    const read = router.getWeights.bind(router);
    router.getWeights = async () => {
      const seen = await read();
      router.weights = { primary: 90, canary: 10 };
      router.getWeights = read;
      return seen;
    };
    const closure = { outcome: 'aborted' as const, reason: 'execution stopped (StopExecution)' };

    // Act
    await expect(restoreSafeSide(deps, spec, 'web-v2', closure)).rejects.toThrow(/Sluice's own weights/);
    const retried = await restoreSafeSide(deps, spec, 'web-v2', closure);

    // Assess
    expect(retried).toMatchObject({ outcome: 'aborted', result: 'restored' });
    expect(router.weights).toEqual({ primary: 100, canary: 0 });
  });

  it("a SetWeight that records and writes its next split after the restore read the record is still Sluice's own: restored, not taken over", async () => {
    // Prepare: 90/10 in place; StopExecution's safety net reads the record, then the still-running
    // SetWeight records 70/30 as pending and writes it before the safety net reads the weights.
    await openRollout('web-v2', { primary: 90, canary: 10 });
    router.weights = { primary: 90, canary: 10 };
    const read = router.getWeights.bind(router);
    router.getWeights = async () => {
      router.getWeights = read;
      await store.updateRollout('web-v2', { pendingWeights: { primary: 70, canary: 30 } });
      router.weights = { primary: 70, canary: 30 };
      return read();
    };
    const closure = { outcome: 'aborted' as const, reason: 'execution stopped (StopExecution)' };

    // Act
    const restored = await restoreSafeSide(deps, spec, 'web-v2', closure);

    // Assess: never left half-shifted as "someone else's".
    expect(restored).toMatchObject({ outcome: 'aborted', result: 'restored' });
    expect(router.weights).toEqual({ primary: 100, canary: 0 });
  });
});

describe('reconcile', () => {
  it('restores an orphan, leaves a running execution and one it cannot ask about alone, and turns its schedule off only when nothing is open', async () => {
    const schedule: boolean[] = [];
    await openRollout('web-v2', { primary: 50, canary: 50 });
    router.weights = { primary: 50, canary: 50 };
    await store.createRollout({
      execution: 'api-v7',
      target: 'api',
      version: 'v7',
      requestedBy: 'b',
      startedAt: clock.toISOString(),
      safeSide: 'primary',
      lastWeights: { primary: 90, canary: 10 },
      status: 'running',
      spec,
    });
    const answers: Record<string, LivenessAnswer['state']> = { 'web-v2': 'not-running', 'api-v7': 'running' };

    const first = await reconcile({ ...deps, liveness: liveness(answers), schedule: { setEnabled: async (on) => void schedule.push(on) } });

    expect(first.findings).toMatchObject([
      { execution: 'web-v2', found: 'orphan', action: 'restored', outcome: 'rolled-back' },
      { execution: 'api-v7', found: 'running', action: 'none' },
    ]);
    expect(router.weights).toEqual({ primary: 100, canary: 0 });
    expect(first.open).toBe(1);
    expect(schedule).toEqual([]);

    await store.updateRollout('api-v7', { status: 'finished', outcome: 'promoted' });
    const second = await reconcile({
      ...deps,
      liveness: liveness(answers),
      schedule: { setEnabled: async (on) => void schedule.push(on) },
    });
    expect(second).toEqual({ findings: [], open: 0 });
    expect(schedule).toEqual([false]);
  });

  it('reads a rollout restored once before its engine died as rolled back, not refused, though no weight step was recorded', async () => {
    // Prepare: SetWeight wrote 90/10 and its record, then failed before its weight step (the store
    // busy); the engine's restore put 100/0 back and died before closing the record.
    await store.createRollout({
      execution: 'web-v2',
      target: 'web',
      version: 'v2',
      requestedBy: 'alice@local',
      startedAt: clock.toISOString(),
      safeSide: 'primary',
      lastWeights: { primary: 90, canary: 10 },
      status: 'running',
      spec,
    });
    await store.acquireLock('web', 'web-v2', lockExpiresAt(clock));
    router.weights = { primary: 90, canary: 10 };
    const updateRollout = store.updateRollout.bind(store);
    let dying = true;
    store.updateRollout = async (execution, patch) => {
      if (dying && patch.status !== undefined) {
        dying = false;
        throw new Error('the engine died before closing the record');
      }
      return updateRollout(execution, patch);
    };
    // Act: the first restore moves traffic and dies; the reconciler's restore finds 100/0 in place.
    await reconcile({ ...deps, liveness: liveness({ 'web-v2': 'not-running' }) }).catch(() => undefined);
    later(60);
    const report = await reconcile({ ...deps, liveness: liveness({ 'web-v2': 'not-running' }) });
    // Assess
    expect(router.weights).toEqual({ primary: 100, canary: 0 });
    expect((await store.getRollout('web-v2'))?.outcome).toBe('rolled-back');
    expect(report.findings).toMatchObject([{ execution: 'web-v2', outcome: 'rolled-back' }]);
  });

  it('holds a rollout whose template copy landed without its record on the canary: promotion-failed, never 100% on a primary nobody checked', async () => {
    // Prepare: Promote copied the template, then the engine died (or the store was busy) before the
    // copy was recorded: the record still names the old primary as the safe side; traffic at 50/50.
    const templated = webSpec({
      spec: { workload: { namespace: 'apps', primary: 'web-primary', canary: 'web', scaleCanaryToZero: true } },
    });
    await openRollout('web-v2', { primary: 50, canary: 50 }, { patch: { spec: templated } });
    router.weights = { primary: 50, canary: 50 };
    const scaled: string[] = [];
    const workload = {
      isReady: async () => true,
      templateFingerprint: async () => 'v2',
      promoteTemplate: async () => {},
      scale: async (side: string, replicas: number) => void scaled.push(`${side}=${replicas}`),
      servingReplicas: async () => 2,
      primaryRunsCanaryTemplate: async () => true,
      podTemplate: async () => ({ annotations: {}, spec: {} }),
      setPodTemplate: async () => {},
    };

    // Act
    const report = await reconcile({ ...deps, workloadFor: async () => workload, liveness: liveness({ 'web-v2': 'not-running' }) });

    // Assess: the old version is gone and the primary may be mid-rollout: all traffic on the canary
    // (ready since CheckCanary), held as after any copy (exit 5); the canary is not scaled down.
    expect(router.weights).toEqual({ primary: 0, canary: 100 });
    expect(report.findings).toMatchObject([{ execution: 'web-v2', action: 'restored', outcome: 'promotion-failed' }]);
    expect((await store.getRollout('web-v2'))?.outcome).toBe('promotion-failed');
    expect(scaled).toEqual([]);
  });

  it('keeps a switched rollout on the primary: past the point of no return the primary running the new template is the promotion', async () => {
    // Prepare: Switch passed the point of no return and moved all traffic to the primary; the engine died before Finish.
    const templated = webSpec({
      spec: { workload: { namespace: 'apps', primary: 'web-primary', canary: 'web', scaleCanaryToZero: false } },
    });
    await openRollout('web-v2', { primary: 100, canary: 0 }, { patch: { spec: templated } });
    await store.commitPromotion('web-v2', '2026-03-01T10:00:00.000Z');
    router.weights = { primary: 100, canary: 0 };
    const workload = {
      isReady: async () => true,
      templateFingerprint: async () => 'v2',
      promoteTemplate: async () => {},
      scale: async () => {},
      servingReplicas: async () => 2,
      primaryRunsCanaryTemplate: async () => true,
      podTemplate: async () => ({ annotations: {}, spec: {} }),
      setPodTemplate: async () => {},
    };

    // Act
    const report = await reconcile({ ...deps, workloadFor: async () => workload, liveness: liveness({ 'web-v2': 'not-running' }) });

    // Assess: nothing moves; the objects say promoted (exit 0).
    expect(router.weights).toEqual({ primary: 100, canary: 0 });
    expect(report.findings).toMatchObject([{ execution: 'web-v2', action: 'restored', outcome: 'promoted' }]);
  });

  it('removes the A/B match route of an orphaned A/B rollout, with the weights at their start (nothing else moved)', async () => {
    // Prepare: the engine died during the A/B stage; the match route is in place, the weights never moved.
    const abSpec = webSpec({
      strategy: { stepWeights: undefined, iterations: 3, match: [{ headers: { 'x-canary': { exact: 'insider' } } }] },
      spec: { router: { ...spec.spec.router, route: { virtualService: 'web', namespace: 'gloo-system' } } },
    });
    await openRollout('web-v2', { primary: 100, canary: 0 }, { patch: { spec: abSpec } });
    await router.setMatch(abSpec.spec.strategy.match ?? null);
    // Act
    const report = await reconcile({ ...deps, liveness: liveness({ 'web-v2': 'not-running' }) });
    // Assess
    expect(report.findings).toMatchObject([{ execution: 'web-v2', found: 'orphan', action: 'restored', outcome: 'rolled-back' }]);
    expect(router.match).toBeNull();
    expect(router.weights).toEqual({ primary: 100, canary: 0 });
  });

  it('closes a stopped execution (StopExecution, safety net failed) as aborted, as the safety net would, even when nothing had moved', async () => {
    // Prepare: the record was opened at 100/0 (SetWeight's write was rejected and reverted), then
    // StopExecution; the safety net failed because the API was down. Before: `refused`, exit 2.
    await store.createRollout({
      execution: 'web-v2',
      target: 'web',
      version: 'v2',
      requestedBy: 'a',
      startedAt: clock.toISOString(),
      safeSide: 'primary',
      lastWeights: { primary: 100, canary: 0 },
      status: 'running',
      spec,
    });
    const stopped: ExecutionLiveness = { of: async () => ({ state: 'not-running', detail: 'ended ABORTED', stopped: true }) };

    // Act
    const report = await reconcile({ ...deps, liveness: stopped });

    // Assess
    expect(report.findings).toMatchObject([{ execution: 'web-v2', found: 'orphan', outcome: 'aborted' }]);
    expect(await store.getRollout('web-v2')).toMatchObject({ status: 'finished', outcome: 'aborted' });
    expect(router.weights).toEqual({ primary: 100, canary: 0 });
  });

  it('turns its schedule back on when a rollout opened while it was turning it off (the race with Prepare)', async () => {
    const schedule: boolean[] = [];
    const racing = {
      setEnabled: async (on: boolean) => {
        schedule.push(on);
        // A Prepare records its rollout right as the reconciler disables the rule.
        if (!on) await openRollout('web-v3', { primary: 100, canary: 0 });
      },
    };

    const report = await reconcile({ ...deps, liveness: liveness({ 'web-v3': 'running' }), schedule: racing });

    expect(schedule).toEqual([false, true]);
    expect(report.open).toBe(1);
  });

  it('frees a lock whose owner never recorded a rollout and does not run', async () => {
    await store.acquireLock('web', 'web-v9', lockExpiresAt(clock));
    later(180);
    const report = await reconcile({ ...deps, liveness: liveness({}) }, { target: 'web' });
    expect(report.findings).toMatchObject([{ execution: 'web-v9', found: 'stale-lock', action: 'lock-released' }]);
    expect(await store.getLock('web')).toBeNull();
  });

  it('a full pass frees a held lock with no rollout record (the engine died between the start path and Prepare), noting it in the history', async () => {
    // Prepare: the start path took the lock; nothing recorded the rollout; no execution runs.
    const schedule: boolean[] = [];
    await store.acquireLock('web', 'web-v9', lockExpiresAt(clock));
    later(180);

    // Act
    const report = await reconcile({ ...deps, liveness: liveness({}), schedule: { setEnabled: async (on) => void schedule.push(on) } });

    // Assess
    expect(report.findings).toMatchObject([
      {
        target: 'web',
        execution: 'web-v9',
        found: 'stale-lock',
        action: 'lock-released',
        detail: expect.stringContaining('never recorded'),
      },
    ]);
    expect(await store.getLock('web')).toBeNull();
    expect(await store.acquireLock('web', 'web-v10', lockExpiresAt(clock))).toEqual({ acquired: true });
    expect((await store.listSteps('web-v9')).map((step) => step.detail)).toEqual([expect.stringContaining('released the lock of web')]);
    expect(schedule).toEqual([false]);
  });

  it('a full pass leaves a held lock alone while its owner runs or cannot be asked about, and keeps its schedule on', async () => {
    const schedule: boolean[] = [];
    await store.acquireLock('web', 'web-v9', lockExpiresAt(clock));
    await store.acquireLock('api', 'api-v3', lockExpiresAt(clock));
    later(180);

    const report = await reconcile({
      ...deps,
      liveness: liveness({ 'web-v9': 'running', 'api-v3': 'unknown' }),
      schedule: { setEnabled: async (on) => void schedule.push(on) },
    });

    expect(report.findings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ target: 'web', execution: 'web-v9', found: 'running', action: 'none' }),
        expect.objectContaining({ target: 'api', execution: 'api-v3', found: 'unknown', action: 'none' }),
      ]),
    );
    expect(report.findings).toHaveLength(2);
    expect((await store.getLock('web'))?.owner).toBe('web-v9');
    expect((await store.getLock('api'))?.owner).toBe('api-v3');
    expect(schedule).toEqual([]);
  });

  it('leaves a lock taken moments ago to its start path (not started yet), unless a person runs `recover`', async () => {
    await store.acquireLock('web', 'web-v9', lockExpiresAt(clock));
    later(30);

    const scheduled = await reconcile({ ...deps, liveness: liveness({}) });
    const held = await store.getLock('web');
    const manual = await reconcile({ ...deps, liveness: liveness({}) }, { target: 'web', manual: true });

    expect(scheduled.findings).toEqual([]);
    expect(held?.owner).toBe('web-v9');
    expect(manual.findings).toMatchObject([{ execution: 'web-v9', found: 'stale-lock', action: 'lock-released' }]);
    expect(await store.getLock('web')).toBeNull();
  });

  it("stops retrying on its own once the recovery window has passed, but a person's `recover` still acts", async () => {
    await openRollout(
      'web-v2',
      { primary: 90, canary: 10 },
      { patch: { recoveringSince: new Date(clock.getTime() - 3 * 3600_000).toISOString() } },
    );
    router.weights = { primary: 90, canary: 10 };

    const scheduled = await reconcile({ ...deps, liveness: liveness({}) });
    const manual = await reconcile({ ...deps, liveness: liveness({}) }, { manual: true });

    expect(scheduled.findings).toMatchObject([{ action: 'window-passed' }]);
    expect(manual.findings).toMatchObject([{ action: 'restored' }]);
    expect(router.weights).toEqual({ primary: 100, canary: 0 });
  });
});

describe('strategy.recoveryWindow', () => {
  it('defaults to 2h, accepts up to 6h, and refuses more naming the field', async () => {
    const { validateSpec } = await import('../lambdas/core/spec.ts');
    const { recoveryWindowOf } = await import('../lambdas/app/reconcile.ts');
    const document = (recoveryWindow?: string) => ({
      ...spec,
      spec: { ...spec.spec, strategy: { ...spec.spec.strategy, ...(recoveryWindow ? { recoveryWindow } : {}) } },
    });

    expect(recoveryWindowOf(spec)).toBe(7200);
    const sixHours = validateSpec(document('6h'));
    const sevenHours = validateSpec(document('7h'));

    expect(sixHours.ok && recoveryWindowOf(sixHours.spec)).toBe(21600);
    expect(sevenHours.ok ? [] : sevenHours.problems).toContainEqual({
      path: 'spec.strategy.recoveryWindow',
      message: 'must be at most 6h',
    });
  });
});
