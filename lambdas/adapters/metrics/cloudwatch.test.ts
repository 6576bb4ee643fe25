import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { closedWindow, CloudWatchProvider, type CloudWatchArmMetrics } from './cloudwatch.ts';

const cw = mockClient(CloudWatchClient);
const client = new CloudWatchClient({ region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
// 10:07:30 now, 3 minutes delay: the last closed 1-minute period is 10:03–10:04.
const NOW = new Date('2026-03-01T10:07:30.000Z');
const at = (hhmm: string) => new Date(`2026-03-01T${hhmm}:00.000Z`);

beforeEach(() => cw.reset());

const LATENCY_QUERY = [
  {
    Id: 'p99',
    MetricStat: {
      Metric: {
        Namespace: 'AWS/ApplicationELB',
        MetricName: 'TargetResponseTime',
        Dimensions: [{ Name: 'TargetGroup', Value: 'targetgroup/podinfo-canary/abc' }],
      },
      Stat: 'p99',
    },
    ReturnData: false,
  },
  { Id: 'ms', Expression: 'p99 * 1000', Label: 'p99 ms' },
];

describe('closedWindow', () => {
  it('ends on the last period boundary at least the delay ago, and starts at the watermark', () => {
    expect(closedWindow(NOW, 60, 180, null)).toEqual({ start: at('10:03'), end: at('10:04') });
    expect(closedWindow(NOW, 60, 180, at('10:01').toISOString())).toEqual({ start: at('10:01'), end: at('10:04') });
    expect(closedWindow(NOW, 60, 180, at('10:04').toISOString())).toBeNull(); // nothing new closed
    expect(() => closedWindow(NOW, 60, 180, '2026-03-01T10:01:30.000Z')).toThrow('is not on a 60s period boundary');
  });
});

describe('CloudWatchProvider.runQuery', () => {
  it('sends the metric-math queries for the last closed period only, with the period filled in, and returns the one returned series', async () => {
    // Prepare
    cw.on(GetMetricDataCommand).resolves({
      MetricDataResults: [{ Id: 'ms', Timestamps: [at('10:03')], Values: [412.5], StatusCode: 'Complete' }],
    });
    const provider = new CloudWatchProvider({ client, now: () => NOW });

    // Act
    const value = await provider.runQuery(JSON.stringify(LATENCY_QUERY));

    // Assess
    expect(value).toBe(412.5);
    expect(cw.commandCalls(GetMetricDataCommand).map((c) => c.args[0].input)).toEqual([
      {
        MetricDataQueries: [{ ...LATENCY_QUERY[0], MetricStat: { ...LATENCY_QUERY[0]!.MetricStat, Period: 60 } }, LATENCY_QUERY[1]],
        StartTime: at('10:03'),
        EndTime: at('10:04'),
        ScanBy: 'TimestampAscending',
      },
    ]);
  });

  it('reads no data for a closed period without a data point, follows NextToken, and refuses ambiguous queries', async () => {
    cw.on(GetMetricDataCommand)
      .resolvesOnce({ MetricDataResults: [{ Id: 'ms', Timestamps: [], Values: [], StatusCode: 'PartialData' }], NextToken: 'more' })
      .resolvesOnce({ MetricDataResults: [{ Id: 'ms', Timestamps: [], Values: [], StatusCode: 'Complete' }] });
    const provider = new CloudWatchProvider({ client, now: () => NOW });

    expect(await provider.runQuery(JSON.stringify(LATENCY_QUERY))).toBeNull();
    expect(cw.commandCalls(GetMetricDataCommand).map((c) => c.args[0].input.NextToken)).toEqual([undefined, 'more']);
    await expect(provider.runQuery(JSON.stringify([{ ...LATENCY_QUERY[0], ReturnData: true }, LATENCY_QUERY[1]]))).rejects.toThrow(
      'returns 2 series, expected one',
    );
    await expect(provider.runQuery('p99 of my alb')).rejects.toThrow('CloudWatch query is not JSON');
  });

  it('names the query CloudWatch refused', async () => {
    cw.on(GetMetricDataCommand).resolves({
      MetricDataResults: [{ Id: 'ms', StatusCode: 'Forbidden', Messages: [{ Code: 'AccessDenied', Value: 'no cross-account access' }] }],
    });
    const provider = new CloudWatchProvider({ client, now: () => NOW });

    await expect(provider.runQuery(JSON.stringify(LATENCY_QUERY))).rejects.toThrow(
      'CloudWatch query ms answered Forbidden: AccessDenied no cross-account access',
    );
  });
});

describe('CloudWatchProvider.isOnline', () => {
  it('takes the ValidationError of an empty request as online, and anything else as offline', async () => {
    const provider = new CloudWatchProvider({ client, now: () => NOW });
    cw.on(GetMetricDataCommand).rejectsOnce(Object.assign(new Error('MetricDataQueries must not be empty'), { name: 'ValidationError' }));
    await expect(provider.isOnline()).resolves.toBeUndefined();
    expect(cw.commandCalls(GetMetricDataCommand)[0]?.args[0].input).toEqual({
      MetricDataQueries: [],
      StartTime: new Date(NOW.getTime() - 60_000),
      EndTime: NOW,
    });

    cw.reset();
    cw.on(GetMetricDataCommand).rejects(
      Object.assign(new Error('not authorized to perform cloudwatch:GetMetricData'), { name: 'AccessDenied' }),
    );
    await expect(provider.isOnline()).rejects.toThrow('CloudWatch is not reachable with these credentials: not authorized');
  });
});

describe('CloudWatchProvider.readCounts', () => {
  const tg = (name: string): CloudWatchArmMetrics => ({
    latency: {
      namespace: 'AWS/ApplicationELB',
      metricName: 'TargetResponseTime',
      dimensions: { TargetGroup: `targetgroup/${name}/1`, LoadBalancer: 'app/web/2' },
      unit: 's',
    },
    errors: [
      {
        namespace: 'AWS/ApplicationELB',
        metricName: 'HTTPCode_Target_5XX_Count',
        dimensions: { TargetGroup: `targetgroup/${name}/1`, LoadBalancer: 'app/web/2' },
      },
    ],
  });
  const stat = (name: string, metric: string, statistic: string) => ({
    Metric: {
      Namespace: 'AWS/ApplicationELB',
      MetricName: metric,
      Dimensions: [
        { Name: 'TargetGroup', Value: `targetgroup/${name}/1` },
        { Name: 'LoadBalancer', Value: 'app/web/2' },
      ],
    },
    Period: 60,
    Stat: statistic,
  });

  it('counts requests from SampleCount, errors from Sum and slow requests from PR(:t), each closed period once', async () => {
    // Prepare: two periods closed since the watermark; the canary had 4% of its requests over 500 ms in one.
    cw.on(GetMetricDataCommand).resolves({
      MetricDataResults: [
        { Id: 'canary_requests', Timestamps: [at('10:02'), at('10:03')], Values: [100, 50], StatusCode: 'Complete' },
        { Id: 'canary_errors_0', Timestamps: [at('10:03')], Values: [3], StatusCode: 'Complete' },
        { Id: 'canary_pr_500', Timestamps: [at('10:02'), at('10:03')], Values: [96, 100], StatusCode: 'Complete' },
        { Id: 'primary_requests', Timestamps: [at('10:02'), at('10:03')], Values: [900, 950], StatusCode: 'Complete' },
        { Id: 'primary_errors_0', Timestamps: [], Values: [], StatusCode: 'Complete' },
        { Id: 'primary_pr_500', Timestamps: [at('10:02')], Values: [99.9], StatusCode: 'Complete' },
      ],
    });
    const provider = new CloudWatchProvider({ client, now: () => NOW });

    // Act
    const first = await provider.readCounts(
      { canary: tg('podinfo-canary'), primary: tg('podinfo-primary') },
      [500],
      at('10:02').toISOString(),
    );
    const again = await provider.readCounts({ canary: tg('podinfo-canary'), primary: tg('podinfo-primary') }, [500], first.watermark);

    // Assess
    expect(first.counts).toEqual({
      canary: { requests: 150, errors: 3, slow: { '500': 4 } },
      primary: { requests: 1850, errors: 0, slow: { '500': 1 } },
      resets: 0,
      gaps: ['primary.slow[500]@2026-03-01T10:03:00.000Z'], // 950 requests without a percentile rank: not read as fast
    });
    expect(first.watermark).toBe(at('10:04').toISOString());
    expect(again).toEqual({ counts: null, window: null, watermark: first.watermark });
    expect(cw.commandCalls(GetMetricDataCommand).map((c) => c.args[0].input)).toEqual([
      {
        MetricDataQueries: [
          { Id: 'canary_requests', MetricStat: stat('podinfo-canary', 'TargetResponseTime', 'SampleCount'), ReturnData: true },
          { Id: 'canary_errors_0', MetricStat: stat('podinfo-canary', 'HTTPCode_Target_5XX_Count', 'Sum'), ReturnData: true },
          { Id: 'canary_pr_500', MetricStat: stat('podinfo-canary', 'TargetResponseTime', 'PR(:0.5)'), ReturnData: true },
          { Id: 'primary_requests', MetricStat: stat('podinfo-primary', 'TargetResponseTime', 'SampleCount'), ReturnData: true },
          { Id: 'primary_errors_0', MetricStat: stat('podinfo-primary', 'HTTPCode_Target_5XX_Count', 'Sum'), ReturnData: true },
          { Id: 'primary_pr_500', MetricStat: stat('podinfo-primary', 'TargetResponseTime', 'PR(:0.5)'), ReturnData: true },
        ],
        StartTime: at('10:02'),
        EndTime: at('10:04'),
        ScanBy: 'TimestampAscending',
      },
    ]);
  });
});
