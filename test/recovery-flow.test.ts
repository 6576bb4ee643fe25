/**
 * through the real statemachine/rollout.asl.json in the local
 * engine (real handlers, real sqlite store; a recording router that fails on cue). Each test names
 * the defect it pins: every one of them failed on the code before the issue.
 */
import { StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { describe, expect, it } from 'vitest';
import { GlooRejectedError } from '../lambdas/adapters/router/gloo-weights.ts';
import { requestStart, staticRegistry } from '../lambdas/adapters/control/start-path.ts';
import type { StartAnswer } from '../lambdas/core/start.ts';
import { LOCK_BACKSTOP_SECONDS } from '../lambdas/core/recovery.ts';
import { startRollout } from '../local/commands/run.ts';
import { reconcileLocal } from '../local/recovery.ts';
import type { LocalRuntime } from '../local/runtime.ts';
import { RecordingRouter, scriptedMetrics, successRate, transient } from './support/recording-router.ts';
import { TransientError } from '../lambdas/core/errors.ts';
import { SHORT_RETRIES, flowRuntimes, untilGate, webSpec } from './support/flow.ts';
import type { Script } from './support/recording-router.ts';

const healthy: Script = () => [successRate(99.9)];
const failing: Script = (look) => [successRate(look === 0 ? 99.9 : 50)];
const runtimeWith = flowRuntimes();
const slow = webSpec({ strategy: { interval: '60s', lookInterval: '60s' } });

/** A router whose object Gloo marks Rejected while `rejected` is set (the verdict survives the write). */
class RejectingRouter extends RecordingRouter {
  rejected: string | undefined;

  override async setWeights(
    next: Parameters<RecordingRouter['setWeights']>[0],
    expected: Parameters<RecordingRouter['setWeights']>[1],
  ): Promise<void> {
    await super.setWeights(next, expected);
    if (this.rejected !== undefined)
      throw new GlooRejectedError(`UpstreamGroup gloo-system/web was rejected by Gloo: ${this.rejected}`, this.rejected);
  }

  async rejection(): Promise<string | undefined> {
    return this.rejected;
  }
}

const eventsOf = async (runtime: LocalRuntime, execution: string) =>
  (await runtime.deps.store.listEvents(execution)).map((e) => e.detailType);

describe('recovery: never give up on a live split (real ASL, local engine)', () => {
  it('keeps retrying a sustained API outage in Rollback (12 failed writes, past the old 8 attempts) and lands on 100/0', async () => {
    // Prepare: the canary fails its look at 10%; the API then answers 503 twelve times in a row.
    const router = new RecordingRouter();
    const runtime = await runtimeWith(router, scriptedMetrics(failing));
    const rollout = await startRollout(runtime, webSpec(), { version: 'v2' });
    await untilGate(runtime);
    for (let i = 0; i < 12; i++) router.failNextWrites.push(transient());
    // Act
    const summary = await rollout.done;
    // Assess
    expect(summary.outcome).toBe('rolled-back');
    expect(summary.exitCode).toBe(3);
    expect(router.weights).toEqual({ primary: 100, canary: 0 });
    expect(await runtime.deps.store.getLock('web')).toBeNull();
  });

  it('a 403 ends in RollbackFailed with the record open and Rollout Stuck sent; one `recover` finishes it once RBAC is fixed', async () => {
    const router = new RecordingRouter();
    const runtime = await runtimeWith(router, scriptedMetrics(failing));
    const rollout = await startRollout(runtime, webSpec(), { version: 'v2' });
    await untilGate(runtime);
    // Forbidden for Rollback and for the safety net that follows the failed execution.
    const forbidden = () => new Error('forbidden: patch upstreamgroups gloo-system/web — check the sluice:orchestrator RBAC');
    router.failNextWrites.push(forbidden(), forbidden());

    const summary = await rollout.done;

    expect(summary.outcome).toBe('failed');
    expect(summary.exitCode).toBe(1);
    expect(summary.reason).toMatch(/primary 90% \/ canary 10%.*sluice recover web/);
    expect(router.weights).toEqual({ primary: 90, canary: 10 });
    expect((await runtime.deps.store.getRollout(rollout.name))?.status).toBe('running');
    expect(await eventsOf(runtime, rollout.name)).toContain('Rollout Stuck');

    // RBAC fixed: one command.
    const report = await reconcileLocal(runtime.deps, runtime.dir, { target: 'web', manual: true });

    expect(report.findings).toMatchObject([{ execution: rollout.name, found: 'orphan', action: 'restored', outcome: 'rolled-back' }]);
    expect(router.weights).toEqual({ primary: 100, canary: 0 });
    expect(await runtime.deps.store.getLock('web')).toBeNull();
    expect(await eventsOf(runtime, rollout.name)).toEqual(expect.arrayContaining(['Rollout Recovered', 'Rollout Rolled Back']));
  });

  it('StopExecution while the API is down does not report `aborted` with 90/10 in place; the reconciler restores it after', async () => {
    const router = new RecordingRouter();
    const runtime = await runtimeWith(router, scriptedMetrics(healthy));
    const rollout = await startRollout(runtime, slow, { version: 'v2' });
    await untilGate(runtime);
    router.failNextWrites.push(transient());

    await runtime.sfn.send(new StopExecutionCommand({ executionArn: rollout.executionArn, cause: 'operator pressed stop' }));
    const summary = await rollout.done;

    expect(router.weights).toEqual({ primary: 90, canary: 10 });
    expect(summary.outcome).toBe('failed');
    expect(summary.exitCode).toBe(1);
    expect(summary.reason).toContain('primary 90% / canary 10%');
    const report = await reconcileLocal(runtime.deps, runtime.dir);
    expect(report.findings).toMatchObject([{ execution: rollout.name, action: 'restored' }]);
    expect(router.weights).toEqual({ primary: 100, canary: 0 });
    expect(report.open).toBe(0);
  });

  it('a sticky Gloo Rejected on the safe weights is not reported as restored; once Gloo accepts, the reconciler closes it', async () => {
    const router = new RejectingRouter();
    const runtime = await runtimeWith(router, scriptedMetrics(failing));
    const rollout = await startRollout(runtime, webSpec(), { version: 'v2' });
    await untilGate(runtime);
    router.rejected = 'upstream gloo-system/web-primary not found';

    const summary = await rollout.done;

    expect(summary.outcome).toBe('failed');
    expect(summary.reason).not.toMatch(/restored the safe side/);
    expect((await runtime.deps.store.getRollout(rollout.name))?.status).toBe('running');
    router.rejected = undefined;
    const report = await reconcileLocal(runtime.deps, runtime.dir, { target: 'web' });
    expect(report.findings).toMatchObject([{ action: 'restored', outcome: 'rolled-back' }]);
  });

  it('keeps the lock across a transient Prepare failure: a trigger in between is refused and the `started` one runs', async () => {
    // Prepare: the metrics provider is unreachable on Prepare's first attempt; while that attempt
    // fails, a second, distinct trigger for the same target arrives (the soak's duplicate-trigger + api-drop-burst).
    const router = new RecordingRouter();
    const spec = webSpec();
    let second: Promise<StartAnswer> | undefined;
    // The start path needs the runtime, and the runtime needs the metrics that fire the second trigger.
    const late: { runtime?: LocalRuntime } = {};
    const startDeps = () => {
      const rt = late.runtime;
      if (!rt) throw new Error('runtime not ready');
      return {
        store: rt.deps.store,
        sfn: rt.sfn,
        stateMachineArn: rt.engine.stateMachineArn,
        registry: staticRegistry([spec]),
        now: () => new Date(),
      };
    };
    const online = async () => {
      if (second) return;
      // The other trigger lands while Prepare waits for its retry (1 s here).
      second = new Promise<StartAnswer>((resolve, reject) => {
        setTimeout(
          () =>
            void requestStart(startDeps(), {
              target: 'web',
              version: 'v2',
              requestedBy: 'bob@cli',
              trigger: { source: 'cli', key: 'second', identity: 'bob' },
            }).then(resolve, reject),
          300,
        );
      });
      throw new TransientError('Prometheus http://prometheus:9090 answered 503');
    };
    const runtime = await runtimeWith(router, scriptedMetrics(healthy, { online }), {
      retryIntervalOverrides: { ...SHORT_RETRIES, Prepare: 1000 },
    });
    late.runtime = runtime;

    // Act
    const first = await requestStart(startDeps(), {
      target: 'web',
      version: 'v2',
      requestedBy: 'alice@cli',
      trigger: { source: 'cli', key: 'first', identity: 'alice' },
    });
    await untilGate(runtime);

    // Assess: one answer `started`, and that execution is the one that runs; the other is refused.
    expect(first).toMatchObject({ outcome: 'started', execution: 'web-v2' });
    expect(await second).toMatchObject({ outcome: 'refused', reason: expect.stringContaining('locked by web-v2') });
    expect((await runtime.deps.store.getLock('web'))?.owner).toBe('web-v2');
    expect((await runtime.deps.store.getRollout('web-v2'))?.status).toBe('running');
    expect(router.weights).toEqual({ primary: 90, canary: 10 });
  });

  it('an engine killed after the start path took the lock and before Prepare: `recover web` frees the orphaned lock and the next run starts', async () => {
    // Prepare: a start path takes the lock, then its process dies before StartExecution answers
    // (StartExecution never returns here): no execution runs, no rollout is recorded.
    const router = new RecordingRouter();
    const runtime = await runtimeWith(router, scriptedMetrics(healthy));
    const spec = webSpec();
    const dying = {
      send: ((command: Parameters<typeof runtime.sfn.send>[0]) =>
        command instanceof StartExecutionCommand ? new Promise(() => {}) : runtime.sfn.send(command)) as typeof runtime.sfn.send,
    };
    void requestStart(
      {
        store: runtime.deps.store,
        sfn: dying,
        stateMachineArn: runtime.engine.stateMachineArn,
        registry: staticRegistry([spec]),
        now: () => new Date(),
      },
      { target: 'web', version: 'v2', requestedBy: 'alice@cli', trigger: { source: 'cli', key: 'killed', identity: 'alice' } },
    );
    await expect.poll(async () => (await runtime.deps.store.getLock('web'))?.owner).toBe('web-v2');
    await expect(startRollout(runtime, spec, { version: 'v3' })).rejects.toThrow(/locked by web-v2/);

    // Act: `sluice recover web --local`.
    const report = await reconcileLocal(runtime.deps, runtime.dir, { target: 'web', manual: true });
    const next = await startRollout(runtime, spec, { version: 'v3' });
    // The runtime closes after the test with this rollout mid-bake: its watcher's refused connection is expected.
    next.done.catch(() => undefined);
    await untilGate(runtime);

    // Assess
    expect(report.findings).toMatchObject([{ target: 'web', execution: 'web-v2', found: 'stale-lock', action: 'lock-released' }]);
    expect((await runtime.deps.store.getLock('web'))?.owner).toBe(next.name);
    expect(router.weights).toEqual({ primary: 90, canary: 10 });
  });

  it('takes a lock that follows liveness: it does not lapse at the deadline while the execution lives', async () => {
    const router = new RecordingRouter();
    const runtime = await runtimeWith(router, scriptedMetrics(healthy));
    const rollout = await startRollout(runtime, slow, { version: 'v2' });
    await untilGate(runtime);

    const lock = await runtime.deps.store.getLock('web');

    expect(lock?.owner).toBe(rollout.name);
    // The deadline is 5m; the lock's clock is only the last backstop (a week), liveness frees it first.
    expect(Date.parse(lock?.expiresAt ?? '') - Date.now()).toBeGreaterThan(LOCK_BACKSTOP_SECONDS * 1000 - 60_000);
    const report = await reconcileLocal(runtime.deps, runtime.dir);
    expect(report.findings).toMatchObject([{ execution: rollout.name, found: 'running', action: 'none' }]);
    expect(router.weights).toEqual({ primary: 90, canary: 10 });
  });
});
