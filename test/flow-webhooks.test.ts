/**
 * Flagger-style analysis webhooks through the real statemachine/rollout.asl.json in the local
 * engine: a loopback receiver records every call and answers with scripted statuses.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startRollout } from '../local/commands/run.ts';
import { RecordingRouter, scriptedMetrics, successRate } from './support/recording-router.ts';
import type { Script } from './support/recording-router.ts';
import { flowRuntimes, webSpec } from './support/flow.ts';
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
    const summary = await (
      await startRollout(runtime, specWith([{ name: 'gate', type: 'confirm-promotion', path: '/confirm' }]), { version: 'v2' })
    ).done;
    // Assess
    expect(summary.outcome).toBe('promoted');
    expect(phases('/confirm')).toEqual(['WaitingPromotion', 'WaitingPromotion', 'WaitingPromotion']);
    expect(router.canaryWeights()).toEqual([10, 50, 100]);
    const decisions = (await runtime.deps.store.listSteps(summary.execution)).filter((s) => s.kind === 'decision').map((s) => s.detail);
    expect(decisions.filter((d) => d?.startsWith('bake: waiting to promote: webhook gate (confirm-promotion) answered 403'))).toHaveLength(
      2,
    );
  });

  it('moves no traffic while a confirm-rollout hook answers non-2xx, then runs pre-rollout hooks and starts', async () => {
    server.answer('/confirm', (n) => (n < 2 ? 500 : 204));
    const router = new RecordingRouter();
    const runtime = await runtimeWith(router, scriptedMetrics(healthy));
    const hooks: Hook[] = [
      { name: 'go', type: 'confirm-rollout', path: '/confirm' },
      { name: 'smoke', type: 'pre-rollout', path: '/pre', metadata: { suite: 'smoke' } },
    ];
    const summary = await (await startRollout(runtime, specWith(hooks), { version: 'v2' })).done;
    expect(summary.outcome).toBe('promoted');
    // Three polls of the gate (Prepare, then one per look), and only then the pre-rollout hook, once.
    expect(server.calls.map((c) => c.path)).toEqual(['/confirm', '/confirm', '/confirm', '/pre']);
    expect(server.callsTo('/pre')[0]?.body).toEqual({
      name: 'web',
      namespace: 'gloo-system',
      phase: 'Progressing',
      metadata: { suite: 'smoke' },
    });
    expect(phases('/confirm')).toEqual(['Waiting', 'Waiting', 'Waiting']);
    expect(router.canaryWeights()).toEqual([10, 50, 100]);
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
