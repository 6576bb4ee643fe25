/**
 * Alarms interrupt the bake: a CloudWatch "Alarm State Change" to ALARM for an alarm a target's
 * spec names fails that target's pending bake token (rollback within seconds, not at the next
 * look). The EventBridge rule is per target (the construct knows which alarms each target names)
 * and wraps the event as `{ target, event }`.
 */
import * as z from 'zod';
import type { SFNClient } from '@aws-sdk/client-sfn';
import { alarmRollout } from '../adapters/control/interrupt.ts';
import type { InterruptResult } from '../adapters/control/interrupt.ts';
import { awsAlarmDeps } from '../wiring/aws-alarm.ts';
import type { DepsSource, StoreDeps } from '../app/deps.ts';
import { rolloutHandler } from '../app/middleware.ts';
import type { AbortFlags, TargetLocks, TaskTokens } from '../core/ports.ts';

/** The store ports this step uses (core/ports.ts). */
type AlarmStore = TargetLocks & TaskTokens & AbortFlags;

/** The fields of "CloudWatch Alarm State Change" the path reads. */
export const alarmStateChangeSchema = z.object({
  'detail-type': z.literal('CloudWatch Alarm State Change'),
  resources: z.array(z.string()).default([]),
  detail: z.object({
    alarmName: z.string(),
    state: z.object({ value: z.string(), reason: z.string().default('') }),
  }),
});

export const alarmInputSchema = z.object({ target: z.string().min(1), event: alarmStateChangeSchema });
export type AlarmInput = z.infer<typeof alarmInputSchema>;

export async function onAlarm(
  deps: StoreDeps<AlarmStore> & { sfn: Pick<SFNClient, 'send'> },
  input: AlarmInput,
): Promise<InterruptResult | { ok: false; message: string }> {
  const { detail } = input.event;
  if (detail.state.value !== 'ALARM') return { ok: false, message: `alarm ${detail.alarmName} is ${detail.state.value}: nothing to do` };
  return alarmRollout({
    store: deps.store,
    sfn: deps.sfn,
    target: input.target,
    by: `alarm ${detail.alarmName}`,
    reason: detail.state.reason || 'went to ALARM',
    now: deps.now(),
  });
}

export function createAlarmHandler(deps: DepsSource<StoreDeps<AlarmStore> & { sfn: Pick<SFNClient, 'send'> }>) {
  return rolloutHandler(alarmInputSchema, async (event) => onAlarm(await deps(), event));
}

/** The Lambda entry point. */
export const handler = createAlarmHandler(awsAlarmDeps);
