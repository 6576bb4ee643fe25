/** Approval gates through the real ASL: before the first weight and before promotion, with their timeouts. */
import { describe, expect, it } from 'vitest';
import { approveRollout } from '../lambdas/adapters/control/rollout-control.ts';
import { startRollout } from '../local/commands/run.ts';
import { RecordingRouter, scriptedMetrics, successRate } from './support/recording-router.ts';
import { flowRuntimes, untilGate, webSpec } from './support/flow.ts';
import type { StrategyOverrides } from './support/flow.ts';

const spec = (approvals: StrategyOverrides['approvals']) => webSpec({ strategy: { approvals } });
const flowRuntime = flowRuntimes();
const runtimeWith = (router: RecordingRouter) =>
  flowRuntime(
    router,
    scriptedMetrics(() => [successRate(99.9)]),
  );

describe('approval gates', () => {
  it('waits before any traffic moves and before promotion, and records who approved', async () => {
    const router = new RecordingRouter();
    const runtime = await runtimeWith(router);
    const rollout = await startRollout(runtime, spec({ beforeStart: true, beforePromotion: true, timeout: '1m' }), { version: 'v2' });
    await untilGate(runtime, 'before-start');
    expect(router.writes).toEqual([]);
    expect(
      await approveRollout({ store: runtime.deps.store, sfn: runtime.sfn, target: 'web', by: 'carol', events: runtime.deps.events }),
    ).toMatchObject({ ok: true });
    await untilGate(runtime, 'before-promotion');
    expect(router.canaryWeights()).toEqual([10, 50]);
    expect(
      await approveRollout({ store: runtime.deps.store, sfn: runtime.sfn, target: 'web', by: 'dave', gate: 'before-promotion' }),
    ).toMatchObject({ ok: true });
    const summary = await rollout.done;
    expect(summary.outcome).toBe('promoted');
    expect(router.canaryWeights()).toEqual([10, 50, 100]);
    const notes = (await runtime.deps.store.listSteps(rollout.name)).filter((s) => s.kind === 'note').map((s) => s.detail);
    expect(notes).toEqual(['approved the before-start gate: carol', 'approved the before-promotion gate: dave']);
    const events = (await runtime.deps.store.listEvents(rollout.name)).map((e) => e.detailType);
    expect(events.filter((t) => t === 'Approval Requested')).toHaveLength(2);
    expect(events).toContain('Approval Given');
  });

  it('aborts when nobody approves in time (onTimeout: abort, exit 4)', async () => {
    const router = new RecordingRouter();
    const runtime = await runtimeWith(router);
    const summary = await (await startRollout(runtime, spec({ beforeStart: true, timeout: '1s', onTimeout: 'abort' }), { version: 'v2' }))
      .done;
    expect(summary.outcome).toBe('aborted');
    expect(summary.exitCode).toBe(4);
    expect(summary.reason).toBe('approval timed out');
    expect(router.writes).toEqual([]);
  });

  it('keeps waiting when nobody approves in time with onTimeout: hold', async () => {
    const router = new RecordingRouter();
    const runtime = await runtimeWith(router);
    const rollout = await startRollout(runtime, spec({ beforeStart: true, timeout: '1s', onTimeout: 'hold' }), { version: 'v2' });
    await untilGate(runtime, 'before-start');
    await new Promise((resolve) => setTimeout(resolve, 2500)); // two timeouts pass
    expect(router.writes).toEqual([]);
    await untilGate(runtime, 'before-start');
    expect(await approveRollout({ store: runtime.deps.store, sfn: runtime.sfn, target: 'web', by: 'erin' })).toMatchObject({ ok: true });
    expect((await rollout.done).outcome).toBe('promoted');
  });

  it('with onTimeout: hold, holds the before-start gate until the deadline at most, then refuses (exit 2): no traffic ever moved', async () => {
    const router = new RecordingRouter();
    const runtime = await runtimeWith(router);
    const rollout = await startRollout(
      runtime,
      webSpec({ strategy: { deadline: '3s', approvals: { beforeStart: true, timeout: '1s', onTimeout: 'hold' } } }),
      { version: 'v2' },
    );
    const summary = await rollout.done;
    expect(summary.outcome).toBe('refused');
    expect(summary.exitCode).toBe(2);
    expect(summary.reason).toContain('deadline passed while waiting for approval');
    expect(router.writes).toEqual([]);
    expect(await runtime.deps.store.getLock('web')).toBeNull();
    expect(await runtime.deps.store.getTaskToken('web')).toBeNull();
    expect((await runtime.deps.store.getRollout(rollout.name))?.status).toBe('finished');
  }, 20_000);

  it('ends a before-promotion gate at the deadline, not at its 1h timeout: rolled back (exit 3), traffic on the primary', async () => {
    const router = new RecordingRouter();
    const runtime = await runtimeWith(router);
    const startedAt = Date.now();
    const rollout = await startRollout(
      runtime,
      webSpec({ strategy: { deadline: '6s', approvals: { beforePromotion: true, timeout: '1h' } } }),
      { version: 'v2' },
    );
    await untilGate(runtime, 'before-promotion');
    const summary = await rollout.done;
    expect(Date.now() - startedAt).toBeLessThan(15_000);
    expect(summary.outcome).toBe('rolled-back');
    expect(summary.exitCode).toBe(3);
    expect(summary.reason).toContain('deadline passed while waiting for approval');
    expect(router.canaryWeights()).toEqual([10, 50, 0]);
    expect(router.weights).toEqual({ primary: 100, canary: 0 });
    expect(await runtime.deps.store.getLock('web')).toBeNull();
  }, 20_000);

  it('refuses an approval when no gate is pending', async () => {
    const router = new RecordingRouter();
    const runtime = await runtimeWith(router);
    expect(await approveRollout({ store: runtime.deps.store, sfn: runtime.sfn, target: 'web', by: 'carol' })).toEqual({
      ok: false,
      message: 'nothing to approve for web: no approval gate is pending',
    });
  });
});
