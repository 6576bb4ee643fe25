/** A fleet cluster's rollout reaches Slack: its spec (channel, weight scale) is the registry's fleet spec resolved for its cluster. */
import { afterEach, expect, it } from 'vitest';
import { parseSpec } from '../../core/spec.ts';
import { openSqliteStore } from '../store/sqlite.ts';
import { SqliteChatState } from './chat-state-sqlite.ts';
import { slackClient } from './client.ts';
import { startFakeSlack } from './fake-slack.fixtures.ts';
import type { FakeSlack } from './fake-slack.fixtures.ts';
import { SlackNotifier } from './notifier.ts';

let slack: FakeSlack | undefined;
afterEach(async () => slack?.close());

const fleet = parseSpec({
  apiVersion: 'sluice.dev/v1',
  kind: 'Rollout',
  metadata: { name: 'web' },
  spec: {
    cluster: { kubeconfigContext: 'eu-1' },
    fleet: {
      clusters: [
        { name: 'eu-1', kubeconfigContext: 'eu-1' },
        { name: 'us-1', kubeconfigContext: 'us-1' },
      ],
      waves: [{ clusters: ['eu-1'] }, { clusters: ['us-1'] }],
    },
    router: {
      name: 'web',
      namespace: 'gloo-system',
      weightScale: 1000,
      primary: { upstream: { name: 'web-primary', namespace: 'gloo-system' } },
      canary: { upstream: { name: 'web-canary', namespace: 'gloo-system' } },
    },
    strategy: { stepWeights: [100, 500], interval: '1m' },
    analysis: { prometheus: { address: 'http://127.0.0.1:9' } },
    notifications: { slack: { channel: 'C0FLEET' } },
  },
});

it("posts a fleet cluster's rollout to the fleet's channel, reading the fleet spec under the target", async () => {
  // Prepare: the member's record (web@us-1); no channel remembered for it.
  slack = await startFakeSlack();
  const store = openSqliteStore(':memory:');
  await store.createRollout({
    execution: 'web-us-1-v2',
    target: 'web@us-1',
    version: 'v2',
    requestedBy: 'ci',
    startedAt: '2026-12-07T05:00:00Z',
    safeSide: 'primary',
    lastWeights: { primary: 900, canary: 100 },
    status: 'running',
  });
  const asked: string[] = [];
  const notifier = new SlackNotifier({
    client: slackClient('xoxb', { path: 'background', slackApiUrl: slack.url }),
    store,
    chat: new SqliteChatState(':memory:'),
    loadTarget: async (target) => {
      asked.push(target);
      return target === 'web' ? fleet : null;
    },
  });

  // Act
  await notifier.notify({
    detailType: 'Weight Changed',
    target: 'web@us-1',
    version: 'v2',
    execution: 'web-us-1-v2',
    sequence: 1,
    at: '2026-12-07T05:01:00Z',
  });
  await notifier.idle();

  // Assess: one head message in the fleet's channel, naming the cluster's rollout and its weight in the fleet's scale.
  expect(asked).toEqual(['web']);
  const posts = slack.calls.filter((c) => c.method === 'chat.postMessage');
  expect(posts.map((c) => c.args.channel)).toEqual(['C0FLEET']);
  expect(String(posts[0]!.args.text)).toContain('web@us-1');
  expect(String(posts[0]!.args.text)).toContain('10%');
  await store.close();
});
