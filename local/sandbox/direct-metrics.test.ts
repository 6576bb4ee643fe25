/** The direct metric provider: the built-in metrics from the gateway's numbers when Prometheus is absent. */
import { describe, expect, it } from 'vitest';
import { thresholdJudge } from '../../lambdas/core/judge-threshold.ts';
import { parseSpec } from '../../lambdas/core/spec.ts';
import type { RolloutSpecInput } from '../../lambdas/core/spec.ts';
import { directMetricDeps } from './direct-metrics.ts';
import type { WindowStats } from './gateway.ts';

function spec(metrics: NonNullable<RolloutSpecInput['spec']['analysis']>['metrics']) {
  return parseSpec({
    apiVersion: 'sluice.dev/v1',
    kind: 'Rollout',
    metadata: { name: 'podinfo' },
    spec: {
      cluster: { kubeconfigContext: 'stand-in' },
      router: {
        name: 'demo',
        namespace: 'gloo-system',
        primary: { upstream: { name: 'demo-primary', namespace: 'gloo-system' } },
        canary: { upstream: { name: 'demo-canary', namespace: 'gloo-system' } },
      },
      strategy: { stepWeights: [5, 50], interval: '5s', lookInterval: '5s', deadline: '5m' },
      analysis: { judge: 'threshold', prometheus: { address: 'http://127.0.0.1:9090' }, metrics },
    },
  });
}

const windows: Record<string, WindowStats> = {
  'demo-canary': { requests: 100, errors: 10, successRate: 90, p99Ms: 320 },
  'demo-primary': { requests: 900, errors: 0, successRate: 100, p99Ms: 45 },
};

describe('direct metric provider', () => {
  it('reads success rate and p99 of canary and primary over the metric window', async () => {
    // Prepare
    const asked: Array<[string, number]> = [];
    const deps = directMetricDeps({
      window: (upstream, seconds) => {
        asked.push([upstream, seconds]);
        return windows[upstream] ?? { requests: 0, errors: 0, successRate: null, p99Ms: null };
      },
    });
    const rollout = spec([
      { name: 'request-success-rate', interval: '10s', thresholdRange: { min: 99 } },
      { name: 'request-duration', thresholdRange: { max: 250 } },
    ]);
    // Act
    const readings = await deps.readMetrics(rollout);
    const verdict = thresholdJudge.judge(readings);
    // Assess
    expect(readings.map((r) => [r.name, r.value, r.primaryValue])).toEqual([
      ['request-success-rate', 90, 100],
      ['request-duration', 320, 45],
    ]);
    expect(asked).toContainEqual(['demo-canary', 10]);
    expect(asked).toContainEqual(['demo-canary', 5]); // no metric interval: strategy.interval
    expect(verdict.result).toBe('fail');
    await expect(Promise.all(deps.providersFor(rollout).map((p) => p.isOnline()))).resolves.toBeDefined();
  });

  it('reads no traffic as no data', async () => {
    const deps = directMetricDeps({ window: () => ({ requests: 0, errors: 0, successRate: null, p99Ms: null }) });
    const readings = await deps.readMetrics(spec([{ name: 'request-success-rate', thresholdRange: { min: 99 } }]));
    expect(readings[0]?.value).toBeNull();
  });

  it('refuses a custom PromQL query, saying Prometheus is needed', async () => {
    const deps = directMetricDeps({ window: () => ({ requests: 0, errors: 0, successRate: null, p99Ms: null }) });
    const rollout = spec([{ name: 'errors', query: 'sum(rate(x[1m]))', thresholdRange: { max: 1 } }]);
    await expect(deps.readMetrics(rollout)).rejects.toThrow(/metric "errors": a custom query needs Prometheus/);
  });
});
