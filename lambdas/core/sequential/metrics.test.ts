import { describe, expect, it } from 'vitest';
import { validateSpec } from '../spec.ts';
import type { RolloutSpecInput } from '../spec.ts';
import { counterQueryProblem, sequentialPlan, sequentialWarnings } from './metrics.ts';

type Metrics = NonNullable<NonNullable<RolloutSpecInput['spec']['analysis']>['metrics']>;

function doc(metrics: Metrics, judge: 'sequential' | 'threshold' = 'sequential'): unknown {
  return {
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
      strategy: { stepWeights: [10, 50], interval: '1m', lookInterval: '15s' },
      analysis: { judge, prometheus: { address: 'http://prometheus:9090' }, metrics },
    },
  };
}

const orders = {
  canary: { events: 'orders_failed_total{app="{{canary}}"}', trials: 'orders_total{app="{{canary}}"}' },
  primary: { events: 'orders_failed_total{app="{{primary}}"}', trials: 'orders_total{app="{{primary}}"}' },
};

const count = (metricName: string, version: string) => ({ namespace: 'Shop', metricName, dimensions: { version } });
const cloudWatchCounts = {
  canary: { events: count('Errors', 'canary'), trials: count('Requests', 'canary') },
  primary: { events: count('Errors', 'primary'), trials: count('Requests', 'primary') },
};

const AMP = { type: 'amp' as const, workspaceUrl: 'https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1' };

function problemsOf(document: unknown): Array<{ path: string; message: string }> {
  const result = validateSpec(document);
  return result.ok ? [] : result.problems;
}

describe('validation of the sequential judge on every metrics source', () => {
  it.each([
    ['the built-in metrics on AMP', [{ name: 'request-success-rate', provider: AMP, thresholdRange: { min: 99 } }]],
    ['business counters on Prometheus', [{ name: 'orders-failed', counters: orders, thresholdRange: { max: 1 } }]],
    ['business counters on AMP', [{ name: 'orders-failed', provider: AMP, counters: orders }]],
    [
      'per-source sums',
      [
        {
          name: 'orders-failed',
          counters: {
            ...orders,
            primary: { events: 'sum by (job, instance) (orders_failed_total)', trials: 'sum(orders_total) by (instance, job, app)' },
          },
        },
      ],
    ],
    [
      'CloudWatch counts read as Sum',
      [{ name: 'errors', provider: { type: 'cloudwatch' as const, period: '1m', delay: '3m' }, counters: cloudWatchCounts }],
    ],
    [
      'CloudWatch SampleCount and an alarm beside',
      [
        {
          name: 'errors',
          provider: { type: 'cloudwatch' as const },
          counters: {
            ...cloudWatchCounts,
            canary: { ...cloudWatchCounts.canary, trials: { ...count('Latency', 'canary'), stat: 'SampleCount' } },
          },
        },
        { name: 'alarms', provider: { type: 'cloudwatch-alarm' as const }, alarms: ['shop-5xx'] },
      ],
    ],
  ])('accepts %s', (_what, metrics) => {
    // Prepare / Act
    const result = validateSpec(doc(metrics as Metrics));

    // Assess
    expect(result.ok ? [] : result.problems).toEqual([]);
  });

  it('plans a counter metric as events out of its own trials, and AMP built-ins as errors', () => {
    const result = validateSpec(
      doc([
        { name: 'request-success-rate', provider: AMP, thresholdRange: { min: 99 } },
        { name: 'orders-failed', counters: orders, thresholdRange: { max: 1 } },
      ]),
    );
    if (!result.ok) throw new Error(JSON.stringify(result.problems));

    const plan = sequentialPlan(result.spec);

    expect(plan.metrics.map((m) => m.kind)).toEqual(['errors', { counter: 'orders-failed' }]);
  });

  it.each([
    [
      'rate() of a business counter',
      [{ name: 'orders-failed', counters: { ...orders, canary: { ...orders.canary, events: 'rate(orders_failed_total[1m])' } } }],
      'spec.analysis.metrics[0].counters.canary.events',
      /uses rate\(\): the sequential judge needs the raw counter/,
    ],
    [
      'increase() of a business counter',
      [{ name: 'orders-failed', counters: { ...orders, primary: { ...orders.primary, trials: 'increase(orders_total[5m])' } } }],
      'spec.analysis.metrics[0].counters.primary.trials',
      /uses increase\(\)/,
    ],
    [
      'irate()',
      [{ name: 'orders-failed', counters: { ...orders, primary: { ...orders.primary, trials: 'irate(orders_total[5m])' } } }],
      'spec.analysis.metrics[0].counters.primary.trials',
      /uses irate\(\)/,
    ],
    [
      'a sum that drops job/instance',
      [{ name: 'orders-failed', counters: { ...orders, canary: { ...orders.canary, trials: 'sum(orders_total{app="shop"})' } } }],
      'spec.analysis.metrics[0].counters.canary.trials',
      /aggregates with sum\(\), which drops job\/instance/,
    ],
    [
      'a sum by app only',
      [{ name: 'orders-failed', counters: { ...orders, canary: { ...orders.canary, trials: 'sum by (app) (orders_total)' } } }],
      'spec.analysis.metrics[0].counters.canary.trials',
      /sum by \(app\), which drops job\/instance/,
    ],
    [
      'a CloudWatch percentile-rank count',
      [
        {
          name: 'slow',
          provider: { type: 'cloudwatch' as const },
          counters: {
            ...cloudWatchCounts,
            canary: { ...cloudWatchCounts.canary, events: { ...count('Latency', 'canary'), stat: 'PR(:0.5)' } },
          },
        },
      ],
      'spec.analysis.metrics[0].counters.canary.events.stat',
      /is PR\(:0.5\): .*percentile-derived counts .* are estimates/,
    ],
    [
      'a CloudWatch Average',
      [
        {
          name: 'errors',
          provider: { type: 'cloudwatch' as const },
          counters: {
            ...cloudWatchCounts,
            primary: { ...cloudWatchCounts.primary, trials: { ...count('Requests', 'primary'), stat: 'Average' } },
          },
        },
      ],
      'spec.analysis.metrics[0].counters.primary.trials.stat',
      /is Average: the sequential judge needs exact counts \(Sum or SampleCount/,
    ],
    [
      'PromQL for a CloudWatch metric',
      [{ name: 'errors', provider: { type: 'cloudwatch' as const }, counters: orders }],
      'spec.analysis.metrics[0].counters.canary.events',
      /expected a CloudWatch count metric/,
    ],
    [
      'a CloudWatch metric without counters',
      [{ name: 'errors', provider: { type: 'cloudwatch' as const }, metricDataQueries: [{ Id: 'e' }] }],
      'spec.analysis.metrics[0].counters',
      /map counters.canary and counters.primary/,
    ],
    [
      'a custom query that is not a counter',
      [{ name: 'p95', query: 'histogram_quantile(0.95, rate(x[1m]))', thresholdRange: { max: 1 } }],
      'spec.analysis.metrics[0].query',
      /is a custom query; name its raw counters instead/,
    ],
    [
      'counters on a web metric',
      [{ name: 'orders', provider: { type: 'web' as const, url: 'http://x/y', jsonPath: '$.v' }, counters: orders }],
      'spec.analysis.metrics[0].provider.type',
      /counters come from prometheus, amp or cloudwatch/,
    ],
    [
      'the built-ins on two sources',
      [
        { name: 'request-success-rate', provider: AMP },
        { name: 'request-duration', thresholdRange: { max: 500 } },
      ],
      'spec.analysis.metrics[1].provider',
      /read from one Prometheus or AMP workspace/,
    ],
  ])('refuses %s, naming the field', (_what, metrics, path, message) => {
    // Prepare / Act
    const problems = problemsOf(doc(metrics as Metrics));

    // Assess
    expect(problems).toContainEqual({ path, message: expect.stringMatching(message) });
  });

  it('refuses counters under the threshold judge: they have no single value to hold against a range', () => {
    const problems = problemsOf(doc([{ name: 'orders-failed', counters: orders }], 'threshold'));

    expect(problems).toContainEqual({ path: 'spec.analysis.metrics[0].counters', message: expect.stringMatching(/sequential judge only/) });
  });

  it('accepts raw selectors, offsets of nothing, and sums that keep job and instance', () => {
    expect(counterQueryProblem('orders_total{app="shop",code=~"5.."}')).toBeNull();
    expect(counterQueryProblem('sum without (pod) (orders_total)')).toBeNull();
    expect(counterQueryProblem('sum without (instance) (orders_total)')).toMatch(/drops job\/instance/);
    expect(counterQueryProblem('max by (job, instance) (orders_total)')).toMatch(/aggregates with max/);
  });
});

describe('sequentialWarnings on CloudWatch counts', () => {
  it('warns when a step is shorter than delay + period: no period of the step is read before it ends', () => {
    const result = validateSpec(
      doc([{ name: 'errors', provider: { type: 'cloudwatch', period: '1m', delay: '3m' }, counters: cloudWatchCounts }]),
    );
    if (!result.ok) throw new Error(JSON.stringify(result.problems));

    const warnings = sequentialWarnings(result.spec);

    expect(warnings).toEqual([
      {
        path: 'spec.strategy.interval',
        message: expect.stringMatching(/1m is shorter than spec.analysis.metrics\[0\]'s delay \+ period \(240s\)/),
      },
    ]);
  });
});

describe('counters beside a threshold query', () => {
  it('lets the threshold judge read the query of a metric that also names counters (PromQL or CloudWatch)', () => {
    const withQuery = { name: 'orders-failed', query: 'sum(rate(orders_failed_total[1m]))', thresholdRange: { max: 1 }, counters: orders };
    const withCloudWatch = {
      name: 'errors',
      provider: { type: 'cloudwatch' as const },
      metricDataQueries: [{ Id: 'e', ReturnData: true, Expression: 'SUM(METRICS())' }],
      thresholdRange: { max: 1 },
      counters: cloudWatchCounts,
    };

    expect(problemsOf(doc([withQuery, withCloudWatch] as Metrics, 'threshold'))).toEqual([]);
  });
});
