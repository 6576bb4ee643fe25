import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ERROR_NAMES } from '../../core/errors.ts';
import type { RolloutStore } from '../../core/ports.ts';
import type { SluiceEvent } from '../../core/records.ts';
import { EventBridgePublisher, LocalEventPublisher, sanitizeEvent } from './publisher.ts';
import { openSqliteStore } from '../store/sqlite.ts';

const now = new Date('2026-03-01T10:00:00.000Z');
const verdict = {
  result: 'fail' as const,
  checks: [{ name: 'request-success-rate', value: 97.2, min: 99, result: 'fail' as const }],
  summary: 'request-success-rate 97.2 < min 99',
};
const base = { target: 'podinfo', version: 'v2', execution: 'podinfo-v2' };

let store: RolloutStore;
beforeEach(() => {
  store = openSqliteStore(':memory:');
});
afterEach(async () => {
  await store.close();
});

describe('LocalEventPublisher', () => {
  it('numbers events per execution, keeps them in the store and logs one JSON line each', async () => {
    const lines: string[] = [];
    const publisher = new LocalEventPublisher(store, (line) => lines.push(line), { now: () => now });

    await publisher.publish({ ...base, detailType: 'Rollout Started', weights: { primary: 100, canary: 0 } });
    await publisher.publish({ ...base, detailType: 'Analysis Completed', verdict });

    const events = await store.listEvents('podinfo-v2');
    expect(events).toEqual([
      { ...base, detailType: 'Rollout Started', sequence: 1, at: now.toISOString(), weights: { primary: 100, canary: 0 } },
      { ...base, detailType: 'Analysis Completed', sequence: 2, at: now.toISOString(), verdict },
    ]);
    expect(lines.map((line) => JSON.parse(line) as unknown)).toEqual(events.map((event) => ({ source: 'sluice', ...event })));
  });

  it('never lets a task token or a response URL out, even when a caller spreads one in', async () => {
    const lines: string[] = [];
    const publisher = new LocalEventPublisher(store, (line) => lines.push(line), { now: () => now });
    const leaky = {
      ...base,
      detailType: 'Approval Requested',
      taskToken: 'AAAA-secret',
      response_url: 'https://hooks.slack.com/actions/T1/2/abc',
    };

    await publisher.publish(leaky as Omit<SluiceEvent, 'sequence' | 'at'>);

    expect(lines[0]).not.toMatch(/secret|hooks\.slack\.com/);
    expect(JSON.stringify(await store.listEvents('podinfo-v2'))).not.toMatch(/secret|hooks\.slack\.com/);
  });
});

describe('sanitizeEvent', () => {
  it('drops token- and response-URL-named keys at any depth and redacts Slack hook URLs in text', () => {
    const event = {
      ...base,
      detailType: 'Rollout Aborted',
      sequence: 3,
      at: now.toISOString(),
      reason: 'aborted via https://hooks.slack.com/commands/T1/99/xyz by bob',
      verdict: { ...verdict, checks: [{ ...verdict.checks[0], TaskToken: 'secret', responseUrl: 'https://x' }] },
      extra: 'not an event field',
    } as unknown as SluiceEvent;

    const clean = sanitizeEvent(event);

    expect(clean).toEqual({
      ...base,
      detailType: 'Rollout Aborted',
      sequence: 3,
      at: now.toISOString(),
      reason: 'aborted via [redacted] by bob',
      verdict,
    });
  });
});

describe('EventBridgePublisher', () => {
  const eventBridge = mockClient(EventBridgeClient);
  afterEach(() => {
    eventBridge.reset();
  });

  it('sends exactly one PutEvents entry to the one bus, source sluice, with the event as detail', async () => {
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
    const publisher = new EventBridgePublisher({
      busName: 'sluice-bus',
      client: new EventBridgeClient({ region: 'us-east-1' }),
      store,
      now: () => now,
    });

    await publisher.publish({ ...base, detailType: 'Weight Changed', weights: { primary: 95, canary: 5 } });

    expect(eventBridge.commandCalls(PutEventsCommand).map((call) => call.args[0].input)).toEqual([
      {
        Entries: [
          {
            EventBusName: 'sluice-bus',
            Source: 'sluice',
            DetailType: 'Weight Changed',
            Detail: JSON.stringify({
              target: 'podinfo',
              version: 'v2',
              execution: 'podinfo-v2',
              sequence: 1,
              at: now.toISOString(),
              weights: { primary: 95, canary: 5 },
            }),
            Time: now,
          },
        ],
      },
    ]);
    expect((await store.listEvents('podinfo-v2')).map((event) => event.sequence)).toEqual([1]);
  });

  it('carries the verdict evidence and increasing sequence numbers', async () => {
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e' }] });
    const publisher = new EventBridgePublisher({
      busName: 'sluice-bus',
      client: new EventBridgeClient({ region: 'us-east-1' }),
      store,
      now: () => now,
    });

    await publisher.publish({ ...base, detailType: 'Rollout Started' });
    await publisher.publish({ ...base, detailType: 'Analysis Completed', verdict });

    const details = eventBridge
      .commandCalls(PutEventsCommand)
      .map((call) => JSON.parse(call.args[0].input.Entries?.[0]?.Detail ?? '{}') as SluiceEvent);
    expect(details.map((detail) => detail.sequence)).toEqual([1, 2]);
    expect(details[1]?.verdict).toEqual(verdict);
  });

  it('fails loudly when EventBridge reports a failed entry, naming the event and the error code', async () => {
    eventBridge
      .on(PutEventsCommand)
      .resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'AccessDeniedException', ErrorMessage: 'not allowed on bus' }] });
    const publisher = new EventBridgePublisher({
      busName: 'sluice-bus',
      client: new EventBridgeClient({ region: 'us-east-1' }),
      store,
      now: () => now,
    });

    const publishing = publisher.publish({ ...base, detailType: 'Rollout Promoted', outcome: 'promoted' });

    await expect(publishing).rejects.toThrow(
      'publishing event "Rollout Promoted" #1 of podinfo-v2 to bus sluice-bus failed: AccessDeniedException not allowed on bus',
    );
  });

  it('marks a throttled entry as transient so the state machine retries it', async () => {
    eventBridge
      .on(PutEventsCommand)
      .resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'ThrottlingException', ErrorMessage: 'rate exceeded' }] });
    const publisher = new EventBridgePublisher({
      busName: 'sluice-bus',
      client: new EventBridgeClient({ region: 'us-east-1' }),
      store,
      now: () => now,
    });

    const publishing = publisher.publish({ ...base, detailType: 'Weight Changed' });

    await expect(publishing).rejects.toMatchObject({ name: ERROR_NAMES.transient });
  });

  it('never puts a task token on the bus', async () => {
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e' }] });
    const publisher = new EventBridgePublisher({
      busName: 'sluice-bus',
      client: new EventBridgeClient({ region: 'us-east-1' }),
      store,
      now: () => now,
    });
    const leaky = { ...base, detailType: 'Approval Requested', taskToken: 'AAAA-secret' };

    await publisher.publish(leaky as Omit<SluiceEvent, 'sequence' | 'at'>);

    expect(JSON.stringify(eventBridge.commandCalls(PutEventsCommand)[0]?.args[0].input)).not.toContain('secret');
  });
});
