/**
 * The Slack bot end to end against the local engine: the real ASL and handlers, a recording
 * router and scripted metrics; the Slack Function URL handler driven with signed requests; the
 * SlackNotifier fed by the engine's events, talking to a fake Slack Web API on loopback.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KnownBlock } from '@slack/types';
import type { Context } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteChatState } from '../lambdas/adapters/slack/chat-state-sqlite.ts';
import { slackClient } from '../lambdas/adapters/slack/client.ts';
import { WebApiDirectory } from '../lambdas/adapters/slack/directory.ts';
import { startFakeSlack } from '../lambdas/adapters/slack/fake-slack.fixtures.ts';
import type { FakeSlack } from '../lambdas/adapters/slack/fake-slack.fixtures.ts';
import { SlackNotifier } from '../lambdas/adapters/slack/notifier.ts';
import { signSlackRequest } from '../lambdas/adapters/slack/verify.ts';
import { messageProblems } from '../lambdas/core/chatops/blocks.ts';
import { parseSpec } from '../lambdas/core/spec.ts';
import type { RolloutSpec } from '../lambdas/core/spec.ts';
import { createSlackHandler } from '../lambdas/handlers/slack.ts';
import { postFollowUps } from '../lambdas/handlers/slack-worker.ts';
import type { FunctionUrlEvent, FunctionUrlResult } from '../lambdas/handlers/slack.ts';
import { startLocalRuntime } from '../local/runtime.ts';
import type { LocalRuntime } from '../local/runtime.ts';
import { RecordingRouter, recordingCluster, scriptedMetrics, successRate } from './support/recording-router.ts';

const SECRET = 'flow-signing-secret';
const TEAM = 'T0SLUICE';
const APP = 'A0SLUICE';
const CHANNEL = 'C0DEPLOYS';

function webSpec(interval: string): RolloutSpec {
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
      strategy: { stepWeights: [10, 50], interval, lookInterval: interval, deadline: '10m' },
      analysis: { judge: 'threshold', prometheus: { address: 'http://127.0.0.1:9' } },
      notifications: { slack: { channel: CHANNEL } },
      access: { channels: [CHANNEL], start: ['U0ALICE'], promote: ['S0PLATFORM'], abort: ['U0ONCALL'], twoPersonRule: true },
    },
  });
}

interface Bot {
  runtime: LocalRuntime;
  slack: FakeSlack;
  router: RecordingRouter;
  notifier: SlackNotifier;
  call(body: string): Promise<FunctionUrlResult>;
  followUps: Promise<void>[];
  close(): Promise<void>;
}

const open: Bot[] = [];
afterEach(async () => {
  for (const bot of open.splice(0)) await bot.close();
});

async function startBot(interval: string, prepareSlack: (slack: FakeSlack) => void = () => {}): Promise<Bot> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-slack-'));
  const slack = await startFakeSlack();
  for (const id of ['U0ALICE', 'U0CAROL', 'U0ONCALL', 'U0BOB']) slack.users.set(id, { id, team_id: TEAM });
  slack.groups.set('S0PLATFORM', ['U0CAROL']);
  prepareSlack(slack);
  const spec = webSpec(interval);
  const loadTarget = async (target: string) => (target === 'web' ? spec : null);
  const router = new RecordingRouter();
  // The notifier needs the runtime's store, and the runtime needs the notifier's callback.
  const late: { notifier?: SlackNotifier } = {};
  const runtime = await startLocalRuntime({
    dir,
    advertise: false,
    overrides: { ...recordingCluster(router), ...scriptedMetrics(() => [successRate(99.9)]) },
    // Fire and forget, as the EventBridge rule -> worker is in AWS: Slack never holds up a task.
    onEvent: (event) => void late.notifier?.notify(event),
  });
  const chat = new SqliteChatState(join(dir, 'sluice.db'));
  const notifier = new SlackNotifier({
    client: slackClient('xoxb-test', { path: 'background', slackApiUrl: slack.url }),
    store: runtime.deps.store,
    chat,
    loadTarget,
    onError: () => {},
  });
  late.notifier = notifier;
  const followUps: Promise<void>[] = [];
  const handler = createSlackHandler(async () => ({
    signingSecret: SECRET,
    afterAck: async (work) => {
      followUps.push(postFollowUps(work));
    },
    ack: {
      store: runtime.deps.store,
      events: runtime.deps.events,
      sfn: runtime.sfn,
      stateMachineArn: runtime.engine.stateMachineArn,
      chat,
      directory: new WebApiDirectory({ client: slackClient('xoxb-test', { path: 'ack', slackApiUrl: slack.url }), teamId: TEAM }),
      loadTarget,
      config: { teamId: TEAM, apiAppId: APP },
      now: () => new Date(),
    },
  }));
  const call = (body: string) => {
    const timestamp = Math.floor(Date.now() / 1000);
    const event: FunctionUrlEvent = {
      headers: {
        'x-slack-request-timestamp': String(timestamp),
        'x-slack-signature': signSlackRequest({ body, timestamp, signingSecret: SECRET }),
      },
      body,
      isBase64Encoded: false,
    };
    return handler(event, {} as Context);
  };
  const bot: Bot = {
    runtime,
    slack,
    router,
    notifier,
    call,
    followUps,
    close: async () => {
      await runtime.close();
      await notifier.idle();
      await chat.close();
      await slack.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  open.push(bot);
  return bot;
}

let sequence = 0;
function slash(text: string, user: string): string {
  sequence += 1;
  return new URLSearchParams({
    team_id: TEAM,
    api_app_id: APP,
    channel_id: CHANNEL,
    user_id: user,
    command: '/sluice',
    text,
    response_url: 'http://127.0.0.1:9/unused',
    trigger_id: `t-${sequence}-${Date.now()}`,
  }).toString();
}

function click(bot: Bot, action: 'abort' | 'promote', value: string, user: string): string {
  sequence += 1;
  const payload = {
    type: 'block_actions',
    team: { id: TEAM },
    api_app_id: APP,
    user: { id: user, team_id: TEAM },
    channel: { id: CHANNEL },
    container: { type: 'message', channel_id: CHANNEL, message_ts: '1700000000.000001' },
    trigger_id: `click-${sequence}`,
    response_url: bot.slack.responseUrl(`click-${sequence}`),
    actions: [{ type: 'button', action_id: `sluice:${action}`, block_id: 'sluice-actions', value, action_ts: `${Date.now() / 1000}` }],
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

async function until<T>(
  what: string,
  check: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The blocks of the last head message Slack got for the thread (postMessage or update without thread_ts). */
function lastHead(slack: FakeSlack): KnownBlock[] | undefined {
  const heads = slack.calls.filter(
    (c) => (c.method === 'chat.postMessage' || c.method === 'chat.update') && !c.args.thread_ts && Array.isArray(c.args.blocks),
  );
  return heads.at(-1)?.args.blocks as KnownBlock[] | undefined;
}

function buttonValue(blocks: KnownBlock[] | undefined, action: string): string | undefined {
  for (const block of blocks ?? []) {
    if (block.type !== 'actions') continue;
    for (const element of block.elements) if (element.type === 'button' && element.action_id === `sluice:${action}`) return element.value;
  }
  return undefined;
}

async function startAndBake(bot: Bot, version: string): Promise<string> {
  const reply = JSON.parse((await bot.call(slash(`start web ${version}`, 'U0ALICE'))).body) as { text: string };
  expect(reply.text).toContain('Started');
  await until('the first bake', () => bot.runtime.deps.store.getTaskToken('web'));
  const lock = await bot.runtime.deps.store.getLock('web');
  const execution = lock?.owner ?? '';
  return until('a head message with buttons', async () => {
    await bot.notifier.idle();
    const blocks = lastHead(bot.slack);
    const value = buttonValue(blocks, 'abort');
    return value?.includes(execution) ? value : undefined;
  });
}

describe('Slack buttons against the local engine', () => {
  it('Abort rolls the rollout back within 2 seconds, and the head shows who aborted', async () => {
    const bot = await startBot('30s');
    const abortValue = await startAndBake(bot, 'v2');

    const clickedAt = Date.now();
    const ack = await bot.call(click(bot, 'abort', abortValue, 'U0ONCALL'));
    expect(ack).toMatchObject({ statusCode: 200, body: '' });
    const record = await until('the rollback', async () => {
      const r = await bot.runtime.deps.store.getRollout('web-v2');
      return r?.status === 'finished' ? r : undefined;
    });
    expect(Date.now() - clickedAt).toBeLessThan(2000);
    expect(record.outcome).toBe('aborted');
    expect(bot.router.weights).toEqual({ primary: 100, canary: 0 });

    await Promise.all(bot.followUps);
    expect(bot.slack.responses.at(-1)?.body).toMatchObject({
      response_type: 'ephemeral',
      replace_original: false,
      text: 'Done: aborted `web-v2`.',
    });
    await until('the final head', async () => {
      await bot.notifier.idle();
      return JSON.stringify(lastHead(bot.slack)).includes('aborted');
    });
    const head = lastHead(bot.slack) ?? [];
    expect(JSON.stringify(head)).toContain('*Aborted* by <@U0ONCALL>');
    expect(buttonValue(head, 'abort')).toBeUndefined();
    expect(messageProblems({ blocks: head })).toEqual([]);
    // The click is in the thread and the audit record.
    expect(
      bot.slack.calls.some(
        (c) => c.method === 'chat.postMessage' && c.args.thread_ts && String(c.args.text).includes('button abort on web-v2'),
      ),
    ).toBe(true);
    expect((await bot.runtime.deps.store.listSteps('web-v2')).some((s) => s.kind === 'note' && s.detail?.includes('<@U0ONCALL>'))).toBe(
      true,
    );
  });

  it("Promote now promotes; an older thread's button is refused, and so is a button once its rollout ended", async () => {
    const bot = await startBot('30s');
    const oldAbort = await startAndBake(bot, 'v2');
    await bot.call(slash('abort web superseded', 'U0ONCALL'));
    await until('v2 rolled back', async () => (await bot.runtime.deps.store.getLock('web')) === null);

    const promoteValue = await startAndBake(bot, 'v3');
    expect(promoteValue).toContain('web-v3');

    // The v2 thread's Abort button, clicked while v3 runs: refused, v3 untouched.
    await bot.call(click(bot, 'abort', oldAbort, 'U0ONCALL'));
    await Promise.all(bot.followUps);
    expect(bot.slack.responses.at(-1)?.body.text).toBe(
      'Refused: this button belongs to `web-v2`, which is no longer running (web now runs `web-v3`). Nothing was done.',
    );
    expect((await bot.runtime.deps.store.getLock('web'))?.owner).toBe('web-v3');

    // Two-person rule: Alice started v3, so she may not promote it (she is not in S0PLATFORM either).
    await bot.call(click(bot, 'promote', promoteValue, 'U0CAROL'));
    const record = await until('the promotion', async () => {
      const r = await bot.runtime.deps.store.getRollout('web-v3');
      return r?.status === 'finished' ? r : undefined;
    });
    expect(record.outcome).toBe('promoted');
    expect(bot.router.canaryWeights().slice(-2)).toEqual([10, 100]);

    await bot.call(click(bot, 'promote', promoteValue, 'U0CAROL'));
    await Promise.all(bot.followUps);
    expect(bot.slack.responses.at(-1)?.body.text).toMatch(/^Refused: this button belongs to `web-v3`, which is no longer running/);
  });

  it('429 with Retry-After and not_in_channel: the rollout is unaffected and the thread catches up', async () => {
    const bot = await startBot('1s', (slack) => {
      slack.script('chat.postMessage', { status: 429, retryAfter: 1 }, { error: 'not_in_channel' });
      slack.script('chat.update', { error: 'ratelimited' }, { status: 429, retryAfter: 1 });
    });
    const reply = JSON.parse((await bot.call(slash('start web v4', 'U0ALICE'))).body) as { text: string };
    expect(reply.text).toContain('Started `web-v4`');
    const startedAt = Date.now();
    const record = await until('the promotion', async () => {
      const r = await bot.runtime.deps.store.getRollout('web-v4');
      return r?.status === 'finished' ? r : undefined;
    });
    expect(record.outcome).toBe('promoted');
    // two 1 s bakes, promote, finish: Slack's pauses did not add to it
    expect(Date.now() - startedAt).toBeLessThan(6000);

    await until('the thread to catch up', async () => {
      await bot.notifier.idle();
      return JSON.stringify(lastHead(bot.slack)).includes('promoted');
    });
    const methods = bot.slack.calls.map((c) => c.method);
    expect(methods).toContain('conversations.join');
    const headPosts = bot.slack.calls.filter((c) => c.method === 'chat.postMessage' && !c.args.thread_ts && c.args.blocks);
    // One thread: the head was posted once (after the 429 wait and a join), then updated in place.
    expect(headPosts.filter((c) => c.args.channel === CHANNEL).length).toBe(3); // 429, not_in_channel, success
    const head = lastHead(bot.slack) ?? [];
    // Route promotion (no workload): all traffic stays on the new version's upstream.
    expect(JSON.stringify(head)).toContain(':white_check_mark: promoted');
    expect(JSON.stringify(head)).toContain('canary 100% · primary 0%');
    expect(
      bot.slack.calls.some(
        (c) => c.method === 'chat.postMessage' && c.args.thread_ts && String(c.args.text).startsWith('*Rollout Promoted*'),
      ),
    ).toBe(true);
    // Coalesced: fewer head renders than events.
    const events = await bot.runtime.deps.store.listEvents('web-v4');
    const updates = bot.slack.calls.filter((c) => c.method === 'chat.update').length;
    expect(updates).toBeLessThan(events.length);
  });
});
