import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ERROR_NAMES } from '../../core/errors.ts';
import { parseSpec } from '../../core/spec.ts';
import type { RolloutSpec } from '../../core/spec.ts';
import { startWebhookServer } from '../../../test/support/webhook-server.ts';
import type { WebhookServer } from '../../../test/support/webhook-server.ts';
import { callHooks, fireEventHooks, fireHooks, runPreRolloutHooks } from './client.ts';

type Hook = { name: string; type: string; url: string; timeout?: string; metadata?: Record<string, string> };

function specWith(hooks: Hook[]): RolloutSpec {
  return parseSpec({
    apiVersion: 'sluice.dev/v1',
    kind: 'Rollout',
    metadata: { name: 'web' },
    spec: {
      cluster: { kubeconfigContext: 'unused' },
      router: {
        name: 'web',
        namespace: 'gloo-system',
        primary: { upstream: { name: 'web-primary', namespace: 'gloo-system' } },
        canary: { upstream: { name: 'web-canary', namespace: 'gloo-system' } },
      },
      workload: { namespace: 'shop', primary: 'web-primary', canary: 'web-canary' },
      analysis: { judge: 'threshold', prometheus: { address: 'http://127.0.0.1:9' }, webhooks: hooks },
    },
  });
}

let server: WebhookServer;
beforeEach(async () => {
  server = await startWebhookServer();
});
afterEach(async () => server.close());

describe('webhook calls', () => {
  it("POSTs Flagger's payload (name, namespace, phase, the hook's metadata) and nothing else", async () => {
    const spec = specWith([{ name: 'load', type: 'rollout', url: server.url('/load'), metadata: { cmd: 'hey -z 1m' } }]);
    const results = await callHooks(spec, 'rollout', 'Progressing');
    expect(results).toEqual([{ name: 'load', type: 'rollout', ok: true, status: 200 }]);
    expect(server.calls).toEqual([
      { path: '/load', body: { name: 'web', namespace: 'shop', phase: 'Progressing', metadata: { cmd: 'hey -z 1m' } } },
    ]);
  });

  it('reports a non-2xx answer and a hook that does not answer within its timeout, without throwing', async () => {
    server.answer('/bad', () => 503);
    server.answer('/slow', () => 'hang');
    const spec = specWith([
      { name: 'bad', type: 'rollout', url: server.url('/bad') },
      { name: 'slow', type: 'rollout', url: server.url('/slow'), timeout: '1s' },
    ]);
    const results = await callHooks(spec, 'rollout', 'Progressing');
    expect(results).toEqual([
      { name: 'bad', type: 'rollout', ok: false, status: 503 },
      { name: 'slow', type: 'rollout', ok: false, error: 'no answer within 1s' },
    ]);
  });

  it('refuses on a pre-rollout hook answering non-2xx, and treats an unreachable one as transient', async () => {
    server.answer('/smoke', () => 500);
    await expect(runPreRolloutHooks(specWith([{ name: 'smoke', type: 'pre-rollout', url: server.url('/smoke') }]))).rejects.toMatchObject({
      name: ERROR_NAMES.refused,
      message: 'pre-rollout webhook smoke (pre-rollout) answered 500',
    });
    const closed = await startWebhookServer();
    const gone = closed.url('/smoke');
    await closed.close();
    await expect(runPreRolloutHooks(specWith([{ name: 'smoke', type: 'pre-rollout', url: gone }]))).rejects.toMatchObject({
      name: ERROR_NAMES.transient,
    });
  });

  it('only logs failing post-rollout and event hooks', async () => {
    server.answer('/post', () => 500);
    server.answer('/event', () => 500);
    const spec = specWith([
      { name: 'post', type: 'post-rollout', url: server.url('/post') },
      { name: 'events', type: 'event', url: server.url('/event'), metadata: { team: 'shop' } },
    ]);
    await expect(fireHooks(spec, 'post-rollout', 'Failed')).resolves.toBeUndefined();
    const event = {
      detailType: 'Rollout Rolled Back' as const,
      target: 'web',
      version: 'v2',
      execution: 'web-v2',
      reason: 'analysis failed',
    };
    await expect(fireEventHooks(spec, event, new Date(1_700_000_000_000))).resolves.toBeUndefined();
    expect(server.callsTo('/post').map((c) => c.body)).toEqual([{ name: 'web', namespace: 'shop', phase: 'Failed', metadata: {} }]);
    expect(server.callsTo('/event').map((c) => c.body)).toEqual([
      {
        name: 'web',
        namespace: 'shop',
        phase: 'Failed',
        metadata: {
          team: 'shop',
          eventMessage: 'Rollout Rolled Back: web v2: analysis failed',
          eventType: 'Warning',
          timestamp: '1700000000000',
        },
      },
    ]);
  });
});
