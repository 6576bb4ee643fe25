/**
 * The rollout flow through the real statemachine/rollout.asl.json in the local engine, with the
 * real handlers and store, a recording router and scripted metrics injected in code.
 * Driven through @aws-sdk/client-sfn against the local endpoint, as the CLI drives AWS.
 */
import { GetExecutionHistoryCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { describe, expect, it } from 'vitest';
import { TransientError } from '../lambdas/core/errors.ts';
import { parseSpec } from '../lambdas/core/spec.ts';
import { abortRollout } from '../local/commands/abort.ts';
import { alarmEvent } from '../local/commands/alarm.ts';
import { onAlarm } from '../lambdas/handlers/alarm.ts';
import { StartRefusedError, startRollout } from '../local/commands/run.ts';
import type { LocalRuntime } from '../local/runtime.ts';
import { RecordingRouter, scriptedMetrics, successRate, transient } from './support/recording-router.ts';
import { flowRuntimes, statesEntered, untilGate, webSpec } from './support/flow.ts';
import type { AnalysisOverrides, StrategyOverrides } from './support/flow.ts';
import type { Script } from './support/recording-router.ts';

const specWith = (strategy: StrategyOverrides = {}, analysis: AnalysisOverrides = {}) => webSpec({ strategy, analysis });
const healthy: Script = () => [successRate(99.9)];
const runtimeWith = flowRuntimes();
const untilBaking = (runtime: LocalRuntime) => untilGate(runtime, 'bake');

describe('rollout flow (real ASL, local engine)', () => {
  it('promotes a healthy canary through exactly the planned weights', async () => {
    // Prepare
    const router = new RecordingRouter();
    const runtime = await runtimeWith(router, scriptedMetrics(healthy));
    // Act
    const summary = await (await startRollout(runtime, specWith(), { version: 'v2' })).done;
    // Assess
    expect(summary.outcome).toBe('promoted');
    expect(summary.exitCode).toBe(0);
    expect(router.canaryWeights()).toEqual([10, 50, 100]);
    expect(summary.steps.map((s) => s.verdict)).toEqual(['pass', 'pass']);
    expect(summary.transitions).toBeGreaterThan(8);
    expect(await runtime.deps.store.getLock('web')).toBeNull();
  });

  it('rolls back after exactly `threshold` failed checks and puts all traffic on the primary', async () => {
    const router = new RecordingRouter();
    const metrics = scriptedMetrics((look) => (look === 0 ? [successRate(99.9)] : [successRate(90)]));
    const runtime = await runtimeWith(router, metrics);
    const summary = await (await startRollout(runtime, specWith({ stepWeights: [10, 20, 30, 40] }), { version: 'v2' })).done;
    expect(summary.outcome).toBe('rolled-back');
    expect(summary.exitCode).toBe(3);
    expect(summary.steps.map((s) => s.verdict)).toEqual(['fail', 'fail']);
    expect(summary.reason).toContain('analysis failed 2/2 checks');
    expect(summary.reason).toContain('request-success-rate 90.00 < min 99');
    expect(router.weights).toEqual({ primary: 100, canary: 0 });
    expect(router.canaryWeights()).toEqual([10, 0]);
  });

  it('retries a transient error in SetWeight and carries on', async () => {
    const router = new RecordingRouter();
    router.failNextWrites.push(transient());
    const runtime = await runtimeWith(router, scriptedMetrics(healthy));
    const rollout = await startRollout(runtime, specWith(), { version: 'v2' });
    const summary = await rollout.done;
    expect(summary.outcome).toBe('promoted');
    const history = await runtime.sfn.send(new GetExecutionHistoryCommand({ executionArn: rollout.executionArn }));
    const failed = history.events?.filter((e) => e.type === 'LambdaFunctionFailed' || e.type === 'TaskFailed') ?? [];
    expect(failed.length).toBeGreaterThanOrEqual(1);
    expect(router.canaryWeights()).toEqual([10, 50, 100]);
  });

  it('sends a permanent error in any Task down the rollback path, traffic on the safe side', async () => {
    const router = new RecordingRouter();
    const metrics = scriptedMetrics((look) => {
      if (look === 2) throw new Error('Prometheus answered 400: parse error at char 7');
      return [successRate(99.9)];
    });
    const runtime = await runtimeWith(router, metrics);
    const summary = await (await startRollout(runtime, specWith({ stepWeights: [10, 20, 30] }), { version: 'v2' })).done;
    expect(summary.outcome).toBe('rolled-back');
    expect(summary.reason).toContain('parse error at char 7');
    expect(router.weights).toEqual({ primary: 100, canary: 0 });
  });

  it('rolls back within 2 seconds when aborted during a bake', async () => {
    const router = new RecordingRouter();
    const runtime = await runtimeWith(router, scriptedMetrics(healthy));
    const rollout = await startRollout(runtime, specWith({ interval: '60s', lookInterval: '60s' }), { version: 'v2' });
    await untilBaking(runtime);
    const abortedAt = Date.now();
    const result = await abortRollout({ store: runtime.deps.store, sfn: runtime.sfn, target: 'web', by: 'alice', reason: 'looks wrong' });
    const summary = await rollout.done;
    expect(result).toMatchObject({ ok: true, interruptedBake: true });
    expect(Date.now() - abortedAt).toBeLessThan(2000);
    expect(summary.outcome).toBe('aborted');
    expect(summary.exitCode).toBe(4);
    expect(summary.reason).toContain('aborted by alice: looks wrong');
    expect(router.weights).toEqual({ primary: 100, canary: 0 });
  });

  it('rolls back within 2 seconds when an alarm the rollout names goes to ALARM during a bake', async () => {
    const router = new RecordingRouter();
    const runtime = await runtimeWith(router, scriptedMetrics(healthy));
    const rollout = await startRollout(runtime, specWith({ interval: '60s', lookInterval: '60s' }), { version: 'v2' });
    await untilBaking(runtime);
    const firedAt = Date.now();
    const result = await onAlarm(
      { ...runtime.deps, sfn: runtime.sfn },
      { target: 'web', event: alarmEvent('web-5xx-high', 'Threshold Crossed: 1 datapoint [12.0] > 5.0') },
    );
    const summary = await rollout.done;
    expect(result).toMatchObject({ ok: true, interruptedBake: true });
    expect(Date.now() - firedAt).toBeLessThan(2000);
    expect(summary.outcome).toBe('rolled-back');
    expect(summary.exitCode).toBe(3);
    expect(summary.reason).toBe('alarm web-5xx-high: Threshold Crossed: 1 datapoint [12.0] > 5.0');
    expect(router.weights).toEqual({ primary: 100, canary: 0 });
  });

  it('ignores an alarm that returns to OK', async () => {
    const router = new RecordingRouter();
    const runtime = await runtimeWith(router, scriptedMetrics(healthy));
    const ok = alarmEvent('web-5xx-high', 'back to normal');
    const result = await onAlarm(
      { ...runtime.deps, sfn: runtime.sfn },
      { target: 'web', event: { ...ok, detail: { ...ok.detail, state: { value: 'OK', reason: '' } } } },
    );
    expect(result).toEqual({ ok: false, message: 'alarm web-5xx-high is OK: nothing to do' });
  });

  it('rolls back at the next task when aborted between tasks', async () => {
    const router = new RecordingRouter();
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    let analyzing: () => void = () => {};
    const inAnalyze = new Promise<void>((resolve) => (analyzing = resolve));
    const metrics = scriptedMetrics(async (look) => {
      if (look === 1) {
        analyzing();
        await gate;
      }
      return [successRate(99.9)];
    });
    const runtime = await runtimeWith(router, metrics);
    const rollout = await startRollout(runtime, specWith({ stepWeights: [10, 20, 30] }), { version: 'v2' });
    await inAnalyze;
    const result = await abortRollout({ store: runtime.deps.store, sfn: runtime.sfn, target: 'web', by: 'bob', reason: 'between tasks' });
    release();
    const summary = await rollout.done;
    expect(result).toMatchObject({ ok: true, interruptedBake: false });
    expect(summary.outcome).toBe('aborted');
    expect(router.canaryWeights()).toEqual([10, 0]);
  });

  it('restores the safe side through the safety net after StopExecution', async () => {
    const router = new RecordingRouter();
    const runtime = await runtimeWith(router, scriptedMetrics(healthy));
    const rollout = await startRollout(runtime, specWith({ interval: '60s', lookInterval: '60s' }), { version: 'v2' });
    await untilBaking(runtime);
    expect(router.weights).toEqual({ primary: 90, canary: 10 });
    await runtime.sfn.send(new StopExecutionCommand({ executionArn: rollout.executionArn, cause: 'operator pressed stop' }));
    const summary = await rollout.done;
    expect(summary.outcome).toBe('aborted');
    expect(router.weights).toEqual({ primary: 100, canary: 0 });
    expect((await runtime.deps.store.getRollout(rollout.name))?.status).toBe('finished');
    expect(await runtime.deps.store.getLock('web')).toBeNull();
  });

  it('refuses a second rollout of a locked target with exit 2, naming the running one', async () => {
    const router = new RecordingRouter();
    const runtime = await runtimeWith(router, scriptedMetrics(healthy));
    const first = await startRollout(runtime, specWith({ interval: '60s', lookInterval: '60s' }), { version: 'v2' });
    await untilBaking(runtime);
    // The start path takes the lock atomically: the second start is refused before any execution exists.
    const second = await startRollout(runtime, specWith(), { version: 'v3' }).catch((error: unknown) => error);
    expect(second).toBeInstanceOf(StartRefusedError);
    expect((second as StartRefusedError).answer.outcome).toBe('refused');
    expect((second as StartRefusedError).message).toContain(`locked by ${first.name}`);
    expect(await runtime.deps.store.listRollouts('web')).toHaveLength(1);
    expect(router.canaryWeights()).toEqual([10]);
    await abortRollout({ store: runtime.deps.store, sfn: runtime.sfn, target: 'web', by: 'test', reason: 'cleanup' });
    await first.done;
  });

  it('starts the same version again after a rollback, as a new attempt', async () => {
    const router = new RecordingRouter();
    let failing = true;
    const runtime = await runtimeWith(
      router,
      scriptedMetrics(() => [successRate(failing ? 50 : 99.9)], {}),
    );
    const spec = specWith({ threshold: 1 });
    const first = await startRollout(runtime, spec, { version: 'v2' });
    // The preflight reads the primary only; the canary's first look fails.
    expect((await first.done).outcome).toBe('rolled-back');
    failing = false;
    const retry = await startRollout(runtime, spec, { version: 'v2' });
    const summary = await retry.done;
    expect(retry.name).not.toBe(first.name);
    expect(retry.name).toMatch(/-a2$/);
    expect(summary.outcome).toBe('promoted');
  });

  it('treats missing data per noData: fail rolls back, hold waits at the weight, pass advances', async () => {
    const noData: Script = (look) => (look === 0 ? [successRate(99.9)] : [successRate(null)]);

    const failRouter = new RecordingRouter();
    const failed = await (await startRollout(await runtimeWith(failRouter, scriptedMetrics(noData)), specWith(), { version: 'v2' })).done;
    expect(failed.outcome).toBe('rolled-back');
    expect(failed.reason).toContain('no metric data');

    const holdRouter = new RecordingRouter();
    // Two empty looks, then data returns.
    const holdMetrics = scriptedMetrics((look) => (look === 1 || look === 2 ? [successRate(null)] : [successRate(99.9)]));
    const held = await (await startRollout(await runtimeWith(holdRouter, holdMetrics), specWith({}, { noData: 'hold' }), { version: 'v2' }))
      .done;
    expect(held.outcome).toBe('promoted');
    expect(held.steps.map((s) => s.verdict)).toEqual(['no-data', 'no-data', 'pass', 'pass']);
    expect(holdRouter.canaryWeights()).toEqual([10, 50, 100]);

    const passRouter = new RecordingRouter();
    const passed = await (
      await startRollout(await runtimeWith(passRouter, scriptedMetrics(noData)), specWith({}, { noData: 'pass' }), { version: 'v2' })
    ).done;
    expect(passed.outcome).toBe('promoted');
  });

  it('shadows traffic to the canary first, judging it, and removes the mirror before live weights', async () => {
    const router = new RecordingRouter();
    const seen: string[] = [];
    const metrics = scriptedMetrics((look) => {
      seen.push(`${look}:${router.shadow ? 'shadow' : 'none'}:${router.weights.canary}`);
      return [successRate(99.9)];
    });
    const runtime = await runtimeWith(router, metrics);
    const spec = parseSpec({
      ...specWith(),
      spec: {
        ...specWith().spec,
        router: { ...specWith().spec.router, route: { virtualService: 'web', namespace: 'gloo-system', name: 'main' } },
        strategy: { ...specWith().spec.strategy, shadow: { percentage: 50, duration: '2s' } },
      },
    });
    const rollout = await startRollout(runtime, spec, { version: 'v2' });
    const summary = await rollout.done;
    expect(summary.outcome).toBe('promoted');
    // Look 0 is the preflight; looks 1-2 judge the shadowed canary with no live weight on it.
    expect(seen.slice(1, 3)).toEqual(['1:shadow:0', '2:shadow:0']);
    expect(seen[3]).toBe('3:none:10');
    expect(router.canaryWeights()).toEqual([10, 50, 100]);
    expect(router.shadow).toBeNull();
    // The shadow stage is a state of its own, before the first live step.
    const states = await statesEntered(runtime, rollout.executionArn);
    expect(states.slice(0, 10)).toEqual([
      'Prepare',
      'StartGate',
      'Shadow',
      'Bake',
      'Analyze',
      'Decide',
      'Bake',
      'Analyze',
      'Decide',
      'SetWeight',
    ]);
  });

  it('removes the mirror when a shadowed canary fails', async () => {
    const router = new RecordingRouter();
    const runtime = await runtimeWith(
      router,
      scriptedMetrics((look) => [successRate(look === 0 ? 99.9 : 80)]),
    );
    const base = specWith({ threshold: 1 });
    const spec = parseSpec({
      ...base,
      spec: {
        ...base.spec,
        router: { ...base.spec.router, route: { virtualService: 'web', namespace: 'gloo-system', name: 'main' } },
        strategy: { ...base.spec.strategy, shadow: { percentage: 100, duration: '5s' } },
      },
    });
    const summary = await (await startRollout(runtime, spec, { version: 'v2' })).done;
    expect(summary.outcome).toBe('rolled-back');
    expect(router.writes).toEqual([]);
    expect(router.shadow).toBeNull();
  });

  it('refuses before any change when the metrics server is down (exit 2)', async () => {
    const router = new RecordingRouter();
    const metrics = scriptedMetrics(healthy, {
      online: async () => {
        throw new TransientError('Prometheus at http://127.0.0.1:9 is unreachable: connect ECONNREFUSED');
      },
    });
    const runtime = await runtimeWith(router, metrics);
    const summary = await (await startRollout(runtime, specWith(), { version: 'v2' })).done;
    expect(summary.outcome).toBe('refused');
    expect(summary.exitCode).toBe(2);
    expect(summary.reason).toContain('ECONNREFUSED');
    expect(router.writes).toEqual([]);
    expect(await runtime.deps.store.getLock('web')).toBeNull();
  });
});
