import {
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  GetScheduleCommand,
  ListSchedulesCommand,
  ResourceNotFoundException,
  SchedulerClient,
} from '@aws-sdk/client-scheduler';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { ERROR_NAMES } from '../../core/errors.ts';
import { scheduleName, scheduleNamePrefix } from '../../core/schedule.ts';
import { EventBridgeRolloutScheduler } from './scheduler.ts';

const config = {
  groupName: 'sluice-rollouts',
  startFunctionArn: 'arn:aws:lambda:eu-central-1:123456789012:function:sluice-start',
  roleArn: 'arn:aws:iam::123456789012:role/sluice-scheduler',
  deadLetterArn: 'arn:aws:sqs:eu-central-1:123456789012:sluice-scheduler-dlq',
};
const at = new Date('2026-05-04T07:00:00Z');
const name = scheduleName('podinfo', 'v2', at);
const input = (key: string, version = 'v2') =>
  JSON.stringify({ target: 'podinfo', version, requestedBy: 'alice@cli', idempotencyKey: key });
const stored = (key: string, expression: string, version = 'v2') => ({
  Name: key,
  GroupName: config.groupName,
  ScheduleExpression: expression,
  ScheduleExpressionTimezone: 'Europe/Berlin',
  Target: { Arn: config.startFunctionArn, RoleArn: config.roleArn, Input: input(key, version) },
});

const sdk = mockClient(SchedulerClient);
afterEach(() => sdk.reset());

const scheduler = () => new EventBridgeRolloutScheduler(config, sdk as unknown as SchedulerClient);
const notFound = () => new ResourceNotFoundException({ message: 'Schedule not found', Message: 'Schedule not found', $metadata: {} });

describe('EventBridgeRolloutScheduler', () => {
  it('creates a one-off schedule with exactly the request the design names', async () => {
    sdk.on(CreateScheduleCommand).resolves({ ScheduleArn: `arn:aws:scheduler:eu-central-1:123456789012:schedule/sluice-rollouts/${name}` });
    sdk.on(GetScheduleCommand).resolves(stored(name, 'at(2026-05-04T09:00:00)'));

    const result = await scheduler().create({ target: 'podinfo', version: 'v2', requestedBy: 'alice@cli', at, timeZone: 'Europe/Berlin' });

    expect(sdk.commandCalls(CreateScheduleCommand).map((call) => call.args[0].input)).toEqual([
      {
        Name: name,
        GroupName: 'sluice-rollouts',
        ScheduleExpression: 'at(2026-05-04T09:00:00)',
        ScheduleExpressionTimezone: 'Europe/Berlin',
        FlexibleTimeWindow: { Mode: 'OFF' },
        ActionAfterCompletion: 'DELETE',
        State: 'ENABLED',
        Description: 'sluice: start podinfo v2 for alice@cli',
        ClientToken: name,
        Target: {
          Arn: config.startFunctionArn,
          RoleArn: config.roleArn,
          Input: input(name),
          RetryPolicy: { MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 10 },
          DeadLetterConfig: { Arn: config.deadLetterArn },
        },
      },
    ]);
    expect(result).toEqual({
      created: true,
      schedule: {
        name,
        target: 'podinfo',
        version: 'v2',
        requestedBy: 'alice@cli',
        at: '2026-05-04T07:00:00.000Z',
        timeZone: 'Europe/Berlin',
        state: 'scheduled',
      },
    });
  });

  it('returns the existing schedule when the same request was made before', async () => {
    sdk
      .on(CreateScheduleCommand)
      .rejects(
        new ConflictException({ message: `Schedule ${name} already exists.`, Message: `Schedule ${name} already exists.`, $metadata: {} }),
      );
    sdk.on(GetScheduleCommand).resolves(stored(name, 'at(2026-05-04T09:00:00)'));
    const result = await scheduler().create({ target: 'podinfo', version: 'v2', requestedBy: 'alice@cli', at, timeZone: 'Europe/Berlin' });
    expect(result.created).toBe(false);
    expect(result.schedule.name).toBe(name);
  });

  it("lists a target's schedules by group and name prefix, soonest first, skipping one that fired meanwhile", async () => {
    const later = scheduleName('podinfo', 'v3', new Date('2026-05-05T07:00:00Z'));
    const gone = scheduleName('podinfo', 'v4', new Date('2026-05-06T07:00:00Z'));
    sdk
      .on(ListSchedulesCommand)
      .resolvesOnce({ Schedules: [{ Name: later }], NextToken: 'page-2' })
      .resolvesOnce({ Schedules: [{ Name: name }, { Name: gone }] });
    sdk.on(GetScheduleCommand, { Name: later }).resolves(stored(later, 'at(2026-05-05T09:00:00)', 'v3'));
    sdk.on(GetScheduleCommand, { Name: name }).resolves(stored(name, 'at(2026-05-04T09:00:00)'));
    sdk.on(GetScheduleCommand, { Name: gone }).rejects(notFound());

    const listed = await scheduler().list('podinfo');

    expect(sdk.commandCalls(ListSchedulesCommand).map((call) => call.args[0].input)).toEqual([
      { GroupName: 'sluice-rollouts', NamePrefix: scheduleNamePrefix('podinfo') },
      { GroupName: 'sluice-rollouts', NamePrefix: 'podinfo_', NextToken: 'page-2' },
    ]);
    expect(listed.map((s) => [s.version, s.at])).toEqual([
      ['v2', '2026-05-04T07:00:00.000Z'],
      ['v3', '2026-05-05T07:00:00.000Z'],
    ]);
  });

  it('cancels by deleting the schedule in its group, and says when there was none', async () => {
    sdk.on(DeleteScheduleCommand, { Name: name }).resolves({});
    sdk.on(DeleteScheduleCommand, { Name: 'nope' }).rejects(notFound());
    expect(await scheduler().cancel(name)).toBe(true);
    expect(await scheduler().cancel('nope')).toBe(false);
    expect(sdk.commandCalls(DeleteScheduleCommand).map((call) => call.args[0].input)).toEqual([
      { Name: name, GroupName: 'sluice-rollouts' },
      { Name: 'nope', GroupName: 'sluice-rollouts' },
    ]);
  });

  it('turns throttling into a transient error and names the schedule and group', async () => {
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    sdk.on(CreateScheduleCommand).rejects(throttled);
    const error = await scheduler()
      .create({ target: 'podinfo', version: 'v2', requestedBy: 'alice@cli', at })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toBe(ERROR_NAMES.transient);
    expect((error as Error).message).toBe(
      `Scheduler CreateSchedule ${name} in group sluice-rollouts failed: ThrottlingException: Rate exceeded`,
    );
  });
});
