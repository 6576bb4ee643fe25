/**
 * Change windows in the real flow: statemachine/rollout.asl.json in the local engine with the real
 * handlers and store, a recording router and scripted metrics (as in flow.test.ts). The handlers'
 * clock is injected (`overrides.now`) so a test can step out of a deny window without waiting it out.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startOrQueue } from '../lambdas/core/schedule.ts';
import type { RolloutSpec } from '../lambdas/core/spec.ts';
import type { ChangeWindow } from '../lambdas/core/windows.ts';
import { abortRollout } from '../local/commands/abort.ts';
import { StartRefusedError, startRollout } from '../local/commands/run.ts';
import { startLocalRuntime } from '../local/runtime.ts';
import type { LocalRuntime } from '../local/runtime.ts';
import { LocalScheduler, schedulesPath } from '../local/scheduler.ts';
import { RecordingRouter, recordingCluster, scriptedMetrics, successRate } from './support/recording-router.ts';
import type { Script } from './support/recording-router.ts';
import { webSpec } from './support/flow.ts';
import type { StrategyOverrides } from './support/flow.ts';

const MINUTE = 60_000;

// 12 minutes of 1 s looks stays inside Step Functions' history budget.
const specWith = (windows: ChangeWindow[], strategy: StrategyOverrides = {}): RolloutSpec =>
  webSpec({ strategy: { deadline: '12m', windows, ...strategy } });

/**
 * A deny window that closes half a second from now (right after the start: the start path refuses a
 * start inside a closed window, as it does for every trigger) until `untilMs` from now; the first
 * look comes a bake interval (1 s) after the first weight, inside the closed window.
 */
const denyUntil = (untilMs: number): ChangeWindow => ({
  kind: 'deny',
  from: new Date(Date.now() + 500).toISOString(),
  to: new Date(Date.now() + untilMs).toISOString(),
});

const healthy: Script = () => [successRate(99.9)];
const open: Array<{ close(): Promise<void> } | LocalScheduler> = [];
const dirs: string[] = [];

/** The handlers' clock: real time plus `shift` ms. */
function shiftedClock() {
  const clock = { shift: 0, now: () => new Date(Date.now() + clock.shift) };
  return clock;
}

async function runtimeWith(
  router: RecordingRouter,
  metrics: ReturnType<typeof scriptedMetrics>,
  now?: () => Date,
): Promise<{ runtime: LocalRuntime; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-flow-windows-'));
  dirs.push(dir);
  const retryIntervalOverrides = Object.fromEntries(
    ['Prepare', 'SetWeight', 'Bake', 'Analyze', 'Promote', 'Finish', 'Rollback'].map((state) => [state, 50]),
  );
  const runtime = await startLocalRuntime({
    dir,
    advertise: false,
    retryIntervalOverrides,
    overrides: { ...recordingCluster(router), ...metrics, ...(now ? { now } : {}) },
  });
  open.push(runtime);
  return { runtime, dir };
}

afterEach(async () => {
  for (const item of open.splice(0).reverse()) {
    if (item instanceof LocalScheduler) await item.stop();
    else await item.close();
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** The decisions Analyze recorded for an execution, in order. */
async function decisions(runtime: LocalRuntime, execution: string): Promise<string[]> {
  return (await runtime.deps.store.listSteps(execution)).filter((step) => step.kind === 'decision').map((step) => step.detail ?? '');
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const isHold = (detail: string) => detail.startsWith('bake: holding at this weight outside the change windows: deny window #1');

describe('change windows in the rollout flow (real ASL, local engine)', () => {
  it('holds a running rollout at its weight outside a window, judging every look, and resumes inside', async () => {
    // Prepare: a deny window for the next 10 minutes of the handlers' clock.
    const router = new RecordingRouter();
    const metrics = scriptedMetrics(healthy);
    const clock = shiftedClock();
    const { runtime } = await runtimeWith(router, metrics, clock.now);
    const rollout = await startRollout(runtime, specWith([denyUntil(10 * MINUTE)]), { version: 'v2' });

    // Act: let it hold for three looks, then move the clock past the window's end.
    await until(async () => (await decisions(runtime, rollout.name)).filter(isHold).length >= 3, 'three held looks');
    const weightsWhileHeld = router.canaryWeights();
    clock.shift = 10 * MINUTE;
    const summary = await rollout.done;

    // Assess
    expect(weightsWhileHeld).toEqual([10]);
    expect(summary.outcome).toBe('promoted');
    expect(router.canaryWeights()).toEqual([10, 50, 100]);
    const made = await decisions(runtime, rollout.name);
    const held = made.filter(isHold).length;
    expect(held).toBeGreaterThanOrEqual(3);
    // Every look was judged, held or not: one verdict per decision.
    expect(summary.steps.filter((s) => s.verdict === 'pass').length).toBe(made.length);
    // After the hold: advance, then promote.
    expect(made.slice(held)).toEqual(['advance', 'promote']);
  });

  it('`sluice run` starts through the start path: refused inside a closed window (nothing moves), started with --override', async () => {
    // Prepare: a deny window in force now.
    const router = new RecordingRouter();
    const { runtime } = await runtimeWith(router, scriptedMetrics(healthy));
    const closed = specWith([
      { kind: 'deny', from: new Date(Date.now() - MINUTE).toISOString(), to: new Date(Date.now() + 60 * MINUTE).toISOString() },
    ]);

    // Act
    const refused = await startRollout(runtime, closed, { version: 'v2' }).catch((error: unknown) => error);
    const notes: string[] = [];
    const overridden = await startRollout(runtime, closed, { version: 'v2', override: 'hotfix INC-7', onNote: (line) => notes.push(line) });
    const summary = await overridden.done;

    // Assess: the refusal names the window and left nothing behind; the override is recorded and audited.
    expect(refused).toBeInstanceOf(StartRefusedError);
    expect((refused as StartRefusedError).message).toMatch(/^refused: .*deny window #1/);
    expect(notes).toEqual([expect.stringContaining('change windows of web overridden until')]);
    expect(summary.outcome).toBe('promoted');
    expect(router.canaryWeights()).toEqual([10, 50, 100]);
    const rollouts = await runtime.deps.store.listRollouts('web');
    expect(rollouts.map((r) => r.execution)).toEqual([overridden.name]);
  });

  it('still rolls back a failing canary while it is held', async () => {
    const router = new RecordingRouter();
    const metrics = scriptedMetrics((look) => (look === 0 ? [successRate(99.9)] : [successRate(90)]));
    const { runtime } = await runtimeWith(router, metrics);
    const rollout = await startRollout(runtime, specWith([denyUntil(60 * MINUTE)]), { version: 'v2' });

    const summary = await rollout.done;

    expect(summary.outcome).toBe('rolled-back');
    expect(summary.exitCode).toBe(3);
    expect(summary.reason).toContain('analysis failed 2/2 checks');
    expect(router.canaryWeights()).toEqual([10, 0]);
    expect(router.weights).toEqual({ primary: 100, canary: 0 });
  });

  it('lands an abort within 2 seconds while held', async () => {
    const router = new RecordingRouter();
    const { runtime } = await runtimeWith(router, scriptedMetrics(healthy));
    const rollout = await startRollout(runtime, specWith([denyUntil(60 * MINUTE)]), { version: 'v2' });
    await until(async () => (await decisions(runtime, rollout.name)).some(isHold), 'a held look');

    const abortedAt = Date.now();
    const result = await abortRollout({ store: runtime.deps.store, sfn: runtime.sfn, target: 'web', by: 'alice', reason: 'freeze' });
    const summary = await rollout.done;

    expect(result.ok).toBe(true);
    expect(Date.now() - abortedAt).toBeLessThan(2000);
    expect(summary.outcome).toBe('aborted');
    expect(router.weights).toEqual({ primary: 100, canary: 0 });
  });

  it('queues a rollout requested outside a window and starts it through the local scheduler when the window opens', async () => {
    // Prepare: an allow window that opens in 1.5 s; the scheduler's start path is the engine's.
    const router = new RecordingRouter();
    const { runtime, dir } = await runtimeWith(router, scriptedMetrics(healthy));
    const opens = new Date(Date.now() + 1500);
    const spec = specWith([{ kind: 'allow', from: opens.toISOString(), to: new Date(opens.getTime() + 60 * MINUTE).toISOString() }]);
    let started: ReturnType<typeof startRollout> | undefined;
    let firedAt = 0;
    const scheduler = new LocalScheduler({
      path: schedulesPath(dir),
      pollMs: 50,
      start: async (_target, version, requestedBy) => {
        firedAt = Date.now();
        started = startRollout(runtime, spec, { version, requestedBy });
        await started;
      },
    });
    open.push(scheduler);

    // Act
    const request = { target: 'web', version: 'v2', requestedBy: 'U0ALICE' };
    const queued = await startOrQueue({
      windows: spec.spec.strategy.windows,
      now: new Date(),
      request,
      scheduler,
      start: () => startRollout(runtime, spec, request),
    });
    const weightsBeforeOpening = router.canaryWeights();
    await until(async () => started !== undefined, 'the scheduled start', 5000);
    const summary = await (await (started as ReturnType<typeof startRollout>)).done;

    // Assess
    expect(queued).toMatchObject({ queued: true, at: opens });
    expect(weightsBeforeOpening).toEqual([]);
    expect(firedAt).toBeGreaterThanOrEqual(opens.getTime());
    expect(summary.outcome).toBe('promoted');
    expect(router.canaryWeights()).toEqual([10, 50, 100]);
    expect(await scheduler.list()).toEqual([]);
  });
});
