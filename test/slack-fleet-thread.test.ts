/**
 * One release, one thread: a fleet's members (web@eu-1, web@us-1) post into the fleet release's
 * thread — its head shows the waves and each cluster's state, weight and last verdict and is
 * updated as the members progress; their notable events are replies named by cluster — and the
 * fleet execution's end (its Step Functions status change, through the worker) closes it.
 * Slack is a fake Web API on loopback; the store is sqlite in memory.
 */
import type { KnownBlock } from '@slack/types';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { messageProblems } from '../lambdas/core/chatops/blocks.ts';
import { parseSpec } from '../lambdas/core/spec.ts';
import type { SluiceEvent } from '../lambdas/core/records.ts';
import { work } from '../lambdas/handlers/slack-worker.ts';
import { controlFleetRelease } from '../lambdas/adapters/control/fleet-control.ts';
import { openSqliteStore } from '../lambdas/adapters/store/sqlite.ts';
import type { SqliteRolloutStore } from '../lambdas/adapters/store/sqlite.ts';
import { SqliteChatState } from '../lambdas/adapters/slack/chat-state-sqlite.ts';
import { slackClient } from '../lambdas/adapters/slack/client.ts';
import { startFakeSlack } from '../lambdas/adapters/slack/fake-slack.fixtures.ts';
import type { FakeSlack } from '../lambdas/adapters/slack/fake-slack.fixtures.ts';
import { SlackNotifier } from '../lambdas/adapters/slack/notifier.ts';

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
        { name: 'ap-1', kubeconfigContext: 'ap-1' },
      ],
      waves: [{ clusters: ['eu-1'], pause: '30m' }, { clusters: ['us-1', 'ap-1'] }],
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

let slack: FakeSlack;
let store: SqliteRolloutStore;
let chat: SqliteChatState;
let notifier: SlackNotifier;

beforeEach(async () => {
  slack = await startFakeSlack();
  store = openSqliteStore(':memory:');
  chat = new SqliteChatState(':memory:');
  notifier = new SlackNotifier({
    client: slackClient('xoxb', { path: 'background', slackApiUrl: slack.url }),
    store,
    chat,
    loadTarget: async (target) => (target === 'web' ? fleet : null),
  });
});

afterEach(async () => {
  await slack.close();
  await store.close();
  await chat.close();
});

const member = (cluster: string, status: 'running' | 'finished', canary: number) => ({
  execution: `web-${cluster}-v2`,
  target: `web@${cluster}`,
  version: 'v2',
  requestedBy: 'slack:U0ALICE',
  startedAt: cluster === 'eu-1' ? '2026-12-07T05:00:00Z' : '2026-12-07T05:40:00Z',
  safeSide: 'primary' as const,
  lastWeights: { primary: 1000 - canary, canary },
  status,
});

const event = (
  cluster: string,
  detailType: SluiceEvent['detailType'],
  sequence: number,
  extra: Partial<SluiceEvent> = {},
): SluiceEvent => ({
  detailType,
  target: `web@${cluster}`,
  version: 'v2',
  execution: `web-${cluster}-v2`,
  sequence,
  at: '2026-12-07T05:01:00Z',
  ...extra,
});

const texts = (blocks: unknown): string => JSON.stringify(blocks);

describe('a fleet release in Slack: one thread', () => {
  it("puts every member's progress in the one thread of the release: head with waves, clusters, weights, verdicts; replies by cluster", async () => {
    // Prepare: eu-1 promoted, us-1 at 10% with a passing look, ap-1 not started yet.
    await store.createRollout(member('eu-1', 'running', 100));
    await store.updateRollout('web-eu-1-v2', { status: 'finished', outcome: 'promoted', lastWeights: { primary: 1000, canary: 0 } });
    await store.createRollout(member('us-1', 'running', 100));
    await store.appendStep({
      execution: 'web-us-1-v2',
      at: '2026-12-07T05:41:00Z',
      kind: 'analysis',
      verdict: { result: 'pass', summary: 'all 1 metrics within range', checks: [] },
    });

    // Act: events of two members, one a reply event.
    await notifier.notify(event('eu-1', 'Weight Changed', 1));
    await notifier.notify(event('eu-1', 'Rollout Promoted', 9, { reason: 'all steps passed' }));
    await notifier.notify(event('us-1', 'Weight Changed', 2));
    await notifier.idle();

    // Assess: one head message for the release (none per member), updated in place; the reply names its cluster.
    const posts = slack.calls.filter((c) => c.method === 'chat.postMessage');
    const heads = posts.filter((c) => c.args.thread_ts === undefined);
    expect(heads.map((c) => c.args.channel)).toEqual(['C0FLEET']);
    const replies = posts.filter((c) => c.args.thread_ts !== undefined).map((c) => c.args.text);
    expect(replies).toEqual(['*eu-1* · *Rollout Promoted*: all steps passed']);
    const updates = slack.calls.filter((c) => c.method === 'chat.update');
    expect(updates.length).toBeGreaterThanOrEqual(1);
    const last = updates.at(-1)!.args;
    expect(last.ts).toBe('1700000000.000001');
    expect(last.text).toBe('web v2 (fleet): running; 1/3 clusters promoted, 1 rolling');
    const blocks = last.blocks as KnownBlock[];
    expect(messageProblems({ text: String(last.text), blocks })).toEqual([]);
    expect(texts(blocks)).toContain('*Wave 1* (then a 30m bake)');
    expect(texts(blocks)).toContain(':white_check_mark: *eu-1* promoted — 100% new version');
    expect(texts(blocks)).toContain(':hourglass_flowing_sand: *us-1* running — canary 10% · last look pass: all 1 metrics within range');
    expect(texts(blocks)).toContain(':white_circle: *ap-1* not-started');
    const actions = blocks.find((b) => b.type === 'actions') as { elements: Array<{ action_id: string; value: string }> };
    expect(actions.elements.map((e) => e.action_id)).toEqual(['sluice:fleet-pause', 'sluice:fleet-promote-rest', 'sluice:fleet-abort']);
    expect(actions.elements.map((e) => JSON.parse(e.value) as unknown)).toEqual([
      { e: 'web-v2-fleet', g: 'fleet:web' },
      { e: 'web-v2-fleet', g: 'fleet:web' },
      { e: 'web-v2-fleet', g: 'fleet:web' },
    ]);
  });

  it('shows a pause and a member waiting at an approval gate with its own Approve button', async () => {
    await store.createRollout(member('eu-1', 'running', 0));
    await store.putTaskToken({
      target: 'web@eu-1',
      execution: 'web-eu-1-v2',
      gate: 'before-start',
      token: 'tok',
      createdAt: '2026-12-07T05:00:00Z',
    });
    await controlFleetRelease(store, 'web-v2-fleet', 'pause', 'slack:U0BOB', new Date('2026-12-07T05:02:00Z'));

    await notifier.notify(event('eu-1', 'Approval Requested', 1, { reason: 'before-start' }));
    await notifier.idle();

    const head = slack.calls.find((c) => c.method === 'chat.postMessage' && c.args.thread_ts === undefined)!.args;
    const blocks = head.blocks as KnownBlock[];
    expect(texts(blocks)).toContain(':double_vertical_bar: paused between waves');
    expect(texts(blocks)).toContain('*Paused* by <@U0BOB>');
    const actions = blocks.find((b) => b.type === 'actions') as { elements: Array<{ action_id: string; value: string }> };
    expect(actions.elements.map((e) => e.action_id)).toEqual([
      'sluice:approve',
      'sluice:fleet-resume',
      'sluice:fleet-promote-rest',
      'sluice:fleet-abort',
    ]);
    expect(JSON.parse(actions.elements[0]!.value)).toEqual({ e: 'web-eu-1-v2', g: 'before-start' });
  });

  it("closes the thread when the fleet execution's status change arrives through the worker: head without buttons, one reply", async () => {
    await store.createRollout(member('eu-1', 'running', 0));
    await notifier.notify(event('eu-1', 'Rollout Started', 1));
    await notifier.idle();
    const deps = {
      notify: (e: SluiceEvent) => notifier.notify(e),
      fleetEnded: async (ended: Parameters<SlackNotifier['fleetEnded']>[0]) => {
        await notifier.fleetEnded(ended);
        await notifier.idle();
      },
    };

    await work(deps, {
      source: 'aws.states',
      'detail-type': 'Step Functions Execution Status Change',
      detail: {
        name: 'web-v2-fleet',
        status: 'FAILED',
        error: 'Sluice.FleetHalted',
        cause: 'halted at wave 1 cluster eu-1: rolled-back (analysis failed)',
        input: JSON.stringify({ spec: fleet, version: 'v2', requestedBy: 'slack:U0ALICE', attempt: 1 }),
        output: null,
      },
    } as never);

    const last = slack.calls.filter((c) => c.method === 'chat.update').at(-1)!.args;
    expect(String(last.text)).toMatch(/^web v2 \(fleet\): halted; 0\/3 clusters promoted/);
    expect((last.blocks as KnownBlock[]).some((b) => b.type === 'actions')).toBe(false);
    const replies = slack.calls.filter((c) => c.method === 'chat.postMessage' && c.args.thread_ts !== undefined).map((c) => c.args.text);
    expect(replies).toEqual(['*Fleet halted*: halted at wave 1 cluster eu-1: rolled-back (analysis failed)']);
  });

  it("leaves a single cluster's own rollout of a fleet target (not one of a release's members) in a thread of its own", async () => {
    await store.createRollout({ ...member('us-1', 'running', 100), execution: 'web-us-1-hotfix' });

    await notifier.notify({ ...event('us-1', 'Weight Changed', 1), execution: 'web-us-1-hotfix', version: 'v2' });
    await notifier.idle();

    const head = slack.calls.find((c) => c.method === 'chat.postMessage')!.args;
    expect(head.channel).toBe('C0FLEET');
    expect(String(head.text)).toContain('web@us-1 v2: running, canary 10%');
  });
});
