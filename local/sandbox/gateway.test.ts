/**
 * The weighted gateway against the Kubernetes API stand-in: it routes by the UpstreamGroup's
 * weights as the watch delivers them, mirrors to the shadow upstream, and exports Envoy-named
 * metrics that the built-in PromQL, evaluated by the real Prometheus, reads correctly.
 */
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { PrometheusProvider } from '../../lambdas/adapters/metrics/prometheus.ts';
import { metricQueries } from '../../lambdas/core/queries.ts';
import { parseSpec } from '../../lambdas/core/spec.ts';
import { startKubeStandIn } from '../kube/stand-in.ts';
import type { KubeStandIn } from '../kube/stand-in.ts';
import { bucketQuantile, shadowHost, startGateway } from './gateway.ts';
import type { Gateway } from './gateway.ts';
import { startPrometheus } from './prometheus.ts';
import { burst, eventually, startDummy, upstreamGroup, virtualService } from './sandbox.fixtures.ts';
import type { DummyUpstream } from './sandbox.fixtures.ts';

const NS = 'gloo-system';
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

interface World {
  standIn: KubeStandIn;
  gateway: Gateway;
  primary: DummyUpstream;
  canary: DummyUpstream;
}

async function world(
  options: {
    weights?: Record<string, number>;
    shadow?: number;
    canaryFailEvery?: number;
    canaryAddress?: string;
    retries?: number;
    statsFlushMs?: number;
    xdsDelayMs?: number;
  } = {},
): Promise<World> {
  const standIn = await startKubeStandIn();
  closers.push(() => standIn.close());
  const primary = await startDummy('v1');
  closers.push(() => primary.close());
  const canary = await startDummy('v2', options.canaryFailEvery ? { failEvery: options.canaryFailEvery } : {});
  closers.push(() => canary.close());
  for (const name of ['web-primary', 'web-canary']) {
    standIn.apply({
      apiVersion: 'gloo.solo.io/v1',
      kind: 'Upstream',
      metadata: { name, namespace: NS },
      spec: { static: { hosts: [{ addr: '127.0.0.1', port: 1 }] } },
    });
  }
  standIn.apply(upstreamGroup('web', options.weights ?? { 'web-primary': 100, 'web-canary': 0 }));
  standIn.apply(
    virtualService('web', 'web', options.shadow !== undefined ? { upstream: 'web-canary', percentage: options.shadow } : undefined),
  );
  const gateway = await startGateway({
    kubeConfig: standIn.kubeConfig(),
    virtualService: { namespace: NS, name: 'web' },
    upstreams: [
      { name: 'web-primary', namespace: NS, address: primary.address },
      { name: 'web-canary', namespace: NS, address: options.canaryAddress ?? canary.address },
    ],
    seed: 42,
    ...(options.retries !== undefined ? { retries: options.retries } : {}),
    statsFlushMs: options.statsFlushMs ?? 0,
    ...(options.xdsDelayMs !== undefined ? { xdsDelayMs: options.xdsDelayMs } : {}),
  });
  closers.push(() => gateway.close());
  await gateway.synced;
  await gateway.waitForWeights(() => true);
  return { standIn, gateway, primary, canary };
}

async function setWeights(standIn: KubeStandIn, weights: Record<string, number>): Promise<void> {
  const custom = standIn.kubeConfig().makeApiClient(CustomObjectsApi);
  const body = { spec: upstreamGroup('web', weights).spec };
  await custom.patchNamespacedCustomObject(
    { group: 'gloo.solo.io', version: 'v1', plural: 'upstreamgroups', namespace: NS, name: 'web', body },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

describe('weighted gateway', () => {
  it('splits requests by the UpstreamGroup weights', async () => {
    // Prepare
    const { gateway } = await world({ weights: { 'web-primary': 80, 'web-canary': 20 } });
    // Act
    const seen = await burst(`${gateway.url}/`, 2000, 20);
    // Assess
    expect(seen.codes[200]).toBe(2000);
    const share = (seen.versions.v2 ?? 0) / 2000;
    expect(share).toBeGreaterThan(0.17);
    expect(share).toBeLessThan(0.23);
    const stats = gateway.stats();
    expect(stats.upstreams['web-canary']?.requests).toBe(seen.versions.v2);
    expect(stats.upstreams['web-primary']?.requests).toBe(seen.versions.v1);
  });

  it('follows a weight change made through the API within 2 seconds', async () => {
    const { gateway, standIn } = await world();
    expect((await burst(`${gateway.url}/`, 50)).versions).toEqual({ v1: 50 });

    const changedAt = Date.now();
    await setWeights(standIn, { 'web-primary': 0, 'web-canary': 100 });
    await gateway.waitForWeights((w) => w['web-canary'] === 100, 2000);

    expect((await burst(`${gateway.url}/`, 50)).versions).toEqual({ v2: 50 });
    const last = gateway.stats().weightChanges.at(-1);
    expect(last?.weights).toEqual({ 'web-primary': 0, 'web-canary': 100 });
    expect(last?.at).toBeGreaterThanOrEqual(changedAt);
  });

  it('mirrors a copy to the shadow upstream with -shadow on the Host; users only see primary answers', async () => {
    const { gateway, canary, primary } = await world({ shadow: 100 });

    const seen = await burst(`${gateway.url}/`, 100);

    expect(seen.versions).toEqual({ v1: 100 });
    await eventually(() => canary.hosts.length === 100, 'every request mirrored to the canary');
    const host = new URL(gateway.url).host;
    expect(new Set(canary.hosts)).toEqual(new Set([shadowHost(host)]));
    expect(new Set(primary.hosts)).toEqual(new Set([host]));
    const stats = gateway.stats().upstreams['web-canary'];
    expect(stats).toMatchObject({ requests: 0, shadowRequests: 100 });
    expect(gateway.shadowing()).toEqual({ upstream: 'web-canary', percentage: 100 });
  });

  it('samples mirrored requests by the shadowing percentage', async () => {
    const { gateway, canary } = await world({ shadow: 25 });
    await burst(`${gateway.url}/`, 1000, 20);
    await eventually(() => gateway.stats().upstreams['web-canary']?.shadowRequests === canary.hosts.length, 'mirrors settled');
    expect(canary.hosts.length).toBeGreaterThan(200);
    expect(canary.hosts.length).toBeLessThan(300);
  });

  it('answers and counts 503 when the upstream is down', async () => {
    const { gateway } = await world({ weights: { 'web-primary': 0, 'web-canary': 100 }, canaryAddress: '127.0.0.1:1' });
    const seen = await burst(`${gateway.url}/`, 10);
    expect(seen.codes).toEqual({ 503: 10 });
    expect(gateway.stats().upstreams['web-canary']).toMatchObject({ requests: 10, errors: 10 });
    const text = await (await fetch(gateway.metricsUrl)).text();
    expect(text).toContain('envoy_cluster_upstream_rq{envoy_cluster_name="web-canary_gloo-system",envoy_response_code="503"} 10');
  });

  it('exports Envoy-named metrics that the built-in PromQL reads through the real Prometheus', async () => {
    // Prepare: 1 canary answer in 10 is a 500.
    const { gateway } = await world({ weights: { 'web-primary': 50, 'web-canary': 50 }, canaryFailEvery: 10 });
    const text = await (await fetch(gateway.metricsUrl)).text();
    expect(text).toContain('# TYPE envoy_cluster_upstream_rq counter');
    expect(text).toContain('envoy_cluster_upstream_rq_time_bucket{le="0.5",envoy_cluster_name="web-primary_gloo-system"}');
    expect(text).toContain('envoy_cluster_upstream_rq_time_bucket{le="3600000",envoy_cluster_name="web-canary_gloo-system"}');
    const prometheus = await startPrometheus({ scrapeTargets: [gateway.metricsTarget], scrapeIntervalSeconds: 1 });
    closers.push(() => prometheus.close());
    // Per-code series appear at their first answer (as in Envoy): a first burst creates them, and
    // rate() needs a sample of them from before the measured traffic.
    await burst(`${gateway.url}/`, 100, 10);
    await prometheus.waitForSeries(
      'count_over_time(envoy_cluster_upstream_rq{envoy_cluster_name="web-canary_gloo-system",envoy_response_code="500"}[1m]) >= 2',
      30_000,
    );

    // Act
    await burst(`${gateway.url}/`, 1000, 10);
    const canaryServed = gateway.stats().upstreams['web-canary']?.requests ?? 0;
    await prometheus.waitForSeries(
      `sum(envoy_cluster_upstream_rq{envoy_cluster_name="web-canary_gloo-system"}) >= ${canaryServed}`,
      30_000,
    );
    await prometheus.waitForSeries(
      `sum(envoy_cluster_upstream_rq_time_count{envoy_cluster_name="web-canary_gloo-system"}) >= ${canaryServed}`,
      30_000,
    );

    // Assess: the spec's own rendered queries, run by the real provider.
    const spec = parseSpec({
      apiVersion: 'sluice.dev/v1',
      kind: 'Rollout',
      metadata: { name: 'web' },
      spec: {
        cluster: { kubeconfigContext: 'stand-in' },
        router: {
          name: 'web',
          namespace: NS,
          primary: { upstream: { name: 'web-primary', namespace: NS } },
          canary: { upstream: { name: 'web-canary', namespace: NS } },
        },
        analysis: {
          judge: 'threshold',
          prometheus: { address: prometheus.url },
          metrics: [
            { name: 'request-success-rate', interval: '1m', thresholdRange: { min: 99 } },
            { name: 'request-duration', interval: '1m', thresholdRange: { max: 500 } },
          ],
        },
      },
    });
    const [successRate, duration] = spec.spec.analysis.metrics.map((metric) => metricQueries(spec, metric));
    const provider = new PrometheusProvider({ address: prometheus.url });
    const canaryRate = await provider.runQuery(successRate?.canary ?? '');
    const primaryRate = await provider.runQuery(successRate?.primary ?? '');
    const p99 = await provider.runQuery(duration?.canary ?? '');
    expect(canaryRate).toBeGreaterThan(88);
    expect(canaryRate).toBeLessThan(92);
    expect(primaryRate).toBe(100);
    expect(p99).toBeGreaterThan(0);
    expect(p99).toBeLessThan(250);
  });
});

describe('the gateway counts like Envoy', () => {
  const metricsText = async (gateway: Gateway) => (await fetch(gateway.metricsUrl)).text();

  it('creates a response code series at its first answer, never as a zero beforehand', async () => {
    const { gateway } = await world({ weights: { 'web-primary': 0, 'web-canary': 100 }, canaryFailEvery: 5 });
    const before = await metricsText(gateway);
    expect(before).not.toContain('envoy_cluster_upstream_rq{');

    await burst(`${gateway.url}/`, 4);
    const healthy = await metricsText(gateway);
    await burst(`${gateway.url}/`, 1);
    const failed = await metricsText(gateway);

    expect(healthy).toContain('envoy_cluster_upstream_rq{envoy_cluster_name="web-canary_gloo-system",envoy_response_code="200"} 4');
    expect(healthy).not.toContain('envoy_response_code="500"');
    expect(failed).toContain('envoy_cluster_upstream_rq{envoy_cluster_name="web-canary_gloo-system",envoy_response_code="500"} 1');
  });

  it('with a retry policy counts retried attempts apart and only the final answer under upstream_rq', async () => {
    // Prepare: every 2nd answer of the canary's process is a 500; up to two retries per request.
    const { gateway, canary } = await world({ weights: { 'web-primary': 0, 'web-canary': 100 }, canaryFailEvery: 2, retries: 2 });
    // Act
    const seen = await burst(`${gateway.url}/`, 20);
    // Assess: every failed attempt is either retried (counted under upstream_rq_retry) or the final answer.
    const text = await metricsText(gateway);
    const retried = Number(/envoy_cluster_upstream_rq_retry\{envoy_cluster_name="web-canary_gloo-system"\} (\d+)/.exec(text)?.[1] ?? -1);
    const finalErrors = seen.codes[500] ?? 0;
    expect(retried).toBeGreaterThan(0);
    expect(canary.hosts.length).toBe(20 + retried);
    expect(retried + finalErrors).toBe(Math.floor(canary.hosts.length / 2));
    expect(finalErrors).toBeLessThan(retried);
    expect(text).toContain(
      `envoy_cluster_upstream_rq{envoy_cluster_name="web-canary_gloo-system",envoy_response_code="200"} ${seen.codes[200] ?? 0}`,
    );
  });

  it('a canary whose failures are retried into success still reads below its success rate through the built-in query', async () => {
    // Prepare: every 4th answer of the canary's process is a 500, one retry each: users see almost no 500.
    const { gateway } = await world({ weights: { 'web-primary': 0, 'web-canary': 100 }, canaryFailEvery: 4, retries: 1 });
    const prometheus = await startPrometheus({ scrapeTargets: [gateway.metricsTarget], scrapeIntervalSeconds: 1 });
    closers.push(() => prometheus.close());
    await burst(`${gateway.url}/`, 50, 5);
    await prometheus.waitForSeries(
      'count_over_time(envoy_cluster_upstream_rq{envoy_cluster_name="web-canary_gloo-system",envoy_response_code="200"}[1m]) >= 2',
      30_000,
    );
    // Act
    const seen = await burst(`${gateway.url}/`, 400, 10);
    const served = (seen.codes[200] ?? 0) + 50;
    await prometheus.waitForSeries(`sum(envoy_cluster_upstream_rq{envoy_cluster_name="web-canary_gloo-system"}) >= ${served}`, 30_000);
    const spec = parseSpec({
      apiVersion: 'sluice.dev/v1',
      kind: 'Rollout',
      metadata: { name: 'web' },
      spec: {
        cluster: { kubeconfigContext: 'stand-in' },
        router: {
          name: 'web',
          namespace: NS,
          primary: { upstream: { name: 'web-primary', namespace: NS } },
          canary: { upstream: { name: 'web-canary', namespace: NS } },
        },
        analysis: {
          judge: 'threshold',
          prometheus: { address: prometheus.url },
          metrics: [{ name: 'request-success-rate', interval: '1m', thresholdRange: { min: 99 } }],
        },
      },
    });
    const query = metricQueries(spec, spec.spec.analysis.metrics[0] as NonNullable<(typeof spec.spec.analysis.metrics)[0]>).canary;
    const rate = await new PrometheusProvider({ address: prometheus.url }).runQuery(query);
    // Assess: users saw (nearly) only 200s, the query sees about one failed attempt in four.
    expect((seen.codes[500] ?? 0) / 400).toBeLessThan(0.05);
    expect(rate).toBeLessThan(90);
    expect(rate).toBeGreaterThan(60);
  });

  it('publishes the request-time histogram at the stats flush, not per request', async () => {
    const { gateway } = await world({ weights: { 'web-primary': 100, 'web-canary': 0 }, statsFlushMs: 400 });
    await burst(`${gateway.url}/`, 10);
    const early = await metricsText(gateway);
    expect(early).toContain('envoy_cluster_upstream_rq_time_count{envoy_cluster_name="web-primary_gloo-system"} 0');
    await eventually(
      async () =>
        (await metricsText(gateway)).includes('envoy_cluster_upstream_rq_time_count{envoy_cluster_name="web-primary_gloo-system"} 10'),
      'histogram flushed',
    );
  });

  it('exports its uptime; a restart gives a new instance with fresh counters and uptime', async () => {
    const { gateway } = await world({ weights: { 'web-primary': 100, 'web-canary': 0 } });
    await burst(`${gateway.url}/`, 5);
    const oldTarget = gateway.metricsTarget;
    expect(await metricsText(gateway)).toMatch(/envoy_server_uptime \d+/);

    const newTarget = await gateway.restart();
    await burst(`${gateway.url}/`, 2);

    expect(newTarget).not.toBe(oldTarget);
    expect(gateway.metricsTarget).toBe(newTarget);
    const text = await metricsText(gateway);
    expect(text).toContain('envoy_cluster_upstream_rq{envoy_cluster_name="web-primary_gloo-system",envoy_response_code="200"} 2');
    expect(text).toContain('envoy_server_uptime 0');
    expect(gateway.restarts()).toBe(1);
    expect(gateway.stats().upstreams['web-primary']?.requests).toBe(7);
  });

  it('applies a weight change after the xDS delay', async () => {
    const { gateway, standIn } = await world({ xdsDelayMs: 800 });
    await gateway.waitForWeights((w) => w['web-primary'] === 100, 3000);
    const changedAt = Date.now();
    await setWeights(standIn, { 'web-primary': 0, 'web-canary': 100 });
    await gateway.waitForWeights((w) => w['web-canary'] === 100, 3000);
    expect(Date.now() - changedAt).toBeGreaterThanOrEqual(750);
  });
});

describe('bucketQuantile', () => {
  it('interpolates inside the bucket like histogram_quantile', () => {
    // 100 observations, all between 25 and 50 ms.
    const counts = [0, 0, 0, 0, 0, 100];
    expect(bucketQuantile(0.99, counts)).toBeCloseTo(49.75);
    expect(bucketQuantile(0.5, counts)).toBeCloseTo(37.5);
  });

  it('answers null without observations and the highest bound for the +Inf bucket', () => {
    expect(bucketQuantile(0.99, [])).toBeNull();
    expect(bucketQuantile(0.99, [...new Array<number>(19).fill(0), 5])).toBe(3_600_000);
  });

  it('appends -shadow to the host part, keeping the port', () => {
    expect(shadowHost('shop.example.com')).toBe('shop.example.com-shadow');
    expect(shadowHost('127.0.0.1:8080')).toBe('127.0.0.1-shadow:8080');
  });
});
