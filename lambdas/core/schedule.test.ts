import { describe, expect, it } from 'vitest';
import type { RolloutScheduler, ScheduleRolloutRequest, ScheduledRollout } from './schedule.ts';
import { SCHEDULE_NAME_MAX, scheduleExpression, scheduleName, scheduleNamePrefix, scheduleRequest, startOrQueue } from './schedule.ts';

const config = {
  groupName: 'sluice-rollouts',
  startFunctionArn: 'arn:aws:lambda:eu-central-1:123456789012:function:sluice-start',
  roleArn: 'arn:aws:iam::123456789012:role/sluice-scheduler',
  deadLetterArn: 'arn:aws:sqs:eu-central-1:123456789012:sluice-scheduler-dlq',
};
const SCHEDULER_NAME = /^[0-9a-zA-Z_.-]{1,64}$/;

describe('schedule names', () => {
  it('read as target_version_hash and stay stable for the same request', () => {
    const at = new Date('2026-05-04T07:00:00Z');
    const name = scheduleName('podinfo', 'v1.2.3', at);
    expect(name).toMatch(/^podinfo_v1\.2\.3_[0-9a-f]{8}$/);
    expect(scheduleName('podinfo', 'v1.2.3', at)).toBe(name);
    expect(scheduleName('podinfo', 'v1.2.3', new Date('2026-05-04T08:00:00Z'))).not.toBe(name);
    expect(name.startsWith(scheduleNamePrefix('podinfo'))).toBe(true);
  });

  it('fit Scheduler’s 64 characters and character set, long inputs staying apart', () => {
    const at = new Date('2026-05-04T07:00:00Z');
    const target = 'a-very-long-target-name-that-goes-on-and-on-for-sixty-chars-xx';
    const a = scheduleName(target, `sha256:${'a'.repeat(64)}+build/1`, at);
    const b = scheduleName(target, `sha256:${'a'.repeat(64)}+build/2`, at);
    for (const name of [a, b]) {
      expect(name.length).toBeLessThanOrEqual(SCHEDULE_NAME_MAX);
      expect(name).toMatch(SCHEDULER_NAME);
    }
    expect(a).not.toBe(b);
    // Another long target sharing the first 23 characters gets another prefix.
    expect(scheduleNamePrefix(target)).not.toBe(scheduleNamePrefix(`${target}-other`));
    expect(scheduleNamePrefix(target)).toMatch(/^[a-z0-9-]{32}_$/);
  });
});

describe('the CreateSchedule request', () => {
  it('is a one-off at() in the zone, flexible window off, deleted after it ran, with retries and a DLQ', () => {
    const request: ScheduleRolloutRequest = {
      target: 'podinfo',
      version: 'v1.2.3',
      requestedBy: 'alice@cli',
      at: new Date('2026-05-04T07:00:00Z'),
      timeZone: 'Europe/Berlin',
    };
    const name = scheduleName('podinfo', 'v1.2.3', request.at);
    expect(scheduleRequest(request, config)).toEqual({
      Name: name,
      GroupName: 'sluice-rollouts',
      ScheduleExpression: 'at(2026-05-04T09:00:00)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
      FlexibleTimeWindow: { Mode: 'OFF' },
      ActionAfterCompletion: 'DELETE',
      State: 'ENABLED',
      Description: 'sluice: start podinfo v1.2.3 for alice@cli',
      ClientToken: name,
      Target: {
        Arn: config.startFunctionArn,
        RoleArn: config.roleArn,
        Input: JSON.stringify({ target: 'podinfo', version: 'v1.2.3', requestedBy: 'alice@cli', idempotencyKey: name }),
        RetryPolicy: { MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 10 },
        DeadLetterConfig: { Arn: config.deadLetterArn },
      },
    });
  });

  it('rounds up to the second and writes a repeated wall time in UTC so Scheduler cannot pick the other one', () => {
    expect(scheduleExpression(new Date('2026-05-04T03:15:00.250Z'), 'Asia/Kathmandu')).toEqual({
      expression: 'at(2026-05-04T09:00:01)',
      timeZone: 'Asia/Kathmandu',
    });
    expect(scheduleExpression(new Date('2026-05-04T03:15:00Z'))).toEqual({ expression: 'at(2026-05-04T03:15:00)', timeZone: 'UTC' });
    // 00:30Z on 25 Oct 2026 is the first 02:30 in Berlin; 02:30 happens again an hour later.
    expect(scheduleExpression(new Date('2026-10-25T00:30:00Z'), 'Europe/Berlin')).toEqual({
      expression: 'at(2026-10-25T00:30:00)',
      timeZone: 'UTC',
    });
  });
});

class RecordingScheduler implements RolloutScheduler {
  readonly created: ScheduleRolloutRequest[] = [];
  async create(request: ScheduleRolloutRequest) {
    this.created.push(request);
    const schedule: ScheduledRollout = {
      name: scheduleName(request.target, request.version, request.at),
      target: request.target,
      version: request.version,
      requestedBy: request.requestedBy,
      at: request.at.toISOString(),
      timeZone: request.timeZone ?? 'UTC',
      state: 'scheduled',
    };
    return { schedule, created: true };
  }
  async list() {
    return [];
  }
  async cancel() {
    return false;
  }
}

describe('startOrQueue', () => {
  const windows = [{ kind: 'allow' as const, schedule: '0 9 * * 1-5', duration: '8h', timeZone: 'Europe/Berlin' }];
  const request = { target: 'podinfo', version: 'v2', requestedBy: 'U0ALICE' };

  it('starts at once inside a window', async () => {
    const scheduler = new RecordingScheduler();
    const result = await startOrQueue({ windows, now: new Date('2026-11-27T09:30Z'), request, scheduler, start: async () => 'podinfo-v2' });
    expect(result).toMatchObject({ queued: false, started: 'podinfo-v2' });
    expect(scheduler.created).toEqual([]);
  });

  it('queues outside a window: a one-off schedule at the next opening, announced with its time', async () => {
    const scheduler = new RecordingScheduler();
    let started = false;
    const result = await startOrQueue({
      windows,
      now: new Date('2026-11-28T10:00Z'),
      request,
      scheduler,
      timeZone: 'Europe/Berlin',
      start: async () => {
        started = true;
      },
    });
    expect(started).toBe(false);
    expect(result).toMatchObject({ queued: true, at: new Date('2026-11-30T08:00:00Z') });
    expect(scheduler.created).toEqual([{ ...request, at: new Date('2026-11-30T08:00:00Z'), timeZone: 'Europe/Berlin' }]);
  });
});
