/**
 * One-off scheduled rollouts: schedule names, the exact EventBridge Scheduler
 * request, the scheduler seam both engines implement, and "start now or queue until the window
 * opens". A schedule fires the one start handler (so windows, lock and access are checked again
 * when it fires), with the schedule's name as the idempotency key.
 *
 * Pure apart from hashing (node:crypto, synchronous, as in names.ts); `startOrQueue` only calls the
 * seams it is given.
 */
import { createHash } from 'node:crypto';
import type { CreateScheduleCommandInput } from '@aws-sdk/client-scheduler';
import * as z from 'zod';
import type { ChangeWindow } from './windows.ts';
import { planStart } from './windows.ts';
import { formatWallIso, instantToWall, resolveWall } from './zoned-time.ts';

/** EventBridge Scheduler: names are 1-64 of [0-9a-zA-Z-_.]. */
export const SCHEDULE_NAME_MAX = 64;
const HASH_LENGTH = 8;
/** Room for the target part of a name; longer targets are cut and hashed so the prefix stays unique. */
const TARGET_PART_MAX = 32;

const hash = (...parts: string[]) => createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, HASH_LENGTH);

/** Targets are DNS labels (no `_`), so `_` separates the parts and a target's prefix matches only its own schedules. */
function targetPart(target: string): string {
  if (target === '') throw new Error('a schedule needs a target name');
  const clean = target.replace(/[^A-Za-z0-9.-]/g, '-');
  if (clean.length <= TARGET_PART_MAX && clean === target) return clean;
  return `${clean.slice(0, TARGET_PART_MAX - HASH_LENGTH - 1)}-${hash(target)}`;
}

/** `ListSchedules` NamePrefix of a target's schedules. */
export function scheduleNamePrefix(target: string): string {
  return `${targetPart(target)}_`;
}

/**
 * `podinfo_v1.2.3_1a2b3c4d`: target, version (cut to fit) and a hash of target, version and time,
 * so the same request twice names the same schedule and two times never collide.
 */
export function scheduleName(target: string, version: string, at: Date): string {
  if (version === '') throw new Error(`a schedule of ${target} needs a version`);
  const prefix = scheduleNamePrefix(target);
  const suffix = `_${hash(target, version, at.toISOString())}`;
  const room = SCHEDULE_NAME_MAX - prefix.length - suffix.length;
  return `${prefix}${version.replace(/[^A-Za-z0-9.-]/g, '-').slice(0, room)}${suffix}`;
}

/** What a schedule hands the start handler when it fires (the Lambda's event). */
export const scheduledStartSchema = z.object({
  target: z.string().min(1),
  version: z.string().min(1).max(128),
  requestedBy: z.string().min(1).max(256),
  /** The schedule's name: the idempotency ledger's key, so a retried delivery starts nothing twice. */
  idempotencyKey: z.string().min(1).max(SCHEDULE_NAME_MAX),
});
export type ScheduledStart = z.infer<typeof scheduledStartSchema>;

export interface ScheduleRolloutRequest {
  target: string;
  version: string;
  requestedBy: string;
  at: Date;
  /** The zone the schedule is shown in (ScheduleExpressionTimezone). Default UTC. */
  timeZone?: string;
}

/** A pending one-off rollout, as `sluice schedule list` shows it. */
export interface ScheduledRollout {
  name: string;
  target: string;
  version: string;
  requestedBy: string;
  /** The instant it fires (ISO, UTC). */
  at: string;
  timeZone: string;
  /** `failed`: it fired and the start path kept failing (locally; in AWS the message is in the DLQ). */
  state: 'scheduled' | 'failed';
  lastError?: string;
}

/** The seam both engines implement: EventBridge Scheduler in AWS, timers in the local engine. */
export interface RolloutScheduler {
  /** Creates the schedule; the same request again returns the existing one with `created: false`. */
  create(request: ScheduleRolloutRequest): Promise<{ schedule: ScheduledRollout; created: boolean }>;
  /** Pending schedules, of one target or all, soonest first. */
  list(target?: string): Promise<ScheduledRollout[]>;
  /** Deletes a pending schedule; false when there is none of that name. */
  cancel(name: string): Promise<boolean>;
}

/** Where a scheduled start goes in AWS (the CDK construct supplies these). */
export interface SchedulerTargetConfig {
  /** The schedule group that holds one-off rollouts. */
  groupName: string;
  /** The start handler Lambda. */
  startFunctionArn: string;
  /** The role Scheduler assumes to invoke it (lambda:InvokeFunction on the start handler, sqs:SendMessage on the DLQ). */
  roleArn: string;
  /** SQS queue for deliveries that exhausted their retries. */
  deadLetterArn: string;
  maximumEventAgeInSeconds?: number;
  maximumRetryAttempts?: number;
}

/**
 * `at(2026-05-04T09:00:00)` in the given zone. The second is rounded up (a start never fires before
 * its time); a wall time the zone repeats is written in UTC instead, so Scheduler cannot pick the
 * other one.
 */
export function scheduleExpression(at: Date, timeZone = 'UTC'): { expression: string; timeZone: string } {
  const instant = Math.ceil(at.getTime() / 1000) * 1000;
  const wall = instantToWall(instant, timeZone);
  if (resolveWall(wall, timeZone).kind === 'unique') return { expression: `at(${formatWallIso(wall)})`, timeZone };
  return { expression: `at(${formatWallIso(instantToWall(instant, 'UTC'))})`, timeZone: 'UTC' };
}

/** The exact CreateSchedule input of a one-off rollout. */
export function scheduleRequest(request: ScheduleRolloutRequest, config: SchedulerTargetConfig): CreateScheduleCommandInput {
  const name = scheduleName(request.target, request.version, request.at);
  const { expression, timeZone } = scheduleExpression(request.at, request.timeZone);
  const input: ScheduledStart = {
    target: request.target,
    version: request.version,
    requestedBy: request.requestedBy,
    idempotencyKey: name,
  };
  return {
    Name: name,
    GroupName: config.groupName,
    ScheduleExpression: expression,
    ScheduleExpressionTimezone: timeZone,
    FlexibleTimeWindow: { Mode: 'OFF' },
    ActionAfterCompletion: 'DELETE',
    State: 'ENABLED',
    Description: `sluice: start ${request.target} ${request.version} for ${request.requestedBy}`.slice(0, 512),
    // The same request retried by the SDK creates one schedule.
    ClientToken: name,
    Target: {
      Arn: config.startFunctionArn,
      RoleArn: config.roleArn,
      Input: JSON.stringify(input),
      RetryPolicy: {
        MaximumEventAgeInSeconds: config.maximumEventAgeInSeconds ?? 3600,
        MaximumRetryAttempts: config.maximumRetryAttempts ?? 10,
      },
      DeadLetterConfig: { Arn: config.deadLetterArn },
    },
  };
}

export type StartOrQueue<T> =
  | { queued: false; started: T; reason: string }
  | { queued: true; at: Date; schedule: ScheduledRollout; reason: string }
  | { queued: false; refused: string };

/**
 * A start request against the change windows: inside one it starts now; outside, a one-off
 * schedule at the next opening is created (announced with its time) rather than the request
 * dropped; with no opening ahead it is refused.
 */
export async function startOrQueue<T>(args: {
  windows: readonly ChangeWindow[] | undefined;
  now: Date;
  request: { target: string; version: string; requestedBy: string };
  scheduler: RolloutScheduler;
  start: () => Promise<T>;
  timeZone?: string;
}): Promise<StartOrQueue<T>> {
  const plan = planStart(args.windows, args.now);
  switch (plan.action) {
    case 'start':
      return { queued: false, started: await args.start(), reason: plan.reason };
    case 'queue': {
      const { schedule } = await args.scheduler.create({
        ...args.request,
        at: plan.queueUntil,
        ...(args.timeZone ? { timeZone: args.timeZone } : {}),
      });
      return { queued: true, at: plan.queueUntil, schedule, reason: plan.reason };
    }
    case 'refuse':
      return { queued: false, refused: plan.reason };
    default: {
      const never: never = plan;
      throw new Error(`unknown start plan ${JSON.stringify(never)}`);
    }
  }
}
