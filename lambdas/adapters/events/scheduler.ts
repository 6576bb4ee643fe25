/**
 * One-off scheduled rollouts in AWS: EventBridge Scheduler `at()` schedules in one group, each
 * invoking the start handler once and then deleting itself (ActionAfterCompletion DELETE). The
 * request itself is built in core/schedule.ts; this file only talks to the service.
 */
import {
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  GetScheduleCommand,
  ListSchedulesCommand,
  ResourceNotFoundException,
  SchedulerClient,
} from '@aws-sdk/client-scheduler';
import type { GetScheduleCommandOutput } from '@aws-sdk/client-scheduler';
import { TransientError } from '../../core/errors.ts';
import { scheduleName, scheduleNamePrefix, scheduleRequest, scheduledStartSchema } from '../../core/schedule.ts';
import type { RolloutScheduler, ScheduleRolloutRequest, ScheduledRollout, SchedulerTargetConfig } from '../../core/schedule.ts';
import { wallToInstant } from '../../core/zoned-time.ts';

export type SchedulerClientLike = Pick<SchedulerClient, 'send'>;

const AT = /^at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\)$/;

/** The instant an `at(…)` expression fires in its zone (schedule.ts never writes an ambiguous one). */
export function instantOfExpression(expression: string, timeZone = 'UTC'): Date | null {
  const match = AT.exec(expression);
  if (!match) return null;
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number) as [number, number, number, number, number, number];
  return new Date(wallToInstant({ year, month, day, hour, minute, second }, timeZone));
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** Throttling and server faults are worth a retry by the caller; the rest are not. */
function failure(what: string, error: unknown): Error {
  const name = error instanceof Error ? error.name : '';
  const fault = (error as { $fault?: string } | null)?.$fault;
  if (name === 'ThrottlingException' || name === 'InternalServerException' || fault === 'server')
    return new TransientError(`${what} failed: ${describe(error)}`, { cause: error });
  return new Error(`${what} failed: ${describe(error)}`, { cause: error });
}

export class EventBridgeRolloutScheduler implements RolloutScheduler {
  readonly #client: SchedulerClientLike;
  readonly #config: SchedulerTargetConfig;

  constructor(config: SchedulerTargetConfig, client: SchedulerClientLike = new SchedulerClient({})) {
    this.#client = client;
    this.#config = config;
  }

  async create(request: ScheduleRolloutRequest): Promise<{ schedule: ScheduledRollout; created: boolean }> {
    const input = scheduleRequest(request, this.#config);
    try {
      await this.#client.send(new CreateScheduleCommand(input));
    } catch (error) {
      // The name hashes target, version and time: a schedule of that name is this very request.
      if (error instanceof ConflictException) {
        const existing = await this.#get(scheduleName(request.target, request.version, request.at));
        if (existing) return { schedule: existing, created: false };
      }
      throw failure(`Scheduler CreateSchedule ${input.Name} in group ${this.#config.groupName}`, error);
    }
    const scheduled = await this.#get(input.Name ?? '');
    if (!scheduled)
      throw new Error(`Scheduler schedule ${input.Name} in group ${this.#config.groupName} vanished right after it was created`);
    return { schedule: scheduled, created: true };
  }

  async list(target?: string): Promise<ScheduledRollout[]> {
    const names: string[] = [];
    let nextToken: string | undefined;
    do {
      let page;
      try {
        page = await this.#client.send(
          new ListSchedulesCommand({
            GroupName: this.#config.groupName,
            ...(target ? { NamePrefix: scheduleNamePrefix(target) } : {}),
            ...(nextToken ? { NextToken: nextToken } : {}),
          }),
        );
      } catch (error) {
        throw failure(`Scheduler ListSchedules in group ${this.#config.groupName}`, error);
      }
      for (const summary of page.Schedules ?? []) if (summary.Name) names.push(summary.Name);
      nextToken = page.NextToken;
    } while (nextToken);
    // A schedule may fire (and delete itself) between the list and the read: skip it.
    const schedules = (await Promise.all(names.map((name) => this.#get(name)))).filter((s): s is ScheduledRollout => s !== null);
    return schedules.filter((s) => !target || s.target === target).sort((a, b) => a.at.localeCompare(b.at));
  }

  async cancel(name: string): Promise<boolean> {
    try {
      await this.#client.send(new DeleteScheduleCommand({ Name: name, GroupName: this.#config.groupName }));
      return true;
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return false;
      throw failure(`Scheduler DeleteSchedule ${name} in group ${this.#config.groupName}`, error);
    }
  }

  async #get(name: string): Promise<ScheduledRollout | null> {
    let output: GetScheduleCommandOutput;
    try {
      output = await this.#client.send(new GetScheduleCommand({ Name: name, GroupName: this.#config.groupName }));
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return null;
      throw failure(`Scheduler GetSchedule ${name} in group ${this.#config.groupName}`, error);
    }
    return toScheduledRollout(name, output);
  }
}

/** A schedule Sluice did not write (no start input, not an `at()`) is not listed as a rollout. */
function toScheduledRollout(name: string, output: GetScheduleCommandOutput): ScheduledRollout | null {
  let input: unknown;
  try {
    input = JSON.parse(output.Target?.Input ?? '');
  } catch {
    return null;
  }
  const start = scheduledStartSchema.safeParse(input);
  const timeZone = output.ScheduleExpressionTimezone ?? 'UTC';
  const at = instantOfExpression(output.ScheduleExpression ?? '', timeZone);
  if (!start.success || !at) return null;
  return {
    name,
    target: start.data.target,
    version: start.data.version,
    requestedBy: start.data.requestedBy,
    at: at.toISOString(),
    timeZone,
    state: 'scheduled',
  };
}
