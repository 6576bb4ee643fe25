import { describe, expect, it } from 'vitest';
import { initialRun } from './rollout.ts';
import { parseSpec } from './spec.ts';
import { confirmPromotionAnswer, confirmRolloutAnswer, webhookPayload } from './webhooks.ts';
import type { WebhookResult } from './webhooks.ts';

const spec = parseSpec({
  apiVersion: 'sluice.dev/v1',
  kind: 'Rollout',
  metadata: { name: 'web' },
  spec: {
    cluster: { kubeconfigContext: 'kind' },
    router: {
      name: 'web',
      namespace: 'gloo-system',
      primary: { upstream: { name: 'web-primary', namespace: 'gloo-system' } },
      canary: { upstream: { name: 'web-canary', namespace: 'gloo-system' } },
      route: { virtualService: 'web', namespace: 'gloo-system', name: 'main' },
    },
    strategy: { stepWeights: [10, 50], interval: '1m', deadline: '10m', shadow: { percentage: 100, duration: '2m' } },
    analysis: {
      judge: 'threshold',
      prometheus: { address: 'http://127.0.0.1:9090' },
      webhooks: [{ name: 'go', type: 'confirm-rollout', url: 'http://gate.test/open', metadata: { team: 'shop' } }],
    },
  },
});
const start = new Date('2026-11-27T10:00:00Z');
const closed: WebhookResult[] = [{ name: 'go', type: 'confirm-rollout', ok: false, status: 403 }];

describe('webhook decisions', () => {
  it('builds the payload from the target, its namespace, the phase and the hook metadata only', () => {
    const [hook] = spec.spec.analysis.webhooks ?? [];
    expect(hook && webhookPayload(spec, hook, 'Waiting')).toEqual({
      name: 'web',
      namespace: 'gloo-system',
      phase: 'Waiting',
      metadata: { team: 'shop' },
    });
  });

  it("records which gates the spec has, for the state machine's gate Choices", () => {
    expect(initialRun(spec, start).hooks).toEqual({ confirmRollout: true, preRollout: false, confirmPromotion: false });
  });

  it('reports a confirm-rollout gate closed until every hook answers 2xx, and open then; the run keeps its shadow stage', () => {
    const run = initialRun(spec, start);
    expect(confirmRolloutAnswer(run, undefined, closed, start)).toMatchObject({
      run: { phase: 'shadow', gate: { open: false, rollbackHook: false, deadlinePassed: false } },
      decision: 'bake: waiting to start: webhook go (confirm-rollout) answered 403',
      verdict: { result: 'no-data', summary: 'waiting for confirm-rollout webhooks' },
    });
    expect(confirmRolloutAnswer(run, undefined, [], start)).toMatchObject({
      gate: { open: true, rollbackHook: false, deadlinePassed: false },
      decision: 'advance: confirm-rollout webhooks answered 2xx: starting',
      verdict: { result: 'no-data', summary: 'confirm-rollout webhooks answered 2xx' },
    });
  });

  it('reports a passed deadline and a rollback hook answering 2xx as facts, with the reason Rollback reports', () => {
    const run = initialRun(spec, start);
    const late = new Date(start.getTime() + 11 * 60_000);
    expect(confirmRolloutAnswer(run, undefined, closed, late)).toMatchObject({
      gate: { open: false, deadlinePassed: true },
      run: { reason: expect.stringMatching(/^deadline passed .* while waiting for webhook go/) as unknown },
    });
    const stop: WebhookResult = { name: 'stop', type: 'rollback', ok: true, status: 200 };
    expect(confirmRolloutAnswer(run, stop, [], start)).toMatchObject({
      gate: { open: false, rollbackHook: true },
      run: { reason: 'rollback webhook stop answered 200' },
      verdict: { result: 'fail', summary: 'rollback webhook stop answered 200' },
    });
  });

  it("holds a promotion while a confirm-promotion hook answers non-2xx, and keeps the promotion's reason once it opens", () => {
    const run = { ...initialRun(spec, start), next: 'promote' as const, reason: 'promoted on request' };
    const gate: WebhookResult[] = [{ name: 'ok?', type: 'confirm-promotion', ok: false, error: 'no answer within 10s' }];
    expect(confirmPromotionAnswer(run, gate, start)).toMatchObject({
      gate: { open: false, deadlinePassed: false },
      decision: 'bake: waiting to promote: webhook ok? (confirm-promotion) unreachable: no answer within 10s',
      run: { next: 'promote', reason: 'waiting to promote: webhook ok? (confirm-promotion) unreachable: no answer within 10s' },
    });
    expect(confirmPromotionAnswer(run, [], start)).toMatchObject({ gate: { open: true }, run: { reason: 'promoted on request' } });
    const late = new Date(start.getTime() + 11 * 60_000);
    expect(confirmPromotionAnswer(run, gate, late)).toMatchObject({
      gate: { deadlinePassed: true },
      decision: expect.stringMatching(/^rollback: deadline passed .* while waiting for webhook ok\?/) as unknown,
    });
  });
});
