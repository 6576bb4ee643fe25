/** `sluice alarm <target> <alarm-name>`: deliver a CloudWatch alarm event through the alarm path, against the engine the control plane names. */
import type { ControlPlane } from '../control.ts';
import { EXIT } from '../exit-codes.ts';
import { onAlarm } from '../../lambdas/handlers/alarm.ts';
import type { AlarmInput } from '../../lambdas/handlers/alarm.ts';

/** What EventBridge delivers when an alarm goes to ALARM (the fields Sluice reads, as AWS documents them). */
export function alarmEvent(alarmName: string, reason: string, now = new Date()): AlarmInput['event'] {
  return {
    'detail-type': 'CloudWatch Alarm State Change',
    resources: [`arn:aws:cloudwatch:us-east-1:000000000000:alarm:${alarmName}`],
    detail: {
      alarmName,
      state: { value: 'ALARM', reason: reason || `Threshold Crossed (recorded by sluice alarm at ${now.toISOString()})` },
    },
  };
}

export async function alarmCommand(
  control: ControlPlane,
  target: string,
  alarmName: string,
  reason: string,
  io: { stdout: (t: string) => void; stderr: (t: string) => void },
): Promise<number> {
  const result = await onAlarm(
    { store: control.store, sfn: control.sfn, events: { publish: async () => {} }, now: () => new Date() },
    { target, event: alarmEvent(alarmName, reason) },
  );
  if (!result.ok) {
    io.stderr(`${result.message}\n`);
    return EXIT.invalid;
  }
  io.stdout(
    `alarm ${alarmName} delivered: ${result.interruptedBake ? 'the bake was interrupted, rolling back' : 'the next step rolls back'} (${result.execution})\n`,
  );
  return EXIT.ok;
}
