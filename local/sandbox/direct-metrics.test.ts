/** The direct metric provider: the built-in metrics from the gateway's numbers when Prometheus is absent. */
import { describe, expect, it } from 'vitest';
import { thresholdJudge } from '../../lambdas/core/judge-threshold.ts';
import { parseSpec } from '../../lambdas/core/spec.ts';
import type { RolloutSpecInput } from '../../lambdas/core/spec.ts';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { deltaCounts } from '../../lambdas/core/counts.ts';
import type { CounterSnapshot } from '../../lambdas/core/counts.ts';
import { directMetricDeps, parseExposition } from './direct-metrics.ts';
import { metricsHandler } from './envoy-metrics.ts';
import { GatewayCounters } from './gateway/counters.ts';
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

/** The admin endpoint, for the counter reads these cases do not make. */
const NO_ADMIN = { metricsUrl: 'http://127.0.0.1:9/metrics', metricsTarget: '127.0.0.1:9' };

describe('direct metric provider', () => {
  it('reads success rate and p99 of canary and primary over the metric window', async () => {
    // Prepare
    const asked: Array<[string, number]> = [];
    const deps = directMetricDeps({
      ...NO_ADMIN,
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
    const deps = directMetricDeps({ ...NO_ADMIN, window: () => ({ requests: 0, errors: 0, successRate: null, p99Ms: null }) });
    const readings = await deps.readMetrics(spec([{ name: 'request-success-rate', thresholdRange: { min: 99 } }]));
    expect(readings[0]?.value).toBeNull();
  });

  it('refuses a custom PromQL query, saying Prometheus is needed', async () => {
    const deps = directMetricDeps({ ...NO_ADMIN, window: () => ({ requests: 0, errors: 0, successRate: null, p99Ms: null }) });
    const rollout = spec([{ name: 'errors', query: 'sum(rate(x[1m]))', thresholdRange: { max: 1 } }]);
    await expect(deps.readMetrics(rollout)).rejects.toThrow(/metric "errors": a custom query needs Prometheus/);
  });
});

describe('direct counter reads (the sequential judge without Prometheus)', () => {
  it("reads both arms' requests, 5xx and requests over a threshold from the gateway's admin endpoint, look by look", async () => {
    // Prepare: the gateway's own counters (Envoy's families in prom-client) behind a real HTTP admin endpoint.
    const upstream = (name: string) => ({ name, namespace: 'gloo-system', address: '127.0.0.1:1' });
    const canary = { upstream: upstream('demo-canary'), cluster: 'demo-canary_gloo-system', host: '127.0.0.1', port: 1 };
    const primary = { upstream: upstream('demo-primary'), cluster: 'demo-primary_gloo-system', host: '127.0.0.1', port: 2 };
    const counters = new GatewayCounters([canary, primary], { retries: 0, flushMs: 0, retentionSeconds: 60 });
    const admin = createServer((req, res) => metricsHandler(counters.registry)(req, res));
    await new Promise<void>((done) => admin.listen(0, '127.0.0.1', done));
    const port = (admin.address() as AddressInfo).port;
    const gateway = {
      metricsUrl: `http://127.0.0.1:${port}/metrics`,
      metricsTarget: `127.0.0.1:${port}`,
      window: () => ({ requests: 0, errors: 0, successRate: null, p99Ms: null }),
    };
    const rollout = spec([{ name: 'request-success-rate', thresholdRange: { min: 99 } }]);
    const deps = directMetricDeps(gateway);
    try {
      const before = await deps.snapshotCounters?.(rollout, [250]);
      for (let i = 0; i < 10; i++) counters.record(canary, i < 3 ? 503 : 200, i < 2 ? 400 : 20, false);
      for (let i = 0; i < 40; i++) counters.record(primary, 200, 20, false);

      // Act
      const after = await deps.snapshotCounters?.(rollout, [250]);

      // Assess: the look's deltas are what was served, per arm.
      expect(before && after).toBeTruthy();
      const look = deltaCounts(before as CounterSnapshot, after as CounterSnapshot);
      expect(look.canary).toMatchObject({ requests: 10, errors: 3, slow: { '250': 2 } });
      expect(look.primary).toMatchObject({ requests: 40, errors: 0, slow: { '250': 0 } });
      expect(look.newScrape).not.toBe(false);
      expect(after?.uptime?.[0]?.labels.instance).toBe(`127.0.0.1:${port}`);
    } finally {
      counters.close();
      await new Promise<void>((done) => admin.close(() => done()));
    }
  });

  it('parses label values with escapes and skips comments', () => {
    const samples = parseExposition('# HELP x y\nx{a="b\\"c",d="e"} 3\ny 4.5\n');
    expect(samples).toEqual([
      { name: 'x', labels: { a: 'b"c', d: 'e' }, value: 3 },
      { name: 'y', labels: {}, value: 4.5 },
    ]);
  });
});
