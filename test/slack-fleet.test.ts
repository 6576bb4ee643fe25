/**
 * A fleet release from Slack on AWS, with real signed requests (Slack's v0 HMAC signature) through
 * the Function URL handler, Step Functions stubbed at the SDK boundary (aws-sdk-client-mock
 * asserting the exact requests), the store in sqlite, Slack's Web API (users.info, user groups) a
 * fake on loopback. The fleet buttons act under the target's access policy and two-person rule,
 * and what they write is what the fleet's own states read (lambdas/handlers/fleet.ts: the member
 * step skips once halted, the watch between waves pauses, or runs every remaining wave at once).
 */
import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  SFNClient,
  SendTaskFailureCommand,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fleetControlKeyOf, fleetReleaseKeyOf, readFleetControlOf } from '../lambdas/adapters/control/fleet-control.ts';
import { LocalEventPublisher } from '../lambdas/adapters/events/publisher.ts';
import { SqliteChatState } from '../lambdas/adapters/slack/chat-state-sqlite.ts';
import { slackClient } from '../lambdas/adapters/slack/client.ts';
import { WebApiDirectory } from '../lambdas/adapters/slack/directory.ts';
import { startFakeSlack } from '../lambdas/adapters/slack/fake-slack.fixtures.ts';
import type { FakeSlack } from '../lambdas/adapters/slack/fake-slack.fixtures.ts';
import { signSlackRequest } from '../lambdas/adapters/slack/verify.ts';
import { openSqliteStore } from '../lambdas/adapters/store/sqlite.ts';
import type { SqliteRolloutStore } from '../lambdas/adapters/store/sqlite.ts';
import { encodeButtonValue } from '../lambdas/core/chatops/blocks.ts';
import { afterWave, waveState } from '../lambdas/core/fleet.ts';
import { parseSpec } from '../lambdas/core/spec.ts';
import type { RolloutSpec } from '../lambdas/core/spec.ts';
import { fleetControlKey, fleetMember, fleetPlan, fleetReleaseKey, fleetStep } from '../lambdas/handlers/fleet.ts';
import { createSlackHandler } from '../lambdas/handlers/slack.ts';
import type { FunctionUrlEvent, FunctionUrlResult } from '../lambdas/handlers/slack.ts';

const SECRET = 'fleet-signing-secret';
const TEAM = 'T0SLUICE';
const APP = 'A0SLUICE';
const CHANNEL = 'C0DEPLOYS';
const NOW = new Date('2026-12-07T06:00:00Z');
const ROLLOUT_SM = 'arn:aws:states:eu-west-1:123456789012:stateMachine:sluice-rollout';
const FLEET_SM = 'arn:aws:states:eu-west-1:123456789012:stateMachine:sluice-fleet';

/** web over three clusters: eu-1, then a 30-minute bake, then us-1 and ap-1. */
const fleet: RolloutSpec = parseSpec({
  apiVersion: 'sluice.dev/v1',
  kind: 'Rollout',
  metadata: { name: 'web' },
  spec: {
    cluster: { name: 'prod-eu-1', region: 'eu-west-1' },
    fleet: {
      clusters: [
        { name: 'eu-1', eksCluster: 'prod-eu-1' },
        { name: 'us-1', eksCluster: 'prod-us-1', region: 'us-east-1' },
        { name: 'ap-1', eksCluster: 'prod-ap-1', region: 'ap-southeast-2' },
      ],
      waves: [{ clusters: ['eu-1'], pause: '30m' }, { clusters: ['us-1'] }, { clusters: ['ap-1'] }],
    },
    router: {
      name: 'web',
      namespace: 'gloo-system',
      primary: { upstream: { name: 'web-primary', namespace: 'gloo-system' } },
      canary: { upstream: { name: 'web-canary', namespace: 'gloo-system' } },
    },
    strategy: { stepWeights: [10, 50], interval: '1m', lookInterval: '1m' },
    analysis: { judge: 'threshold', prometheus: { address: 'http://127.0.0.1:9' } },
    access: { channels: [CHANNEL], start: ['U0ALICE', 'S0PLATFORM'], promote: ['S0PLATFORM'], abort: ['U0ONCALL'], twoPersonRule: true },
  },
});

const single: RolloutSpec = parseSpec({
  ...fleet,
  metadata: { name: 'api' },
  spec: { ...fleet.spec, fleet: undefined },
});

let slack: FakeSlack;
let store: SqliteRolloutStore;
let chat: SqliteChatState;
let handler: ReturnType<typeof createSlackHandler>;
let followUps: string[];
const sfn = mockClient(SFNClient);

beforeAll(async () => {
  slack = await startFakeSlack();
  for (const id of ['U0ALICE', 'U0BOB', 'U0CAROL', 'U0ONCALL', 'U0MALLORY']) slack.users.set(id, { id, team_id: TEAM });
  slack.groups.set('S0PLATFORM', ['U0CAROL', 'U0BOB']);
});

afterAll(async () => {
  sfn.restore();
  await slack.close();
});

beforeEach(() => {
  sfn.reset();
  sfn.on(DescribeExecutionCommand).rejects(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} }));
  sfn.on(StartExecutionCommand).callsFake((input: { stateMachineArn: string; name: string }) => ({
    executionArn: `${input.stateMachineArn.replace(':stateMachine:', ':execution:')}:${input.name}`,
    startDate: NOW,
  }));
  sfn.on(SendTaskFailureCommand).resolves({});
  store = openSqliteStore(':memory:', { now: () => NOW });
  chat = new SqliteChatState(':memory:', { now: () => NOW });
  followUps = [];
  handler = createSlackHandler(async () => ({
    signingSecret: SECRET,
    afterAck: async (work) => {
      followUps.push(...work.map((w) => w.message.text));
    },
    ack: {
      store,
      events: new LocalEventPublisher(store, () => {}, { now: () => NOW }),
      sfn: new SFNClient({ region: 'eu-west-1' }),
      stateMachineArn: ROLLOUT_SM,
      fleetStateMachineArn: FLEET_SM,
      chat,
      directory: new WebApiDirectory({ client: slackClient('xoxb-test', { path: 'ack', slackApiUrl: slack.url }), teamId: TEAM }),
      loadTarget: async (target) => (target === 'web' ? fleet : target === 'api' ? single : null),
      config: { teamId: TEAM, apiAppId: APP },
      now: () => NOW,
    },
  }));
});

function signed(body: string): FunctionUrlEvent {
  const timestamp = Math.floor(NOW.getTime() / 1000);
  return {
    headers: {
      'x-slack-request-timestamp': String(timestamp),
      'x-slack-signature': signSlackRequest({ body, timestamp, signingSecret: SECRET }),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body,
    isBase64Encoded: false,
    requestContext: { http: { method: 'POST' } },
  };
}

const call = (event: FunctionUrlEvent): Promise<FunctionUrlResult> => handler(event, {} as Context);

let sequence = 0;
function click(action: string, user: string, execution = 'web-v2-fleet', gate = 'fleet:web'): FunctionUrlEvent {
  sequence += 1;
  const payload = {
    type: 'block_actions',
    team: { id: TEAM },
    api_app_id: APP,
    user: { id: user, team_id: TEAM },
    channel: { id: CHANNEL },
    container: { channel_id: CHANNEL, message_ts: '1.1' },
    response_url: slack.responseUrl('x'),
    actions: [{ action_id: `sluice:${action}`, value: encodeButtonValue({ execution, gate }), action_ts: `${sequence}.0` }],
  };
  return signed(new URLSearchParams({ payload: JSON.stringify(payload) }).toString());
}

function command(text: string, user = 'U0ALICE'): FunctionUrlEvent {
  sequence += 1;
  return signed(
    new URLSearchParams({
      team_id: TEAM,
      api_app_id: APP,
      channel_id: CHANNEL,
      user_id: user,
      command: '/sluice',
      text,
      response_url: slack.responseUrl('r'),
      trigger_id: `trigger-${sequence}`,
    }).toString(),
  );
}

const replyOf = (result: FunctionUrlResult) => (JSON.parse(result.body) as { text: string }).text;

/** Release web-v2-fleet started by `requestedBy`: the fleet holds web's lock; eu-1 promoted; us-1 rolling in a bake. */
async function running(requestedBy = 'slack:U0ALICE'): Promise<void> {
  const until = new Date(NOW.getTime() + 3600_000);
  // The fleet's own Plan: it takes web's lock and describes the release (who started it) for other processes.
  await fleetPlan({ store, events: new LocalEventPublisher(store, () => {}), now: () => NOW }, { ...stepInput, requestedBy });
  const record = (cluster: string, startedAt: string) => ({
    execution: `web-${cluster}-v2`,
    target: `web@${cluster}`,
    version: 'v2',
    requestedBy,
    startedAt,
    safeSide: 'primary' as const,
    lastWeights: { primary: 90, canary: 10 },
    status: 'running' as const,
  });
  await store.createRollout(record('eu-1', '2026-12-07T05:00:00Z'));
  await store.updateRollout('web-eu-1-v2', { status: 'finished', outcome: 'promoted', lastWeights: { primary: 100, canary: 0 } });
  await store.createRollout(record('us-1', '2026-12-07T05:40:00Z'));
  await store.acquireLock('web@us-1', 'web-us-1-v2', until);
  await store.putTaskToken({
    target: 'web@us-1',
    execution: 'web-us-1-v2',
    token: 'bake-token-us-1',
    gate: 'bake',
    createdAt: NOW.toISOString(),
  });
}

/** The fleet paused after wave 1 (its bake), as its WaveDone step leaves it. */
function pausedAfterWave1() {
  return afterWave(fleet, waveState(fleet, 0), new Date(NOW.getTime() - 60_000), { paused: false, promoteRest: false });
}

const stepDeps = () =>
  ({ store, now: () => new Date(NOW.getTime() + 3600_000), readMetrics: async () => [] }) as unknown as Parameters<typeof fleetStep>[0];
const stepInput = { spec: fleet, version: 'v2', requestedBy: 'slack:U0ALICE', attempt: 1, execution: 'web-v2-fleet' };

describe('a fleet release from Slack: the buttons', () => {
  it('keeps its controls where the fleet execution reads them, and reads the release where its Plan describes it', () => {
    expect(fleetControlKeyOf('web-v2-fleet')).toBe(fleetControlKey('web-v2-fleet'));
    expect(fleetReleaseKeyOf('web-v2-fleet')).toBe(fleetReleaseKey('web-v2-fleet'));
  });

  it('Promote the rest before any cluster has started: the two-person rule reads who started the release from its Plan', async () => {
    await fleetPlan(
      { store, events: new LocalEventPublisher(store, () => {}), now: () => NOW },
      { ...stepInput, requestedBy: 'slack:U0BOB' },
    );

    await call(click('fleet-promote-rest', 'U0BOB'));
    await call(click('fleet-promote-rest', 'U0CAROL'));

    expect(followUps).toEqual([
      'Not done: Two-person rule: <@U0BOB> started this rollout, so someone else must promote it.',
      'Done: every remaining wave of `web-v2-fleet` runs at once, without the bakes between them.',
    ]);
    expect(await readFleetControlOf(store, 'web-v2-fleet')).toMatchObject({ promoteRest: true, by: 'slack:U0CAROL' });
  });

  it('Pause holds the fleet between waves past its bake, Resume lets it go on — as the fleet’s own Watch step sees it', async () => {
    await running();

    await call(click('fleet-pause', 'U0ALICE'));
    const whilePaused = await fleetStep(stepDeps(), { ...stepInput, fleet: pausedAfterWave1(), action: 'watch' });
    await call(click('fleet-resume', 'U0CAROL'));
    const resumed = await fleetStep(stepDeps(), { ...stepInput, fleet: pausedAfterWave1(), action: 'watch' });

    expect(followUps).toEqual([
      'Done: `web-v2-fleet` holds after the wave now rolling (nothing rolls back); `/sluice resume web` lets it go on.',
      'Done: `web-v2-fleet` goes on with its next wave.',
    ]);
    expect(whilePaused).toMatchObject({ next: 'pause', reason: 'paused by slack:U0ALICE after wave 1' });
    expect(resumed).toMatchObject({ next: 'wave', wave: 1, members: [{ cluster: 'us-1', wave: 1 }] });
    expect(sfn.calls()).toHaveLength(0);
    // Audited on the release: a store step and a Command Audited event the fleet's thread shows.
    expect((await store.listSteps('web-v2-fleet')).map((s) => s.detail)).toEqual([
      'slack <@U0ALICE> in <#C0DEPLOYS>: button fleet-pause on web-v2-fleet -> `web-v2-fleet` holds after the wave now rolling (nothing rolls back); `/sluice resume web` lets it go on',
      'slack <@U0CAROL> in <#C0DEPLOYS>: button fleet-resume on web-v2-fleet -> `web-v2-fleet` goes on with its next wave',
    ]);
    expect((await store.listEvents('web-v2-fleet')).map((e) => [e.detailType, e.target, e.version])).toEqual([
      ['Command Audited', 'web', 'v2'],
      ['Command Audited', 'web', 'v2'],
    ]);
  });

  it('Promote the rest: never by who started the release (two-person rule), once by someone else; every remaining wave then runs at once', async () => {
    await running('slack:U0CAROL');

    await call(click('fleet-promote-rest', 'U0CAROL'));
    const afterRefusal = await readFleetControlOf(store, 'web-v2-fleet');
    await call(click('fleet-promote-rest', 'U0BOB'));
    await call(click('fleet-promote-rest', 'U0BOB'));
    const next = await fleetStep(stepDeps(), { ...stepInput, fleet: pausedAfterWave1(), action: 'watch' });

    expect(followUps[0]).toBe('Not done: Two-person rule: <@U0CAROL> started this rollout, so someone else must promote it.');
    expect(afterRefusal.promoteRest).toBe(false);
    expect(followUps[1]).toBe('Done: every remaining wave of `web-v2-fleet` runs at once, without the bakes between them.');
    expect(followUps[2]).toMatch(/^Not done: <@U0BOB> already promoted the rest of `web-v2-fleet` <!date\^\d+\^/);
    expect(next).toMatchObject({
      next: 'wave',
      wave: 1,
      members: [
        { cluster: 'us-1', wave: 1 },
        { cluster: 'ap-1', wave: 2 },
      ],
      maxParallel: 2,
    });
  });

  it('Abort the fleet: the rolling member’s bake is failed at once (SendTaskFailure), the fleet halts, no later member starts', async () => {
    await running();

    await call(click('fleet-abort', 'U0ONCALL'));
    await call(click('fleet-abort', 'U0ALICE'));
    const later = await fleetMember({ store } as unknown as Parameters<typeof fleetMember>[0], {
      ...stepInput,
      member: { cluster: 'ap-1', wave: 2 },
    });

    expect(sfn.commandCalls(SendTaskFailureCommand).map((c) => c.args[0].input)).toEqual([
      {
        taskToken: 'bake-token-us-1',
        error: 'Sluice.Aborted',
        cause: 'aborted by slack:U0ONCALL: fleet aborted: aborted from Slack by <@U0ONCALL>',
      },
    ]);
    expect(await store.getAbort('web-us-1-v2')).toMatchObject({ by: 'slack:U0ONCALL', kind: 'abort' });
    expect(followUps[0]).toBe(
      'Done: aborted the fleet release `web-v2-fleet`: no further wave starts; us-1 rolls back to the primary; promoted clusters stay promoted.',
    );
    expect(followUps[1]).toMatch(/^Not done: <@U0ONCALL> already aborted `web-v2-fleet`/);
    expect(later).toEqual({ skip: true, reason: 'aborted by slack:U0ONCALL: aborted from Slack by <@U0ONCALL>' });
  });

  it('refuses a user the access policy does not name, and a stale button of a release that no longer runs: nothing is written', async () => {
    await running();

    await call(click('fleet-abort', 'U0MALLORY'));
    await call(click('fleet-promote-rest', 'U0ALICE'));
    await store.releaseLock('web', 'web-v2-fleet');
    await store.acquireLock('web', 'web-v3', new Date(NOW.getTime() + 3600_000));
    await call(click('fleet-pause', 'U0ONCALL'));

    expect(followUps).toEqual([
      'You may not abort web: ask someone listed under spec.access.abort.',
      'You may not promote web: ask someone listed under spec.access.promote.',
      'Not done: `web-v2-fleet` is no longer running (web now runs `web-v3`). Nothing was done.',
    ]);
    expect(await store.getAnalysisState(fleetControlKeyOf('web-v2-fleet'))).toBeNull();
    expect(sfn.calls()).toHaveLength(0);
  });
});

describe('a fleet release from Slack: the commands', () => {
  it('/sluice start of a fleet target starts the fleet state machine with the exact input, the thread opening where it was typed', async () => {
    const result = await call(command('start web v2'));

    expect(replyOf(result)).toBe('Started `web-v2-fleet` (web v2). Progress follows in a thread.');
    expect(sfn.commandCalls(StartExecutionCommand).map((c) => c.args[0].input)).toEqual([
      {
        stateMachineArn: FLEET_SM,
        name: 'web-v2-fleet',
        input: JSON.stringify({ spec: fleet, version: 'v2', requestedBy: 'slack:U0ALICE', attempt: 1 }),
      },
    ]);
    expect(await chat.get('channel:web-v2-fleet')).toBe(CHANNEL);
  });

  it('/sluice status, pause, resume, promote and abort act on the running release; pause of a single rollout says what to use', async () => {
    await running();

    const status = replyOf(await call(command('status web')));
    const paused = replyOf(await call(command('pause web')));
    const again = replyOf(await call(command('pause web')));
    const resumed = replyOf(await call(command('resume web', 'U0BOB')));
    const aborted = replyOf(await call(command('abort web bad latency in eu', 'U0ONCALL')));
    const single = replyOf(await call(command('pause api')));

    expect(status.split('\n')).toEqual([
      '*web* (fleet): running — v2 (`web-v2-fleet`)',
      expect.stringMatching(/^started <!date\^\d+.*> by <@U0ALICE>$/),
      '*Wave 1*',
      ':white_check_mark: *eu-1* promoted — 100% new version',
      '*Wave 2*',
      ':hourglass_flowing_sand: *us-1* running — canary 10%',
      '*Wave 3*',
      ':white_circle: *ap-1* not-started',
    ]);
    expect(paused).toBe('Done: `web-v2-fleet` holds after the wave now rolling (nothing rolls back); `/sluice resume web` lets it go on.');
    expect(again).toBe('Not done: `web-v2-fleet` is paused already (by <@U0ALICE>).');
    expect(resumed).toBe('Done: `web-v2-fleet` goes on with its next wave.');
    expect(aborted).toBe(
      'Done: aborted the fleet release `web-v2-fleet`: no further wave starts; us-1 rolls back to the primary; promoted clusters stay promoted.',
    );
    expect((await readFleetControlOf(store, 'web-v2-fleet')).halted).toBe('aborted by slack:U0ONCALL: bad latency in eu');
    expect(single).toBe('Only a fleet release pauses between waves: api is a single rollout (`/sluice abort` or `/sluice promote` it).');
  });
});
