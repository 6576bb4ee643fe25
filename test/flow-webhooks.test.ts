/**
 * Flagger-style analysis webhooks through the real statemachine/rollout.asl.json in the local
 * engine: a loopback receiver records every call and answers with scripted statuses.
 */
import { GetExecutionHistoryCommand } from '@aws-sdk/client-sfn';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HISTORY_EVENTS_PER_GATE_CALL } from '../lambdas/core/limits.ts';
import { abortRollout } from '../local/commands/abort.ts';
import { startRollout } from '../local/commands/run.ts';
import { RecordingRouter, scriptedMetrics, successRate } from './support/recording-router.ts';
import type { Script } from './support/recording-router.ts';
import { flowRuntimes, statesEntered, untilGate, webSpec } from './support/flow.ts';
import type { StrategyOverrides } from './support/flow.ts';
import { startWebhookServer } from './support/webhook-server.ts';
import type { WebhookServer } from './support/webhook-server.ts';

type Hook = {
  name: string;
  type: 'pre-rollout' | 'rollout' | 'confirm-rollout' | 'confirm-promotion' | 'post-rollout' | 'rollback' | 'event';
  path: string;
  metadata?: Record<string, string>;
};

const healthy: Script = () => [successRate(99.9)];
const runtimeWith = flowRuntimes();
let server: WebhookServer;
beforeEach(async () => {
  server = await startWebhookServer();
});
afterEach(async () => server.close());

const specWith = (hooks: Hook[], strategy: StrategyOverrides = {}) =>
  webSpec({ strategy, analysis: { webhooks: hooks.map(({ path, ...hook }) => ({ ...hook, url: server.url(path), timeout: '2s' })) } });
const phases = (path: string) => server.callsTo(path).map((call) => (call.body as { phase: string }).phase);

describe('webhooks (real ASL, local engine)', () => {
  it('holds the promotion while a confirm-promotion hook answers non-2xx, and promotes once it answers 2xx', async () => {
    // Prepare: the gate says no twice, then yes
    server.answer('/confirm', (n) => (n < 2 ? 403 : 200));
    const router = new RecordingRouter();
    const runtime = await runtimeWith(router, scriptedMetrics(healthy));
    // Act
    const rollout = await startRollout(runtime, specWith([{ name: 'gate', type: 'confirm-promotion', path: '/confirm' }]), {
      version: 'v2',
    });
    const summary = await rollout.done;
    // Assess
    expect(summary.outcome).toBe('promoted');
    expect(phases('/confirm')).toEqual(['WaitingPromotion', 'WaitingPromotion', 'WaitingPromotion']);
    expect(router.canaryWeights()).toEqual([10, 50, 100]);
    const decisions = (await runtime.deps.store.listSteps(summary.execution)).filter((s) => s.kind === 'decision').map((s) => s.detail);
    expect(decisions.filter((d) => d?.startsWith('bake: waiting to promote: webhook gate (confirm-promotion) answered 403'))).toHaveLength(
      2,
    );
    // The gate is states: each closed answer bakes again (the analysis keeps judging) and the next look asks again.
    const states = await statesEntered(runtime, rollout.executionArn);
    const gate = states.slice(states.indexOf('ConfirmPromotion'));
    expect(gate.slice(0, 6)).toEqual(['ConfirmPromotion', 'PromotionConfirmed', 'Bake', 'Analyze', 'Decide', 'ConfirmPromotion']);
    expect(states.filter((s) => s === 'ConfirmPromotion')).toHaveLength(3);
    expect(gate).toEqual(expect.arrayContaining(['PromotionGate', 'CheckCanary', 'Finish', 'Promoted']));
    // What one call costs in the history, as the deadline's history budget counts it.
    const history =
      (await runtime.sfn.send(new GetExecutionHistoryCommand({ executionArn: rollout.executionArn, maxResults: 1000 }))).events ?? [];
    const first = history.findIndex((e) => e.stateEnteredEventDetails?.name === 'ConfirmPromotion');
    const last = history.findIndex((e, i) => i > first && e.stateExitedEventDetails?.name === 'PromotionConfirmed');
    expect(last - first + 1).toBe(HISTORY_EVENTS_PER_GATE_CALL);
  });

  it('moves no traffic while a confirm-rollout hook answers non-2xx, then runs pre-rollout hooks and starts', async () => {
    server.answer('/confirm', (n) => (n < 2 ? 500 : 204));
    const router = new RecordingRouter();
    const runtime = await runtimeWith(router, scriptedMetrics(healthy));
    const hooks: Hook[] = [
      { name: 'go', type: 'confirm-rollout', path: '/confirm' },
      { name: 'smoke', type: 'pre-rollout', path: '/pre', metadata: { suite: 'smoke' } },
    ];
    const rollout = await startRollout(runtime, specWith(hooks), { version: 'v2' });
    const summary = await rollout.done;
    expect(summary.outcome).toBe('promoted');
    // Three calls of the gate (one per look until it opens), and only then the pre-rollout hook, once.
    expect(server.calls.map((c) => c.path)).toEqual(['/confirm', '/confirm', '/confirm', '/pre']);
    expect(server.callsTo('/pre')[0]?.body).toEqual({
      name: 'web',
      namespace: 'gloo-system',
      phase: 'Progressing',
      metadata: { suite: 'smoke' },
    });
    expect(phases('/confirm')).toEqual(['Waiting', 'Waiting', 'Waiting']);
    expect(router.canaryWeights()).toEqual([10, 50, 100]);
    // The gate is states: call, Choice, a look's wait, call again; then the pre-rollout hooks, then the first step.
    const states = await statesEntered(runtime, rollout.executionArn);
    expect(states.slice(0, 13)).toEqual([
      'Prepare',
      'StartGate',
      'ConfirmRollout',
      'RolloutConfirmed',
      'WaitToStart',
      'ConfirmRollout',
      'RolloutConfirmed',
      'WaitToStart',
      'ConfirmRollout',
      'RolloutConfirmed',
      'PreRollout',
      'BeforeTraffic',
      'SetWeight',
    ]);
    // Each closed answer is recorded as the look that polled the gate recorded it; the open one says so.
    const decisions = (await runtime.deps.store.listSteps(summary.execution)).filter((s) => s.kind === 'decision').map((s) => s.detail);
    expect(decisions.slice(0, 3)).toEqual([
      'bake: waiting to start: webhook go (confirm-rollout) answered 500',
      'bake: waiting to start: webhook go (confirm-rollout) answered 500',
      'advance: confirm-rollout webhooks answered 2xx: starting',
    ]);
  });

  it('ends the confirm-rollout wait at once on an abort: nothing moved, exit 4', async () => {
    server.answer('/confirm', () => 403);
    const router = new RecordingRouter();
    const runtime = await runtimeWith(router, scriptedMetrics(healthy));
    const spec = specWith([{ name: 'go', type: 'confirm-rollout', path: '/confirm' }], { interval: '60s', lookInterval: '60s' });
    const rollout = await startRollout(runtime, spec, { version: 'v2' });
    // The gate's wait holds a task token like a bake: the abort fails it.
    await untilGate(runtime, 'bake');
    const abortedAt = Date.now();
    const result = await abortRollout({ store: runtime.deps.store, sfn: runtime.sfn, target: 'web', by: 'alice', reason: 'not today' });
    const summary = await rollout.done;
    expect(result).toMatchObject({ ok: true, interruptedBake: true });
    expect(Date.now() - abortedAt).toBeLessThan(2000);
    expect(summary.outcome).toBe('aborted');
    expect(summary.exitCode).toBe(4);
    expect(summary.reason).toContain('aborted by alice: not today');
    expect(router.writes).toEqual([]);
    expect((await statesEntered(runtime, rollout.executionArn)).slice(-4)).toEqual([
      'WaitToStart',
      'Rollback',
      'RollbackOutcome',
      'Aborted',
    ]);
  });

  it('ends a confirm-rollout gate nobody opens at the deadline, and on a rollback hook answering 2xx: nothing moved, exit 2', async () => {
    server.answer('/confirm', () => 403);
    server.answer('/stop', (n) => (n < 1 ? 404 : 200));
    const router = new RecordingRouter();
    const runtime = await runtimeWith(router, scriptedMetrics(healthy));
    const late = await (
      await startRollout(runtime, specWith([{ name: 'go', type: 'confirm-rollout', path: '/confirm' }], { deadline: '2s' }), {
        version: 'v2',
      })
    ).done;
    expect(late.outcome).toBe('refused');
    expect(late.exitCode).toBe(2);
    expect(late.reason).toMatch(/deadline passed at .* while waiting for webhook go \(confirm-rollout\) answered 403/);
    const stopped = await (
      await startRollout(
        runtime,
        specWith([
          { name: 'go', type: 'confirm-rollout', path: '/confirm' },
          { name: 'stop', type: 'rollback', path: '/stop' },
        ]),
        { version: 'v3' },
      )
    ).done;
    expect(stopped.outcome).toBe('refused');
    expect(stopped.reason).toContain('rollback webhook stop answered 200');
    // Flagger's phase while a canary waits, for both hook types.
    expect(phases('/stop')).toEqual(['Waiting', 'Waiting']);
    expect(router.writes).toEqual([]);
    expect(await runtime.deps.store.getLock('web')).toBeNull();
  });

  it('refuses the rollout when a pre-rollout hook answers non-2xx, changing nothing', async () => {
    server.answer('/pre', () => 500);
    const router = new RecordingRouter();
    const runtime = await runtimeWith(router, scriptedMetrics(healthy));
    const summary = await (await startRollout(runtime, specWith([{ name: 'smoke', type: 'pre-rollout', path: '/pre' }]), { version: 'v2' }))
      .done;
    expect(summary.outcome).toBe('refused');
    expect(summary.exitCode).toBe(2);
    expect(summary.reason).toContain('pre-rollout webhook smoke (pre-rollout) answered 500');
    expect(router.writes).toEqual([]);
    expect(await runtime.deps.store.getLock('web')).toBeNull();
  });

  it('counts a rollout hook answering non-2xx as a failed check: `threshold` of them roll back', async () => {
    server.answer('/load', (n) => (n === 0 ? 200 : 500));
    const router = new RecordingRouter();
    const runtime = await runtimeWith(router, scriptedMetrics(healthy));
    const spec = specWith([{ name: 'load', type: 'rollout', path: '/load', metadata: { cmd: 'hey -z 1m' } }], {
      stepWeights: [10, 20, 30, 40],
    });
    const summary = await (await startRollout(runtime, spec, { version: 'v2' })).done;
    expect(summary.outcome).toBe('rolled-back');
    expect(summary.reason).toBe('analysis failed 2/2 checks: webhook load (rollout) answered 500');
    expect(summary.steps.map((s) => s.verdict)).toEqual(['pass', 'fail', 'fail']);
    expect(server.callsTo('/load')[0]?.body).toEqual({
      name: 'web',
      namespace: 'gloo-system',
      phase: 'Progressing',
      metadata: { cmd: 'hey -z 1m' },
    });
    expect(router.weights).toEqual({ primary: 100, canary: 0 });
  });

  it('rolls back when a rollback hook answers 2xx, and leaves it be while it answers non-2xx', async () => {
    server.answer('/stop', (n) => (n === 0 ? 404 : 200));
    const router = new RecordingRouter();
    const runtime = await runtimeWith(router, scriptedMetrics(healthy));
    const spec = specWith([{ name: 'stop', type: 'rollback', path: '/stop' }], { stepWeights: [10, 20, 30, 40] });
    const summary = await (await startRollout(runtime, spec, { version: 'v2' })).done;
    expect(summary.outcome).toBe('rolled-back');
    expect(summary.reason).toBe('rollback webhook stop answered 200');
    expect(router.canaryWeights()).toEqual([10, 20, 0]);
    expect(router.weights).toEqual({ primary: 100, canary: 0 });
  });

  it('never fails a rollout for failing post-rollout and event hooks, and sends them every event', async () => {
    server.answer('/post', () => 500);
    server.answer('/events', () => 500);
    const router = new RecordingRouter();
    const runtime = await runtimeWith(router, scriptedMetrics(healthy));
    const hooks: Hook[] = [
      { name: 'notify', type: 'post-rollout', path: '/post' },
      { name: 'audit', type: 'event', path: '/events' },
    ];
    const summary = await (await startRollout(runtime, specWith(hooks), { version: 'v2' })).done;
    expect(summary.outcome).toBe('promoted');
    expect(phases('/post')).toEqual(['Succeeded']);
    const messages = server
      .callsTo('/events')
      .map((c) => (c.body as { metadata: { eventMessage: string } }).metadata.eventMessage.split(':')[0]);
    expect(messages).toEqual([
      'Rollout Started',
      'Weight Changed',
      'Analysis Completed',
      'Weight Changed',
      'Analysis Completed',
      'Rollout Promoted',
    ]);
    expect(phases('/events').at(-1)).toBe('Succeeded');
  });
});
