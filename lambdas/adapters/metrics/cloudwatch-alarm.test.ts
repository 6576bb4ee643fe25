import { CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { alarmsRegion, CloudWatchAlarmProvider } from './cloudwatch-alarm.ts';

const cw = mockClient(CloudWatchClient);
const client = new CloudWatchClient({ region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
const ARN = 'arn:aws:cloudwatch:us-east-1:123456789012:alarm:podinfo-5xx';

beforeEach(() => cw.reset());

describe('CloudWatchAlarmProvider', () => {
  it('asks DescribeAlarms for exactly the named alarms (ARNs by name) and reports those in ALARM', async () => {
    // Prepare
    cw.on(DescribeAlarmsCommand).resolves({
      MetricAlarms: [
        { AlarmName: 'podinfo-5xx', StateValue: 'ALARM' },
        { AlarmName: 'podinfo-latency', StateValue: 'INSUFFICIENT_DATA' },
      ],
      CompositeAlarms: [{ AlarmName: 'podinfo-health', StateValue: 'OK' }],
    });
    const provider = new CloudWatchAlarmProvider({ client, alarms: [ARN, 'podinfo-latency', 'podinfo-health'] });

    // Act
    const firing = await provider.alarmsFiring();
    const value = await provider.runQuery();

    // Assess
    expect(firing).toEqual(['podinfo-5xx']);
    expect(value).toBe(1);
    expect(cw.commandCalls(DescribeAlarmsCommand)[0]?.args[0].input).toEqual({
      AlarmNames: ['podinfo-5xx', 'podinfo-latency', 'podinfo-health'],
      AlarmTypes: ['MetricAlarm', 'CompositeAlarm'],
    });
  });

  it('reads nothing firing when every alarm is OK, following NextToken', async () => {
    cw.on(DescribeAlarmsCommand)
      .resolvesOnce({ MetricAlarms: [{ AlarmName: 'a', StateValue: 'OK' }], NextToken: 'n1' })
      .resolvesOnce({ MetricAlarms: [{ AlarmName: 'b', StateValue: 'OK' }] });
    const provider = new CloudWatchAlarmProvider({ client, alarms: ['a', 'b'] });

    expect(await provider.alarmsFiring()).toEqual([]);
    expect(cw.commandCalls(DescribeAlarmsCommand).map((c) => c.args[0].input)).toEqual([
      { AlarmNames: ['a', 'b'], AlarmTypes: ['MetricAlarm', 'CompositeAlarm'] },
      { AlarmNames: ['a', 'b'], AlarmTypes: ['MetricAlarm', 'CompositeAlarm'], NextToken: 'n1' },
    ]);
  });

  it('asks for metric alarms only when composites are not configured (the deployed grant names metric alarms)', async () => {
    cw.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [{ AlarmName: 'a', StateValue: 'ALARM' }] });
    const provider = new CloudWatchAlarmProvider({ client, alarms: ['a'], composite: false });

    expect(await provider.alarmsFiring()).toEqual(['a']);
    expect(cw.commandCalls(DescribeAlarmsCommand).map((c) => c.args[0].input)).toEqual([
      { AlarmNames: ['a'], AlarmTypes: ['MetricAlarm'] },
    ]);
  });

  it('refuses an alarm that does not exist instead of reading it as quiet', async () => {
    cw.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [{ AlarmName: 'a', StateValue: 'OK' }] });
    const provider = new CloudWatchAlarmProvider({ client, alarms: ['a', 'typo-alarm'] });

    await expect(provider.isOnline()).rejects.toThrow('CloudWatch has no alarm named "typo-alarm"');
    await expect(provider.alarmsFiring()).rejects.toThrow('"typo-alarm"');
  });

  it('asks in batches of 100 names', async () => {
    cw.on(DescribeAlarmsCommand).callsFake((input: { AlarmNames: string[] }) => ({
      MetricAlarms: input.AlarmNames.map((n) => ({ AlarmName: n, StateValue: n === 'a150' ? 'ALARM' : 'OK' })),
    }));
    const names = Array.from({ length: 150 }, (_, i) => `a${i + 1}`);

    expect(await new CloudWatchAlarmProvider({ client, alarms: names }).alarmsFiring()).toEqual(['a150']);
    expect(cw.commandCalls(DescribeAlarmsCommand).map((c) => c.args[0].input.AlarmNames?.length)).toEqual([100, 50]);
  });

  it('refuses ARNs from several regions and an empty list', () => {
    expect(alarmsRegion([ARN, 'plain'])).toBe('us-east-1');
    expect(() => alarmsRegion([ARN, 'arn:aws:cloudwatch:eu-west-1:123456789012:alarm:x'])).toThrow(
      'several regions (us-east-1, eu-west-1)',
    );
    expect(() => new CloudWatchAlarmProvider({ client, alarms: [] })).toThrow('at least one alarm');
  });
});
