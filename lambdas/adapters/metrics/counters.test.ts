/**
 * The counter reader on CloudWatch counts, with CloudWatchClient stubbed at the SDK boundary
 * (aws-sdk-client-mock) and the clock pinned: the watermark, the refusals, the exact requests.
 */
import { CloudWatchClient, GetMetricDataCommand, ListMetricsCommand } from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { RefusedError } from '../../core/errors.ts';
import { parseSpec } from '../../core/spec.ts';
import { CloudWatchProvider } from './cloudwatch.ts';
import { readCounterSnapshot } from './counters.ts';

const cw = mockClient(CloudWatchClient);
let now = new Date('2026-12-07T10:00:30Z');
const provider = new CloudWatchProvider({
  client: new CloudWatchClient({ region: 'eu-west-1' }),
  periodSeconds: 60,
  delaySeconds: 180,
  now: () => now,
});

const count = (metricName: string, version: string) => ({ namespace: 'Shop', metricName, dimensions: { version } });
const spec = parseSpec({
  apiVersion: 'sluice.dev/v1',
  kind: 'Rollout',
  metadata: { name: 'shop' },
  spec: {
    cluster: { kubeconfigContext: 'kind' },
    router: {
      name: 'shop',
      namespace: 'gloo-system',
      primary: { upstream: { name: 'shop-primary', namespace: 'gloo-system' } },
      canary: { upstream: { name: 'shop-canary', namespace: 'gloo-system' } },
    },
    strategy: { stepWeights: [10, 50], interval: '10m', lookInterval: '1m' },
    analysis: {
      metrics: [
        {
          name: 'errors',
          provider: { type: 'cloudwatch', period: '1m', delay: '3m' },
          counters: {
            canary: { events: count('Errors', '{{canary}}'), trials: count('Requests', '{{canary}}') },
            primary: { events: count('Errors', '{{primary}}'), trials: count('Requests', '{{primary}}') },
          },
        },
      ],
    },
  },
});

const read = (options: Parameters<typeof readCounterSnapshot>[2]) => readCounterSnapshot(spec, [], options, now, () => provider);

/** One datapoint per asked query id, at each of the given period starts. */
function answer(values: Record<string, number>, periods: string[]) {
  return {
    MetricDataResults: Object.entries(values).map(([Id, value]) => ({
      Id,
      StatusCode: 'Complete' as const,
      Timestamps: periods.map((p) => new Date(p)),
      Values: periods.map(() => value),
    })),
  };
}

beforeEach(() => {
  cw.reset();
  now = new Date('2026-12-07T10:00:30Z');
  cw.on(ListMetricsCommand).resolves({ Metrics: [{ MetricName: 'Requests' }] });
});

describe('CloudWatch counts as cumulative counters with a watermark', () => {
  it('starts at the newest closed period, then adds only periods closed since, each read once', async () => {
    // Prepare: Prepare at 10:00:30 (closed up to 09:57); a look at 10:02:10 (closed up to 09:59).
    cw.on(GetMetricDataCommand)
      .resolvesOnce(answer({ canary_trials: 0, canary_events: 0, primary_trials: 600, primary_events: 3 }, ['2026-12-07T09:56:00Z']))
      .resolvesOnce(
        answer({ canary_trials: 60, canary_events: 6, primary_trials: 540, primary_events: 2 }, [
          '2026-12-07T09:57:00Z',
          '2026-12-07T09:58:00Z',
        ]),
      );

    // Act
    const first = await read({ historySeconds: 300 });
    now = new Date('2026-12-07T10:02:10Z');
    const second = await read({ baseline: first });
    const third = await read({ baseline: second });

    // Assess
    const calls = cw.commandCalls(GetMetricDataCommand).map((c) => c.args[0].input);
    expect(calls.map((c) => [c.StartTime?.toISOString(), c.EndTime?.toISOString()])).toEqual([
      ['2026-12-07T09:52:00.000Z', '2026-12-07T09:57:00.000Z'],
      ['2026-12-07T09:57:00.000Z', '2026-12-07T09:59:00.000Z'],
    ]);
    expect(calls[0]?.MetricDataQueries?.[0]).toEqual({
      Id: 'canary_events',
      ReturnData: true,
      MetricStat: {
        Metric: { Namespace: 'Shop', MetricName: 'Errors', Dimensions: [{ Name: 'version', Value: 'shop-canary' }] },
        Period: 60,
        Stat: 'Sum',
      },
    });
    const labels = { job: 'cloudwatch', instance: 'errors' };
    expect(first.canary.counters?.errors).toEqual({
      events: [{ labels, value: 0, timestamp: Date.parse('2026-12-07T09:57:00Z') }],
      trials: [{ labels, value: 0, timestamp: Date.parse('2026-12-07T09:57:00Z') }],
    });
    expect(first.history).toMatchObject({ scrapeIntervalSeconds: 60, primaryRps: 2, interval: { kind: 'period', delaySeconds: 180 } });
    expect(second.canary.counters?.errors?.trials).toEqual([{ labels, value: 120, timestamp: Date.parse('2026-12-07T09:59:00Z') }]);
    expect(second.primary.counters?.errors?.events).toEqual([{ labels, value: 4, timestamp: Date.parse('2026-12-07T09:59:00Z') }]);
    // Nothing closed since: the same values and watermark ("no new scrape"), and no request.
    expect(third.canary.counters).toEqual(second.canary.counters);
    expect(calls).toHaveLength(2);
  });

  it('refuses at Prepare when an arm has no trials metric, naming the field', async () => {
    cw.on(ListMetricsCommand, { Dimensions: [{ Name: 'version', Value: 'shop-canary' }] }).resolves({ Metrics: [] });
    cw.on(GetMetricDataCommand).resolves({ MetricDataResults: [] });

    const refusal = read({ historySeconds: 300 });

    await expect(refusal).rejects.toBeInstanceOf(RefusedError);
    await expect(refusal).rejects.toThrow(
      /spec\.analysis\.metrics\[0\]\.counters\.canary\.trials: CloudWatch has no metric Shop\/Requests with dimensions \{"version":"shop-canary"\}/,
    );
  });

  it('refuses a Sum that is not a whole count, naming the field', async () => {
    cw.on(GetMetricDataCommand).resolves(answer({ canary_trials: 10.5 }, ['2026-12-07T09:56:00Z']));

    await expect(read({ historySeconds: 300 })).rejects.toThrow(
      /counters\.canary\.trials: CloudWatch Sum of Requests at 2026-12-07T09:56:00.000Z is 10.5, not a whole count/,
    );
  });
});
