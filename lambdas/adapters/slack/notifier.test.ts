import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SluiceEvent } from '../../core/records.ts';
import { openSqliteStore } from '../store/sqlite.ts';
import type { SqliteRolloutStore } from '../store/sqlite.ts';
import { chatKeys } from './chat-state.ts';
import { SqliteChatState } from './chat-state-sqlite.ts';
import { slackClient } from './client.ts';
import { startFakeSlack } from './fake-slack.fixtures.ts';
import type { FakeSlack } from './fake-slack.fixtures.ts';
import { SlackNotifier, replyText } from './notifier.ts';
import { judgeLook } from '../../core/sequential/judge.ts';

let slack: FakeSlack;
let store: SqliteRolloutStore;
let chat: SqliteChatState;
let notifier: SlackNotifier;
const errors: string[] = [];

const event = (sequence: number, detailType: SluiceEvent['detailType'] = 'Weight Changed'): SluiceEvent => ({
  detailType,
  target: 'web',
  version: 'v2',
  execution: 'web-v2',
  sequence,
  at: '2026-11-27T10:00:00Z',
});

beforeEach(async () => {
  slack = await startFakeSlack();
  store = openSqliteStore(':memory:');
  chat = new SqliteChatState(':memory:');
  errors.length = 0;
  notifier = new SlackNotifier({
    client: slackClient('xoxb', { path: 'background', slackApiUrl: slack.url }),
    store,
    chat,
    loadTarget: async () => null,
    onError: (message) => errors.push(message),
  });
  await store.createRollout({
    execution: 'web-v2',
    target: 'web',
    version: 'v2',
    requestedBy: 'ci',
    startedAt: '2026-11-27T10:00:00Z',
    safeSide: 'primary',
    lastWeights: { primary: 90, canary: 10 },
    status: 'running',
  });
  await chat.set(chatKeys.channel('web-v2'), 'C1');
});

afterEach(async () => {
  await notifier.idle();
  await slack.close();
});

describe('SlackNotifier', () => {
  it('opens one thread, then updates the head in place; an older event arriving late changes nothing', async () => {
    await notifier.notify(event(5));
    await notifier.notify(event(3));
    await notifier.notify(event(6));
    expect(slack.calls.map((c) => c.method)).toEqual(['chat.postMessage', 'chat.update']);
    expect(await chat.get(chatKeys.rendered('web-v2'))).toBe('6');
  });

  it('coalesces a burst of events into few renders', async () => {
    await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((n) => notifier.notify(event(n))));
    await notifier.idle();
    expect(slack.calls.length).toBeLessThanOrEqual(2);
  });

  it('a failing Slack is reported and never thrown; the next event catches up, replies in order', async () => {
    slack.script('chat.postMessage', { error: 'channel_not_found' });
    await expect(notifier.notify(event(1, 'Command Audited'))).resolves.toBeUndefined();
    expect(errors).toEqual(['Slack thread update failed; the next event catches up']);
    await notifier.notify(event(2, 'Rollout Held'));
    const posts = slack.calls.filter((c) => c.method === 'chat.postMessage');
    expect(posts.map((c) => [c.args.thread_ts ? 'reply' : 'head', c.args.text])).toEqual([
      ['head', expect.any(String)],
      ['head', expect.any(String)],
      ['reply', '*Command Audited*'],
      ['reply', '*Rollout Held*'],
    ]);
  });
});

describe('replyText', () => {
  it("shows a sequential look's decision, counts and e-values, never a pass for an undecided look", () => {
    // Prepare: the real judge's first look at a canary failing 2% of 50 requests.
    const { verdict } = judgeLook(
      null,
      { canary: { requests: 50, errors: 1, slow: {} }, primary: { requests: 950, errors: 0, slow: {} }, resets: 0, gaps: [] },
      {
        stepIndex: 0,
        lookInStep: 0,
        secondsInStep: 10,
        atTopWeight: false,
        metrics: [{ name: 'request-success-rate', kind: 'errors', thresholdRange: { min: 99 } }],
      },
    );
    expect(verdict.result).toBe('pass');
    const event: SluiceEvent = {
      detailType: 'Analysis Completed',
      target: 'podinfo',
      version: 'v2',
      execution: 'podinfo-v2-1',
      sequence: 3,
      at: '2026-03-12T10:00:10.000Z',
      verdict,
    };
    // Act
    const text = replyText(event);
    // Assess
    expect(text).toContain('continue — no decision yet');
    expect(text).not.toMatch(/^pass/m);
    expect(text).toMatch(/e-value [\d.]+ \(rolls back at 100\) · promotion e-value [\d.]+ \(advances at 20\)/);
    expect(text).toContain('errors: canary 1/50 (2.00%) vs primary 0/950 (0.00%) · e-value');
  });
});
