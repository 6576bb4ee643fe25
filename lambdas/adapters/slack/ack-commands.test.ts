/**
 * `/sluice override` and `/sluice schedule …` through the ack path: exact refusals (no reason, not
 * an approver, no start permission, a bad time), what is recorded, and times in Slack date tokens.
 * The store is sqlite in memory, Slack's directory a stub, the scheduler an in-memory book.
 */
import type { SFNClient } from '@aws-sdk/client-sfn';
import { beforeEach, describe, expect, it } from 'vitest';
import { parseSpec } from '../../core/spec.ts';
import type { RolloutSpec } from '../../core/spec.ts';
import type { RolloutScheduler, ScheduledRollout, ScheduleRolloutRequest } from '../../core/schedule.ts';
import { scheduleName } from '../../core/schedule.ts';
import { LocalEventPublisher } from '../events/publisher.ts';
import { openSqliteStore } from '../store/sqlite.ts';
import type { SqliteRolloutStore } from '../store/sqlite.ts';
import { handleSlackRequest } from './ack.ts';
import type { AckDeps } from './ack.ts';
import { SqliteChatState } from './chat-state-sqlite.ts';

const TEAM = 'T0SLUICE';
const APP = 'A0SLUICE';
const CHANNEL = 'C0DEPLOYS';
const NOW = new Date('2026-11-27T10:00:00Z');

function spec(name: string, extra: Record<string, unknown> = {}): RolloutSpec {
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
      ...extra,
    },
  });
}

const specs = new Map<string, RolloutSpec>([
  [
    'web',
    spec('web', {
      access: { channels: [CHANNEL], start: ['U0ALICE'], approve: ['U0CAROL'], promote: [], abort: [] },
      strategy: { windows: [{ kind: 'deny', from: '2026-11-27T00:00:00Z', to: '2026-11-28T00:00:00Z' }] },
    }),
  ],
  ['open', spec('open')],
]);

class MemoryScheduler implements RolloutScheduler {
  readonly schedules: ScheduledRollout[] = [];
  readonly requests: ScheduleRolloutRequest[] = [];
  async create(request: ScheduleRolloutRequest) {
    this.requests.push(request);
    const name = scheduleName(request.target, request.version, request.at);
    const existing = this.schedules.find((s) => s.name === name);
    if (existing) return { schedule: existing, created: false };
    const schedule: ScheduledRollout = {
      name,
      target: request.target,
      version: request.version,
      requestedBy: request.requestedBy,
      at: request.at.toISOString(),
      timeZone: request.timeZone ?? 'UTC',
      state: 'scheduled',
    };
    this.schedules.push(schedule);
    return { schedule, created: true };
  }
  async list(target?: string) {
    return this.schedules.filter((s) => !target || s.target === target);
  }
  async cancel(name: string) {
    const index = this.schedules.findIndex((s) => s.name === name);
    if (index === -1) return false;
    this.schedules.splice(index, 1);
    return true;
  }
}

let store: SqliteRolloutStore;
let scheduler: MemoryScheduler;
let deps: AckDeps;
let trigger = 0;

beforeEach(() => {
  store = openSqliteStore(':memory:', { now: () => NOW });
  scheduler = new MemoryScheduler();
  deps = {
    store,
    events: new LocalEventPublisher(store, () => {}, { now: () => NOW }),
    sfn: { send: async () => ({}) } as unknown as SFNClient,
    stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:sluice',
    chat: new SqliteChatState(':memory:', { now: () => NOW }),
    directory: { refusal: async () => null, memberOf: async () => new Set<string>() },
    loadTarget: async (target) => specs.get(target) ?? null,
    config: { teamId: TEAM, apiAppId: APP },
    now: () => NOW,
    scheduler,
  };
});

async function slash(text: string, user = 'U0ALICE', channel = CHANNEL): Promise<string> {
  trigger += 1;
  const result = await handleSlackRequest(deps, {
    type: 'command',
    teamId: TEAM,
    apiAppId: APP,
    userId: user,
    channelId: channel,
    command: '/sluice',
    text,
    triggerId: `t-${trigger}`,
    responseUrl: 'https://hooks.slack.invalid/r',
  });
  return result.body?.text ?? '';
}

describe('/sluice override', () => {
  it('is refused without a reason, and nothing is recorded', async () => {
    const text = await slash('override web', 'U0CAROL');

    expect(text).toContain("Why? An override of web's change windows needs a reason (it is audited).");
    expect(text).toContain('Usage: `/sluice override <target> <reason…>`');
    expect(await store.getOverride('web')).toBeNull();
  });

  it('is refused to someone who may not approve, and audited as refused', async () => {
    const text = await slash('override web hotfix', 'U0ALICE');

    expect(text).toBe('You may not approve web: ask someone listed under spec.access.approve.');
    expect(await store.getOverride('web')).toBeNull();
    expect((await store.listSteps('chatops-web')).map((s) => s.detail)).toEqual([
      'slack <@U0ALICE> in <#C0DEPLOYS>: /sluice override web hotfix -> refused by the access policy',
    ]);
  });

  it('lets an approver override until the window opens again, audited in the store and the events', async () => {
    const text = await slash('override web customer outage &amp; fix', 'U0CAROL');

    expect(text).toBe('Done: change windows of web overridden until 2026-11-28T00:00:00.000Z by slack:U0CAROL: a start is not queued.');
    expect(await store.getOverride('web')).toEqual({
      target: 'web',
      by: 'slack:U0CAROL',
      reason: 'customer outage & fix',
      at: NOW.toISOString(),
      until: '2026-11-28T00:00:00.000Z',
    });
    const events = await store.listEvents('chatops-web');
    expect(events.map((e) => e.detailType)).toEqual(['Command Audited', 'Command Audited']);
    expect(events[0]?.reason).toMatch(
      /^window override by slack:U0CAROL until 2026-11-28T00:00:00.000Z: customer outage & fix; the windows are closed/,
    );
  });
});

describe('/sluice schedule', () => {
  it('creates a one-off schedule from a local time in a zone, shown with a Slack date token', async () => {
    const text = await slash('schedule web v1.2.3 at 2026-12-01 09:00 tz Europe/Berlin');

    expect(scheduler.requests).toEqual([
      { target: 'web', version: 'v1.2.3', requestedBy: 'slack:U0ALICE', at: new Date('2026-12-01T08:00:00Z'), timeZone: 'Europe/Berlin' },
    ]);
    const name = scheduleName('web', 'v1.2.3', new Date('2026-12-01T08:00:00Z'));
    expect(text).toContain(
      `Scheduled \`${name}\`: web v1.2.3 starts <!date^${Date.parse('2026-12-01T08:00:00Z') / 1000}^{date_short_pretty} {time}|2026-12-01 08:00:00 UTC>.`,
    );
    expect(text).toContain(`/sluice schedule cancel ${name}`);
  });

  it('accepts an ISO time with offset', async () => {
    const text = await slash('schedule web v2 at 2026-12-01T09:00+05:45');

    expect(text).toContain('Scheduled `');
    expect(scheduler.requests[0]?.at).toEqual(new Date('2026-12-01T03:15:00Z'));
  });

  it('refuses times in the past, without a zone, or in an unknown zone, and malformed text', async () => {
    expect(await slash('schedule web v2 at 2026-11-01T09:00Z')).toContain('Not scheduled: 2026-11-01T09:00Z is in the past');
    expect(await slash('schedule web v2 at 2026-12-01 09:00')).toContain('Not scheduled: "2026-12-01 09:00" has no offset');
    expect(await slash('schedule web v2 at 2026-12-01 09:00 tz Mars/Olympus')).toBe(
      'Not scheduled: `Mars/Olympus` is not an IANA time zone (such as Europe/Berlin or UTC).',
    );
    expect(await slash('schedule web v2 tomorrow')).toContain('When? Write `at` and the time.');
    expect(scheduler.requests).toEqual([]);
  });

  it('needs the start permission to create and to cancel; listing is open', async () => {
    await slash('schedule web v2 at 2026-12-01T09:00Z');
    const [created] = scheduler.schedules;
    if (!created) throw new Error('nothing was scheduled');

    const refusedCreate = await slash('schedule web v3 at 2026-12-01T09:00Z', 'U0CAROL');
    const refusedCancel = await slash(`schedule cancel ${created.name}`, 'U0CAROL');
    const listAll = await slash('schedule list', 'U0CAROL');
    const listWeb = await slash('schedule list web', 'U0CAROL');
    const cancelled = await slash(`schedule cancel ${created.name}`);
    const unknown = await slash(`schedule cancel ${created.name}`);

    expect(refusedCreate).toBe('You may not start web: ask someone listed under spec.access.start.');
    expect(refusedCancel).toBe('You may not start web: ask someone listed under spec.access.start.');
    expect(listAll).toContain(`• \`${created.name}\` web v2 <!date^`);
    expect(listAll).toContain('by <@U0ALICE>');
    expect(listWeb).toContain(`\`${created.name}\``);
    expect(cancelled).toBe(`Cancelled \`${created.name}\` (web): it will not start.`);
    expect(unknown).toBe(`No pending schedule \`${created.name}\`: \`/sluice schedule list\` shows them.`);
    expect(await scheduler.list()).toEqual([]);
  });

  it('says scheduling is not set up when the bot has no scheduler', async () => {
    delete deps.scheduler;

    expect(await slash('schedule list')).toContain('Scheduling is not set up for this Slack bot');
    expect(await slash('schedule web v2 at 2026-12-01T09:00Z')).toContain('Scheduling is not set up for this Slack bot');
  });
});

describe('/sluice status of an A/B test and a blue/green rollout', () => {
  async function recordRunning(execution: string, strategy: Record<string, unknown>): Promise<void> {
    await store.createRollout({
      execution,
      target: 'open',
      version: 'v2',
      requestedBy: 'U0ALICE',
      startedAt: NOW.toISOString(),
      safeSide: 'primary',
      lastWeights: { primary: 100, canary: 0 },
      status: 'running',
      spec: { metadata: { name: 'open' }, spec: { strategy: { interval: '1m', ...strategy } } },
    });
    await store.acquireLock('open', execution, new Date(NOW.getTime() + 3_600_000));
  }

  it('says the A/B match rule next to weights that stay 100/0', async () => {
    await recordRunning('open-ab', { iterations: 4, match: [{ headers: { 'x-canary': { exact: 'insider' } } }] });

    const text = await slash('status open');

    expect(text).toContain('traffic: primary 100% / canary 0% (safe side: primary)');
    expect(text).toContain(
      'strategy: A/B testing: requests where header x-canary = "insider" go to the canary, all others to the primary (4 looks of 1m, then promotion)',
    );
  });

  it('says blue/green and its phases', async () => {
    await recordRunning('open-bg', { iterations: 3, blueGreen: {}, shadow: { percentage: 20, duration: '5m' } });

    const text = await slash('status open');

    expect(text).toContain(
      'strategy: blue/green: 20% of live requests mirrored to green for 5m, then users stay on blue while green is judged on its own traffic (3 looks of 1m), then one switch of all traffic to green',
    );
  });
});
