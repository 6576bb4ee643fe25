/**
 * Local notifications: the local runtime feeds `spec.notifications.webhooks` from
 * the rollout's events, as the worker does in AWS. A loopback receiver gets every event with its
 * numbers; a dead receiver never slows or fails the rollout; without SLACK_BOT_TOKEN one line says
 * the Slack thread is skipped.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { WebhookPayload } from '../lambdas/adapters/webhooks/notify.ts';
import { startFakeSlack } from '../lambdas/adapters/slack/fake-slack.fixtures.ts';
import { startRollout } from '../local/commands/run.ts';
import { flowRuntimes, webSpec } from './support/flow.ts';
import { RecordingRouter, scriptedMetrics, successRate } from './support/recording-router.ts';

const runtimeFor = flowRuntimes();
const servers: Server[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A webhook receiver on a free loopback port; `status` is what it answers. */
async function receiver(status = 200): Promise<{ url: string; received: WebhookPayload[] }> {
  const received: WebhookPayload[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      received.push(JSON.parse(body) as WebhookPayload);
      response.writeHead(status).end();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/secret-path`, received };
}

describe('local notifications (real ASL, local engine)', () => {
  it("posts every event of the rollout to the spec's webhook, with its numbers", async () => {
    // Prepare
    const hook = await receiver();
    const logged: string[] = [];
    const runtime = await runtimeFor(
      new RecordingRouter(),
      scriptedMetrics(() => [successRate(99.9)]),
      { log: (line) => logged.push(line), env: {} },
    );
    const spec = webSpec({ spec: { notifications: { webhooks: [{ url: hook.url }], slack: { channel: 'C0DEPLOYS' } } } });

    // Act
    const rollout = await startRollout(runtime, spec, { version: 'v2' });
    const summary = await rollout.done;
    const events = await runtime.deps.store.listEvents(rollout.name);
    await until(() => hook.received.length >= events.length, 'every event at the webhook');

    // Assess: the same events, sequence numbers and evidence as the store's.
    expect(summary.outcome).toBe('promoted');
    const got = [...hook.received].sort((a, b) => a.sequence - b.sequence);
    expect(got.map((e) => [e.sequence, e.detailType])).toEqual(events.map((e) => [e.sequence, e.detailType]));
    expect(got.every((e) => e.source === 'sluice' && e.execution === rollout.name && e.version === 'v2')).toBe(true);
    const look = got.find((e) => e.detailType === 'Analysis Completed');
    expect(look?.verdict?.checks[0]).toMatchObject({ name: 'request-success-rate', value: 99.9 });
    expect(look?.text).toContain('request-success-rate');
    expect(got.find((e) => e.detailType === 'Rollout Promoted')?.weights).toEqual({ primary: 0, canary: 100 });
    expect(logged).toEqual(['web: Slack notifications are skipped locally (set SLACK_BOT_TOKEN to post the thread)']);
  });

  it('a failing webhook never fails the rollout: it is reported and skipped', async () => {
    const hook = await receiver(500);
    const logged: string[] = [];
    const router = new RecordingRouter();
    const runtime = await runtimeFor(
      router,
      scriptedMetrics(() => [successRate(99.9)]),
      { log: (line) => logged.push(line), env: {} },
    );
    const spec = webSpec({ spec: { notifications: { webhooks: [{ url: hook.url }] } } });

    const summary = await (await startRollout(runtime, spec, { version: 'v2' })).done;
    await until(() => logged.some((line) => line.startsWith('webhook:')), 'the webhook failure report');

    expect(summary.outcome).toBe('promoted');
    expect(router.canaryWeights()).toEqual([10, 50, 100]);
    expect(hook.received.length).toBeGreaterThan(0);
    expect(logged.some((line) => line.startsWith('webhook: webhook refused the notification (127.0.0.1:'))).toBe(true);
    // The URL's path is its secret: never in a log line.
    expect(logged.join('\n')).not.toContain('secret-path');
  });

  it('with SLACK_BOT_TOKEN set, opens the rollout thread in the spec channel and updates its head', async () => {
    const slack = await startFakeSlack();
    try {
      const logged: string[] = [];
      const runtime = await runtimeFor(
        new RecordingRouter(),
        scriptedMetrics(() => [successRate(99.9)]),
        { log: (line) => logged.push(line), env: { SLACK_BOT_TOKEN: 'xoxb-test', SLACK_API_URL: slack.url } },
      );
      const spec = webSpec({ spec: { notifications: { slack: { channel: 'C0DEPLOYS' } } } });

      const summary = await (await startRollout(runtime, spec, { version: 'v2' })).done;
      await until(
        () =>
          slack.calls.some(
            (call) =>
              call.method === 'chat.postMessage' &&
              call.args['thread_ts'] !== undefined &&
              String(call.args['text']).includes('Rollout Promoted'),
          ),
        'the promoted reply in the thread',
      );

      expect(summary.outcome).toBe('promoted');
      const head = slack.calls.find((call) => call.method === 'chat.postMessage');
      expect(head?.args['channel']).toBe('C0DEPLOYS');
      expect(head?.args['thread_ts']).toBeUndefined();
      expect(slack.calls.some((call) => call.method === 'chat.update' && call.args['ts'] !== undefined)).toBe(true);
      expect(logged).toEqual([]);
    } finally {
      await slack.close();
    }
  });
});
