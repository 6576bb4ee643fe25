/**
 * The Slack bot's Function URL handler with signed requests: exact replies, and nothing started
 * where nothing should be. Step Functions is a recording stub; the store is sqlite in memory;
 * Slack's Web API (users.info, usergroups) is a fake on loopback.
 */
import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LocalEventPublisher } from '../adapters/events/publisher.ts';
import { SqliteChatState } from '../adapters/slack/chat-state-sqlite.ts';
import { slackClient } from '../adapters/slack/client.ts';
import { WebApiDirectory } from '../adapters/slack/directory.ts';
import { startFakeSlack } from '../adapters/slack/fake-slack.fixtures.ts';
import type { FakeSlack } from '../adapters/slack/fake-slack.fixtures.ts';
import { signSlackRequest } from '../adapters/slack/verify.ts';
import { encodeButtonValue } from '../core/chatops/blocks.ts';
import { openSqliteStore } from '../adapters/store/sqlite.ts';
import type { SqliteRolloutStore } from '../adapters/store/sqlite.ts';
import { parseSpec } from '../core/spec.ts';
import type { RolloutSpec } from '../core/spec.ts';
import { createSlackHandler } from './slack.ts';
import type { FunctionUrlEvent, FunctionUrlResult, SlackHandlerDeps } from './slack.ts';

const SECRET = 'test-signing-secret';
const TEAM = 'T0SLUICE';
const APP = 'A0SLUICE';
const CHANNEL = 'C0DEPLOYS';
const NOW = new Date('2026-11-27T10:00:00Z');

function spec(name: string, access?: Record<string, unknown>): RolloutSpec {
  return parseSpec({
    apiVersion: 'sluice.dev/v1',
    kind: 'Rollout',
    metadata: { name },
    spec: {
      cluster: { kubeconfigContext: 'unused' },
      router: {
        name,
        namespace: 'gloo-system',
        primary: { upstream: { name: `${name}-primary`, namespace: 'gloo-system' } },
        canary: { upstream: { name: `${name}-canary`, namespace: 'gloo-system' } },
      },
      analysis: { judge: 'threshold', prometheus: { address: 'http://127.0.0.1:9' } },
      ...(access ? { access } : {}),
    },
  });
}

const specs = new Map<string, RolloutSpec>([
  [
    'web',
    spec('web', {
      channels: [CHANNEL],
      start: ['U0ALICE', 'S0PLATFORM'],
      promote: ['S0PLATFORM'],
      abort: ['U0ONCALL'],
      twoPersonRule: true,
    }),
  ],
  ['open', spec('open')],
  [
    'frozen',
    parseSpec({
      ...spec('frozen', { channels: [CHANNEL], start: ['U0ALICE'] }),
      spec: {
        ...spec('frozen', { channels: [CHANNEL], start: ['U0ALICE'] }).spec,
        strategy: {
          ...spec('frozen').spec.strategy,
          windows: [{ kind: 'deny', from: '2026-11-27T09:00:00Z', to: '2026-11-27T12:00:00Z' }],
        },
      },
    }),
  ],
]);

let slack: FakeSlack;
let store: SqliteRolloutStore;
let chat: SqliteChatState;
let started: StartExecutionCommand[];
let settled: (SendTaskFailureCommand | SendTaskSuccessCommand)[];
let handler: ReturnType<typeof createSlackHandler>;

beforeAll(async () => {
  slack = await startFakeSlack();
  slack.users.set('U0ALICE', { id: 'U0ALICE', team_id: TEAM });
  slack.users.set('U0BOB', { id: 'U0BOB', team_id: TEAM });
  slack.users.set('U0GUEST', { id: 'U0GUEST', team_id: TEAM, is_restricted: true });
  slack.users.set('U0OTHER', { id: 'U0OTHER', team_id: 'T0ELSEWHERE' });
  slack.groups.set('S0PLATFORM', ['U0CAROL']);
  slack.users.set('U0CAROL', { id: 'U0CAROL', team_id: TEAM });
});

afterAll(async () => {
  await slack.close();
});

beforeEach(() => {
  store = openSqliteStore(':memory:', { now: () => NOW });
  chat = new SqliteChatState(':memory:', { now: () => NOW });
  started = [];
  settled = [];
  const sfn = {
    send: async (command: unknown) => {
      if (command instanceof SendTaskFailureCommand || command instanceof SendTaskSuccessCommand) {
        settled.push(command);
        return {};
      }
      if (command instanceof DescribeExecutionCommand) {
        // The start path picks the next attempt name Step Functions has not seen.
        const name = String(command.input.executionArn).split(':').at(-1);
        if (!started.some((s) => s.input.name === name))
          throw new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} });
        return { status: 'RUNNING' };
      }
      if (command instanceof StartExecutionCommand) {
        started.push(command);
        return { executionArn: `arn:aws:states:us-east-1:123456789012:execution:sluice:${command.input.name}` };
      }
      throw new Error(`unexpected ${String(command)}`);
    },
  } as unknown as SFNClient;
  const deps: SlackHandlerDeps = {
    signingSecret: SECRET,
    afterAck: async () => {},
    ack: {
      store,
      events: new LocalEventPublisher(store, () => {}, { now: () => NOW }),
      sfn,
      stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:sluice',
      chat,
      directory: new WebApiDirectory({ client: slackClient('xoxb-test', { path: 'ack', slackApiUrl: slack.url }), teamId: TEAM }),
      loadTarget: async (target) => specs.get(target) ?? null,
      config: { teamId: TEAM, apiAppId: APP },
      now: () => NOW,
    },
  };
  followUps = [];
  deps.afterAck = async (work) => {
    followUps.push(...work.map((w) => w.message.text));
  };
  handler = createSlackHandler(async () => deps);
});

let followUps: string[];

let trigger = 0;
function command(text: string, overrides: Record<string, string> = {}): string {
  trigger += 1;
  return new URLSearchParams({
    token: 'deprecated',
    team_id: TEAM,
    api_app_id: APP,
    channel_id: CHANNEL,
    user_id: 'U0ALICE',
    command: '/sluice',
    text,
    response_url: slack.responseUrl('r1'),
    trigger_id: `trigger-${trigger}`,
    ...overrides,
  }).toString();
}

function signed(body: string, options: { secret?: string; at?: Date; base64?: boolean } = {}): FunctionUrlEvent {
  const timestamp = Math.floor((options.at ?? NOW).getTime() / 1000);
  return {
    headers: {
      'x-slack-request-timestamp': String(timestamp),
      'x-slack-signature': signSlackRequest({ body, timestamp, signingSecret: options.secret ?? SECRET }),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: options.base64 ? Buffer.from(body).toString('base64') : body,
    isBase64Encoded: options.base64 ?? false,
    requestContext: { http: { method: 'POST' } },
  };
}

async function call(event: FunctionUrlEvent): Promise<FunctionUrlResult> {
  return handler(event, {} as Context);
}

function replyText(result: FunctionUrlResult): string {
  const body = JSON.parse(result.body) as { response_type: string; text: string };
  expect(body.response_type).toBe('ephemeral');
  return body.text;
}

describe('Slack handler: signed requests', () => {
  it('starts a rollout for an authorized user and says so, only to them', async () => {
    const result = await call(signed(command('start web v2.0.1')));
    expect(result.statusCode).toBe(200);
    expect(replyText(result)).toBe('Started `web-v2-0-1` (web v2.0.1). Progress follows in a thread.');
    expect(started).toHaveLength(1);
    expect(JSON.parse(started[0]?.input.input ?? '{}')).toMatchObject({
      version: 'v2.0.1',
      requestedBy: 'slack:U0ALICE',
      spec: { metadata: { name: 'web' } },
    });
    // audited: a store step and a Command Audited event on the new execution
    expect((await store.listSteps('web-v2-0-1')).map((s) => s.detail)).toEqual([
      'slack <@U0ALICE> in <#C0DEPLOYS>: /sluice start web v2.0.1 -> Started `web-v2-0-1` (web v2.0.1). Progress follows in a thread.',
    ]);
    expect((await store.listEvents('web-v2-0-1')).map((e) => e.detailType)).toEqual(['Command Audited']);
  });

  it('accepts a body the Function URL base64-encoded', async () => {
    const result = await call(signed(command('help'), { base64: true }));
    expect(replyText(result)).toContain('/sluice start <target> <version>');
  });

  it('refuses a forged signature with 401 and does nothing', async () => {
    const result = await call(signed(command('start web v2'), { secret: 'not-the-secret' }));
    expect(result).toMatchObject({ statusCode: 401, body: 'invalid Slack signature' });
    expect(started).toHaveLength(0);
  });

  it('refuses a body changed after signing', async () => {
    const event = signed(command('status web'));
    event.body = command('start web v9');
    expect((await call(event)).statusCode).toBe(401);
    expect(started).toHaveLength(0);
  });

  it('refuses a stale request (older than 5 minutes) as a replay', async () => {
    const result = await call(signed(command('start web v2'), { at: new Date(NOW.getTime() - 301_000) }));
    expect(result).toMatchObject({ statusCode: 401, body: 'stale Slack request (more than 5 minutes off)' });
    expect(started).toHaveLength(0);
  });

  it('refuses an oversized body before verifying anything', async () => {
    const result = await call(signed(command(`start web ${'x'.repeat(70_000)}`)));
    expect(result).toMatchObject({ statusCode: 413 });
  });

  it('refuses another workspace or another app', async () => {
    expect(replyText(await call(signed(command('start web v2', { team_id: 'T0ELSEWHERE' }))))).toBe(
      'Refused: this Sluice serves another Slack workspace or app.',
    );
    expect(replyText(await call(signed(command('start web v2', { api_app_id: 'A0OTHER' }))))).toBe(
      'Refused: this Sluice serves another Slack workspace or app.',
    );
    expect(started).toHaveLength(0);
  });

  it('refuses guests and users of another workspace in a shared channel', async () => {
    expect(replyText(await call(signed(command('start web v2', { user_id: 'U0GUEST' }))))).toBe(
      'Refused: guest accounts may not control rollouts.',
    );
    expect(replyText(await call(signed(command('start web v2', { user_id: 'U0OTHER' }))))).toBe(
      "Refused: users of another workspace (shared channel) may not control this workspace's rollouts.",
    );
    expect(started).toHaveLength(0);
  });

  it('refuses a user the policy does not list, and accepts one through a user group', async () => {
    expect(replyText(await call(signed(command('start web v2', { user_id: 'U0BOB' }))))).toBe(
      'You may not start web: ask someone listed under spec.access.start.',
    );
    expect(started).toHaveLength(0);
    expect(replyText(await call(signed(command('start web v2', { user_id: 'U0CAROL' }))))).toContain('Started `web-v2`');
    expect(started).toHaveLength(1);
  });

  it('refuses commands from a channel the policy does not list', async () => {
    expect(replyText(await call(signed(command('start web v2', { channel_id: 'C0RANDOM' }))))).toBe(
      'web is not controlled from this channel: use <#C0DEPLOYS>.',
    );
    expect(started).toHaveLength(0);
  });

  it('without a policy, only status and help work', async () => {
    expect(replyText(await call(signed(command('start open v2'))))).toBe(
      'open has no chat-ops access policy (spec.access): only `status` and `help` work from Slack.',
    );
    expect(replyText(await call(signed(command('abort open'))))).toBe(
      'open has no chat-ops access policy (spec.access): only `status` and `help` work from Slack.',
    );
    expect(replyText(await call(signed(command('status open'))))).toBe('No rollouts of open yet.');
    expect(started).toHaveLength(0);
  });

  it('names an unknown target', async () => {
    expect(replyText(await call(signed(command('start nope v2'))))).toBe("I don't know the target `nope`: it is not in Sluice's registry.");
    expect(started).toHaveLength(0);
  });

  it('answers malformed text with usage, never a crash', async () => {
    expect(replyText(await call(signed(command('start web'))))).toBe(
      'Which version of web?\nUsage: `/sluice start <target> <version>`\nType `/sluice help` for every command.',
    );
    expect(replyText(await call(signed(command('launch web v2'))))).toBe("I don't know `launch`.\nType `/sluice help` for every command.");
    expect(replyText(await call(signed(command('start Web! v2'))))).toContain('is not a target name');
    expect(replyText(await call(signed(command('status web extra words'))))).toContain('Unexpected `extra words` after the target.');
    expect(started).toHaveLength(0);
  });

  it('a duplicate delivery (same trigger_id) has no second effect', async () => {
    const body = command('start web v3');
    expect(replyText(await call(signed(body)))).toContain('Started `web-v3`');
    expect(replyText(await call(signed(body)))).toBe('Already handled: Slack delivered this command twice.');
    expect(started).toHaveLength(1);
  });

  it('a start inside a deny window goes through the change windows: refused here (no scheduler), nothing started', async () => {
    const reply = replyText(await call(signed(command('start frozen v2'))));
    expect(reply).toMatch(/^Refused: .*deny window.*no scheduler here to queue it/);
    expect(started).toHaveLength(0);
    expect(await store.getLock('frozen')).toBeNull();
  });

  it('refuses a start while another rollout holds the target, naming it', async () => {
    await store.acquireLock('web', 'web-v1', new Date(NOW.getTime() + 3600_000));
    expect(replyText(await call(signed(command('start web v2'))))).toBe(
      'Refused: locked by web-v1: web runs one rollout at a time; abort it or wait for it to finish.',
    );
    expect(started).toHaveLength(0);
  });
});

describe('Slack handler: buttons', () => {
  async function running(execution: string, requestedBy: string): Promise<void> {
    await store.acquireLock('web', execution, new Date(NOW.getTime() + 3600_000));
    await store.createRollout({
      execution,
      target: 'web',
      version: 'v2',
      requestedBy,
      startedAt: NOW.toISOString(),
      safeSide: 'primary',
      lastWeights: { primary: 90, canary: 10 },
      status: 'running',
    });
    await store.putTaskToken({ target: 'web', execution, token: 'token-1', gate: 'bake', createdAt: NOW.toISOString() });
  }

  function clickBody(action: string, execution: string, user: string, actionTs: string, gate = 'rollout'): string {
    const payload = {
      type: 'block_actions',
      team: { id: TEAM },
      api_app_id: APP,
      user: { id: user, team_id: TEAM },
      channel: { id: CHANNEL },
      container: { channel_id: CHANNEL, message_ts: '1.1' },
      response_url: slack.responseUrl('x'),
      actions: [{ action_id: `sluice:${action}`, value: encodeButtonValue({ execution, gate }), action_ts: actionTs }],
    };
    return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  }

  it('first click wins: a later clicker is told who acted, and nothing is settled twice', async () => {
    await running('web-v2', 'slack:U0ALICE');
    expect(await call(signed(clickBody('abort', 'web-v2', 'U0ALICE', '1.1')))).toMatchObject({ statusCode: 200, body: '' });
    await call(signed(clickBody('abort', 'web-v2', 'U0CAROL', '1.2')));
    expect(settled).toHaveLength(1);
    expect(followUps).toEqual([
      'Done: aborted `web-v2`.',
      expect.stringMatching(
        /^<@U0ALICE> already aborted `web-v2` <!date\^\d+\^\{date_short_pretty\} \{time\}\|2026-11-27 10:00:00 UTC>\. Nothing more was done; `\/sluice abort` still works at any time\.$/,
      ),
    ]);
  });

  it('a duplicate delivery of a click (same action_ts) has no second effect', async () => {
    await running('web-v2', 'slack:U0ALICE');
    await call(signed(clickBody('abort', 'web-v2', 'U0ALICE', '2.1')));
    await call(signed(clickBody('abort', 'web-v2', 'U0ALICE', '2.1')));
    expect(settled).toHaveLength(1);
    expect(followUps).toEqual(['Done: aborted `web-v2`.']);
  });

  it('an abort after the promotion passed its point of no return is answered too late, and nothing is flagged or settled', async () => {
    await running('web-v2', 'slack:U0ALICE');
    await store.commitPromotion('web-v2', NOW.toISOString());
    await call(signed(clickBody('abort', 'web-v2', 'U0ALICE', '9.1')));
    expect(followUps).toEqual([
      expect.stringMatching(
        /^Not done: too late to abort web-v2: its promotion passed the point of no return at 2026-11-27T10:00:00\.000Z .*nothing was rolled back/,
      ),
    ]);
    expect(await store.getAbort('web-v2')).toBeNull();
    expect(settled).toHaveLength(0);
  });

  it('the two-person rule: the one who started may not promote', async () => {
    await running('web-v2', 'slack:U0CAROL');
    await call(signed(clickBody('promote', 'web-v2', 'U0CAROL', '3.1')));
    expect(settled).toHaveLength(0);
    expect(followUps).toEqual(['Two-person rule: <@U0CAROL> started this rollout, so someone else must promote it.']);
  });

  it('promote sends SendTaskSuccess with {"command":"promote"} on the pending bake token', async () => {
    await running('web-v2', 'slack:U0ALICE');
    await call(signed(clickBody('promote', 'web-v2', 'U0CAROL', '4.1')));
    expect(settled).toHaveLength(1);
    expect(settled[0]?.input).toEqual({ taskToken: 'token-1', output: '{"command":"promote"}' });
  });

  it('approve answers "not supported yet" when no approval gate is pending, and leaves the buttons usable', async () => {
    await running('web-v2', 'slack:U0ALICE');
    expect(replyText(await call(signed(command('approve web', { user_id: 'U0CAROL' }))))).toBe(
      'You may not approve web: ask someone listed under spec.access.approve.',
    );
    const approver = spec('web', { approve: ['U0CAROL'] });
    specs.set('web', approver);
    try {
      expect(replyText(await call(signed(command('approve web', { user_id: 'U0CAROL' }))))).toBe(
        'Not done: nothing to approve for web: no approval gate is pending.',
      );
    } finally {
      specs.set(
        'web',
        spec('web', {
          channels: [CHANNEL],
          start: ['U0ALICE', 'S0PLATFORM'],
          promote: ['S0PLATFORM'],
          abort: ['U0ONCALL'],
          twoPersonRule: true,
        }),
      );
    }
    expect(settled).toHaveLength(0);
  });

  it('never logs or publishes the response URL', async () => {
    await running('web-v2', 'slack:U0ALICE');
    await call(signed(clickBody('abort', 'web-v2', 'U0ALICE', '5.1')));
    const events = JSON.stringify(await store.listEvents('web-v2'));
    expect(events).toContain('Command Audited');
    expect(events).not.toContain('/response/');
    expect(events).not.toContain('token-1');
  });
});
