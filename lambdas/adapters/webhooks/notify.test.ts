import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SluiceEvent } from '../../core/records.ts';
import { WebhookNotifier } from './notify.ts';

const received: { path: string; body: Record<string, unknown> }[] = [];
let base = '';
const server = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (c: Buffer) => chunks.push(c));
  request.on('end', () => {
    received.push({ path: request.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown> });
    response.writeHead(request.url === '/broken' ? 500 : 202).end();
  });
});
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const event: SluiceEvent = {
  detailType: 'Analysis Completed',
  target: 'web',
  version: 'v2',
  execution: 'web-v2',
  sequence: 4,
  at: '2026-11-27T10:01:00Z',
  weights: { primary: 90, canary: 10 },
  verdict: {
    result: 'fail',
    summary: 'request-success-rate 97.2 < min 99',
    checks: [{ name: 'request-success-rate', value: 97.2, min: 99, result: 'fail' }],
  },
};

describe('WebhookNotifier', () => {
  it('POSTs the event with its numbers and a readable text to every webhook of the target', async () => {
    const errors: string[] = [];
    const notifier = new WebhookNotifier({
      urlsFor: async () => [`${base}/teams`, `${base}/broken`, 'http://127.0.0.1:9/closed'],
      onError: (message) => errors.push(message),
    });
    await notifier.notify(event);
    const teams = received.find((r) => r.path === '/teams');
    expect(teams?.body).toMatchObject({
      source: 'sluice',
      detailType: 'Analysis Completed',
      sequence: 4,
      weights: { canary: 10 },
      verdict: { checks: [{ value: 97.2, min: 99 }] },
    });
    expect(teams?.body.text).toBe(
      'Analysis Completed: web v2 (web-v2), canary weight 10 / primary 90; fail: request-success-rate 97.2 — min 99',
    );
    // A refusing and an unreachable webhook are reported, not thrown.
    expect(errors.sort()).toEqual(['webhook refused the notification', 'webhook unreachable']);
  });
});
