import { describe, expect, it } from 'vitest';
import { initialRun } from './rollout.ts';
import { parseSpec } from './spec.ts';
import { decideConfirmRollout, holdPromotion, webhookPayload } from './webhooks.ts';
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

  it('keeps a confirm-rollout gate closed until every hook answers 2xx, then starts with the shadow stage', () => {
    const run = { ...initialRun(spec, start), phase: 'confirm' as const };
    expect(decideConfirmRollout(run, closed, start)).toMatchObject({
      phase: 'confirm',
      next: 'bake',
      reason: 'waiting to start: webhook go (confirm-rollout) answered 403',
    });
    expect(decideConfirmRollout(run, [], start)).toMatchObject({ phase: 'shadow', stepIndex: 0, lookInStep: 0, next: 'advance' });
  });

  it('rolls back (nothing moved) when the deadline passes with the gate still closed', () => {
    const run = { ...initialRun(spec, start), phase: 'confirm' as const };
    const late = new Date(start.getTime() + 11 * 60_000);
    expect(decideConfirmRollout(run, closed, late)).toMatchObject({
      next: 'rollback',
      reason: expect.stringMatching(/^deadline passed .* while waiting for webhook go/) as unknown,
    });
  });

  it('holds only a promotion for confirm-promotion hooks', () => {
    const run = initialRun(spec, start);
    const gate: WebhookResult[] = [{ name: 'ok?', type: 'confirm-promotion', ok: false, error: 'no answer within 10s' }];
    expect(holdPromotion({ ...run, next: 'promote' }, gate)).toMatchObject({
      next: 'bake',
      reason: 'waiting to promote: webhook ok? (confirm-promotion) unreachable: no answer within 10s',
    });
    expect(holdPromotion({ ...run, next: 'advance' }, gate).next).toBe('advance');
    expect(holdPromotion({ ...run, next: 'promote' }, []).next).toBe('promote');
  });
});
