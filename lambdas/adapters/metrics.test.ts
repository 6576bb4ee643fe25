import { describe, expect, it } from 'vitest';
import type { MetricProvider } from '../core/ports.ts';
import { parseSpec, rolloutSpecSchema, type RolloutSpec } from '../core/spec.ts';
import { metricProviderFor, prometheusServerFor, readMetrics } from './metrics.ts';
import { PrometheusProvider } from './prometheus.ts';

const base = {
  apiVersion: 'sluice.dev/v1',
  kind: 'Rollout',
  metadata: { name: 'podinfo' },
  spec: {
    cluster: { kubeconfigContext: 'test' },
    router: { name: 'podinfo', namespace: 'gloo-system', primary: { upstream: { name: 'p', namespace: 'gloo-system' } }, canary: { upstream: { name: 'c', namespace: 'gloo-system' } } },
    strategy: { stepWeights: [10, 50] },
  },
};

function spec(analysis: object): RolloutSpec {
  return parseSpec({ ...base, spec: { ...base.spec, analysis } });
}

describe('metricProviderFor', () => {
  it('uses the shared server of spec.analysis.prometheus with its timeout and auth', () => {
    const s = spec({ prometheus: { address: 'http://prom:9090/', timeout: '2s', bearerToken: 't' }, metrics: [{ name: 'request-success-rate', thresholdRange: { min: 99 } }] });

    const provider = metricProviderFor(s, s.spec.analysis.metrics[0]!);

    expect(provider).toBeInstanceOf(PrometheusProvider);
    expect((provider as PrometheusProvider).address).toBe('http://prom:9090');
    expect((provider as PrometheusProvider).timeoutMs).toBe(2000);
  });

  it("gives a metric's own server none of the shared server's credentials", () => {
    const s = spec({
      prometheus: { address: 'http://prom:9090', bearerToken: 'shared' },
      metrics: [{ name: 'custom', provider: { type: 'prometheus', address: 'http://other:9090' }, query: 'up', thresholdRange: { max: 1 } }],
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

  it('refuses providers that are not built yet', () => {
    // parse the shape only: validateSpec would already refuse this spec with the same words
    const s = rolloutSpecSchema.parse({ ...base, spec: { ...base.spec, analysis: { metrics: [{ name: 'lat', provider: { type: 'cloudwatch' } }] } } });

    expect(() => metricProviderFor(s, s.spec.analysis.metrics[0]!)).toThrow('metric "lat": the cloudwatch metric provider is not supported yet');
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
});
