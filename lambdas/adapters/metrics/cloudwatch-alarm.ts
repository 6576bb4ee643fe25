/**
 * CloudWatch alarms as hard stops: a named alarm in state ALARM means roll back now, whatever
 * the other metrics say. `alarmsFiring()` is what the judge and the flow ask; as a
 * MetricProvider the value is the number of alarms firing (judged against max 0), so a spec
 * that lists alarms among its metrics also fails a look under the threshold judge.
 *
 * Alarms are named by name or by ARN (arn:aws:cloudwatch:<region>:<account>:alarm:<name>);
 * DescribeAlarms takes names, so ARNs are reduced to their name, and every ARN must be in one
 * region (the client's). An alarm that does not exist is an error, never "not firing": a typo
 * must not switch a hard stop off. INSUFFICIENT_DATA is not firing (CloudWatch's own meaning).
 */
import { DescribeAlarmsCommand, type CloudWatchClient, type DescribeAlarmsCommandInput } from '@aws-sdk/client-cloudwatch';
import type { MetricProvider } from '../../core/ports.ts';
import type { MetricValue } from '../../core/verdict.ts';

export type CloudWatchAlarmSend = Pick<CloudWatchClient, 'send'>;

/** DescribeAlarms takes at most 100 names per call. */
const NAMES_PER_CALL = 100;
const ARN = /^arn:aws[a-z-]*:cloudwatch:([a-z0-9-]+):(\d{12}):alarm:(.+)$/;

/** An alarm's name, from its name or its ARN. */
export function alarmName(nameOrArn: string): string {
  return ARN.exec(nameOrArn)?.[3] ?? nameOrArn;
}

/** The one region the ARNs among `alarms` name, or undefined when they are plain names. */
export function alarmsRegion(alarms: readonly string[]): string | undefined {
  const regions = new Set(alarms.map((a) => ARN.exec(a)?.[1]).filter((r): r is string => r !== undefined));
  if (regions.size > 1)
    throw new Error(
      `alarms name ARNs in several regions (${[...regions].join(', ')}): one metric reads one region; split them into one metric per region`,
    );
  return [...regions][0];
}

export class CloudWatchAlarmProvider implements MetricProvider {
  readonly alarms: string[];
  readonly #client: CloudWatchAlarmSend;
  readonly #composite: boolean;

  /**
   * `composite: false` asks for metric alarms only: the deployed grant names the alarms' ARNs, and
   * CloudWatch answers composite alarms only to a caller allowed DescribeAlarms on "*" (the stack
   * says which through SLUICE_COMPOSITE_ALARMS). Default true (locally, credentials decide).
   */
  constructor(options: { client: CloudWatchAlarmSend; alarms: readonly string[]; composite?: boolean }) {
    if (options.alarms.length === 0) throw new Error('a cloudwatch-alarm metric needs at least one alarm');
    alarmsRegion(options.alarms);
    this.#client = options.client;
    this.#composite = options.composite ?? true;
    this.alarms = [...new Set(options.alarms.map(alarmName))];
  }

  /** Every named alarm exists and can be read. */
  async isOnline(): Promise<void> {
    await this.#states();
  }

  /** The names of the alarms in state ALARM, in the order they were named. */
  async alarmsFiring(): Promise<string[]> {
    const states = await this.#states();
    return this.alarms.filter((name) => states.get(name) === 'ALARM');
  }

  /** The number of alarms firing; the alarms are the query, so `query` is only evidence. */
  async runQuery(_query?: string): Promise<MetricValue> {
    return (await this.alarmsFiring()).length;
  }

  async #states(): Promise<Map<string, string>> {
    const states = new Map<string, string>();
    for (let i = 0; i < this.alarms.length; i += NAMES_PER_CALL) {
      const names = this.alarms.slice(i, i + NAMES_PER_CALL);
      let nextToken: string | undefined;
      do {
        const input: DescribeAlarmsCommandInput = {
          AlarmNames: names,
          AlarmTypes: this.#composite ? ['MetricAlarm', 'CompositeAlarm'] : ['MetricAlarm'],
        };
        if (nextToken) input.NextToken = nextToken;
        let output;
        try {
          output = await this.#client.send(new DescribeAlarmsCommand(input));
        } catch (error) {
          throw new Error(`CloudWatch DescribeAlarms for ${names.join(', ')} failed: ${(error as Error).message}`, { cause: error });
        }
        for (const alarm of [...(output.MetricAlarms ?? []), ...(output.CompositeAlarms ?? [])]) {
          if (alarm.AlarmName) states.set(alarm.AlarmName, alarm.StateValue ?? 'INSUFFICIENT_DATA');
        }
        nextToken = output.NextToken;
      } while (nextToken);
    }
    const missing = this.alarms.filter((name) => !states.has(name));
    if (missing.length)
      throw new Error(`CloudWatch has no alarm named ${missing.map((m) => `"${m}"`).join(', ')} (in the client's region and account)`);
    return states;
  }
}
