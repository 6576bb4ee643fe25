import { describe, expect, it } from 'vitest';
import type { MetricProvider } from '../../core/ports.ts';
import { parseSpec, rolloutSpecSchema, type MetricSpec, type RolloutSpec } from '../../core/spec.ts';
import { CloudWatchAlarmProvider } from './cloudwatch-alarm.ts';
import { CloudWatchProvider } from './cloudwatch.ts';
import { metricProviderFor, prometheusServerFor, providerQueries, readMetrics } from './factory.ts';
import { PrometheusProvider } from './prometheus.ts';
import { WebProvider } from './web.ts';

const base = {
  apiVersion: 'sluice.dev/v1',
  kind: 'Rollout',
  metadata: { name: 'podinfo' },
  spec: {
    cluster: { kubeconfigContext: 'test' },
    router: {
      name: 'podinfo',
      namespace: 'gloo-system',
      primary: { upstream: { name: 'p', namespace: 'gloo-system' } },
      canary: { upstream: { name: 'c', namespace: 'gloo-system' } },
    },
    strategy: { stepWeights: [10, 50] },
  },
};

function spec(analysis: object): RolloutSpec {
  return parseSpec({ ...base, spec: { ...base.spec, analysis: { judge: 'threshold', ...analysis } } });
}

describe('metricProviderFor', () => {
  it('uses the shared server of spec.analysis.prometheus with its timeout and auth', () => {
    const s = spec({
      prometheus: { address: 'http://prom:9090/', timeout: '2s', bearerToken: 't' },
      metrics: [{ name: 'request-success-rate', thresholdRange: { min: 99 } }],
    });

    const provider = metricProviderFor(s, s.spec.analysis.metrics[0]!);

    expect(provider).toBeInstanceOf(PrometheusProvider);
    expect((provider as PrometheusProvider).address).toBe('http://prom:9090');
    expect((provider as PrometheusProvider).timeoutMs).toBe(2000);
  });

  it("gives a metric's own server none of the shared server's credentials", () => {
    const s = spec({
      prometheus: { address: 'http://prom:9090', bearerToken: 'shared' },
      metrics: [
        { name: 'custom', provider: { type: 'prometheus', address: 'http://other:9090' }, query: 'up', thresholdRange: { max: 1 } },
      ],
    });

    expect(prometheusServerFor(s, s.spec.analysis.metrics[0]!)).toEqual({ address: 'http://other:9090', timeout: '5s' });
  });

  it("lets a provider without address override the shared server's auth", () => {
    const s = spec({
      prometheus: { address: 'http://prom:9090', bearerToken: 'shared' },
      metrics: [{ name: 'custom', provider: { type: 'prometheus', bearerToken: 'own' }, query: 'up', thresholdRange: { max: 1 } }],
    });

    expect(prometheusServerFor(s, s.spec.analysis.metrics[0]!)).toMatchObject({ address: 'http://prom:9090', bearerToken: 'own' });
  });

  it('builds the provider each type names', () => {
    const s = spec({
      metrics: [
        {
          name: 'lat',
          provider: { type: 'cloudwatch', region: 'eu-west-1', period: '5m', delay: '2m' },
          metricDataQueries: [{ Id: 'm', Expression: 'x' }],
          thresholdRange: { max: 1 },
        },
        { name: 'alarms', provider: { type: 'cloudwatch-alarm' }, alarms: ['arn:aws:cloudwatch:eu-west-1:123456789012:alarm:podinfo-5xx'] },
        { name: 'score', provider: { type: 'web', url: 'http://scores/{{target}}', jsonPath: '$.score' }, thresholdRange: { min: 0.9 } },
        {
          name: 'request-success-rate',
          provider: { type: 'amp', workspaceUrl: 'https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1' },
          thresholdRange: { min: 99 },
        },
      ],
    });
    const [cw, alarms, web, amp] = s.spec.analysis.metrics.map((m) => metricProviderFor(s, m));

    expect(cw).toBeInstanceOf(CloudWatchProvider);
    expect([(cw as CloudWatchProvider).periodSeconds, (cw as CloudWatchProvider).delaySeconds]).toEqual([300, 120]);
    expect(alarms).toBeInstanceOf(CloudWatchAlarmProvider);
    expect((alarms as CloudWatchAlarmProvider).alarms).toEqual(['podinfo-5xx']);
    expect(web).toBeInstanceOf(WebProvider);
    expect((web as WebProvider).timeoutMs).toBe(10_000);
    expect((web as WebProvider).url).toBe('http://scores/podinfo');
    expect(amp).toBeInstanceOf(PrometheusProvider);
    expect((amp as PrometheusProvider).address).toBe('https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1');
  });

  it('refuses a provider type it does not know (a shape the schema would have refused)', () => {
    const s = rolloutSpecSchema.parse({
      ...base,
      spec: { ...base.spec, analysis: { judge: 'threshold', metrics: [{ name: 'lat', provider: { type: 'cloudwatch' } }] } },
    });
    const metric = { ...s.spec.analysis.metrics[0]!, provider: { type: 'datadog' } } as unknown as MetricSpec;

    expect(() => metricProviderFor(s, metric)).toThrow('metric "lat": unknown metric provider "datadog"');
  });
});

describe('providerQueries', () => {
  it('sends CloudWatch the metricDataQueries and web the URL, with the template variables filled in', () => {
    const s = spec({
      metrics: [
        {
          name: 'cw',
          provider: { type: 'cloudwatch' },
          metricDataQueries: [{ Id: 'e', Expression: 'SUM(x)', Label: '{{canary}}' }],
          thresholdRange: { max: 1 },
        },
        {
          name: 'web',
          provider: { type: 'web', url: 'http://scores/{{namespace}}/{{canaryCluster}}', jsonPath: '$.s' },
          thresholdRange: { max: 1 },
        },
      ],
    });

    const [cw, web] = s.spec.analysis.metrics.map((m) => providerQueries(s, m));

    expect(cw).toEqual({ canary: '[{"Id":"e","Expression":"SUM(x)","Label":"c"}]' });
    expect(web).toEqual({ canary: 'http://scores/gloo-system/c_gloo-system' });
  });
});

describe('readMetrics', () => {
  it('asks the provider for the canary and, for built-ins, the primary', async () => {
    const s = spec({ prometheus: { address: 'http://prom:9090' }, metrics: [{ name: 'request-duration', thresholdRange: { max: 500 } }] });
    const asked: string[] = [];
    const fake: MetricProvider = {
      isOnline: async () => undefined,
      runQuery: async (query) => {
        asked.push(query);
        return query.includes('"c_gloo-system"') ? 612 : 80;
      },
    };

    const readings = await readMetrics(s, () => fake);

    expect(asked).toHaveLength(2);
    expect(readings).toEqual([{ name: 'request-duration', value: 612, primaryValue: 80, thresholdRange: { max: 500 }, query: asked[0] }]);
  });

  it('judges an alarm metric against max 0: any alarm firing fails the check', async () => {
    const s = spec({ metrics: [{ name: 'alarms', provider: { type: 'cloudwatch-alarm' }, alarms: ['podinfo-5xx', 'podinfo-latency'] }] });
    const alarms: MetricProvider = { isOnline: async () => undefined, runQuery: async () => 1 };

    const readings = await readMetrics(s, () => alarms);

    expect(readings).toEqual([{ name: 'alarms', value: 1, thresholdRange: { max: 0 }, query: 'alarms: podinfo-5xx, podinfo-latency' }]);
  });
});
