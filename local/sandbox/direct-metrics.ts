/**
 * The demo's fallback when Prometheus is not installed: the two built-in metrics computed from the
 * gateway's own numbers instead of PromQL — the same definitions (percent non-5xx; p99 ms
 * interpolated inside Envoy's buckets like histogram_quantile) over the same window (the metric's
 * `interval`, else `strategy.interval`). Passed as `overrides` to startLocalRuntime only then; a
 * custom PromQL query cannot be answered without Prometheus and fails the look with that reason.
 * The sequential judge's raw counters are read the way Prometheus would scrape them: the gateway's
 * admin endpoint in Prometheus' text format, each read a fresh sample of one source.
 */
import { parseDuration } from '../../lambdas/core/duration.ts';
import type { MetricProvider } from '../../lambdas/core/ports.ts';
import type { MetricReading, MetricValue } from '../../lambdas/core/verdict.ts';
import { isBuiltInMetric } from '../../lambdas/core/queries.ts';
import type { MetricSpec, RolloutSpec } from '../../lambdas/core/spec.ts';
import type { MetricDeps } from '../../lambdas/app/deps.ts';
import type { ArmCounters, CounterHistory, CounterSnapshot, SeriesSample } from '../../lambdas/core/counts.ts';
import { envoyClusterName } from '../../lambdas/core/queries.ts';
import type { Gateway } from './gateway.ts';

/** One sample of Prometheus' text exposition format. */
interface ExposedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE_LINE = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Prometheus' text format (what /metrics serves), comments skipped; label values unescaped. */
export function parseExposition(text: string): ExposedSample[] {
  const samples: ExposedSample[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = SAMPLE_LINE.exec(line.trim());
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const [, key, raw] of (match[2] ?? '').matchAll(LABEL))
      if (key !== undefined) labels[key] = (raw ?? '').replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    const value = Number(match[3]);
    if (Number.isFinite(value)) samples.push({ name: match[1] ?? '', labels, value });
  }
  return samples;
}

/** The counters of one Envoy cluster, as the built-in counter queries (lambdas/core/queries.ts) select them. */
function armCounters(
  samples: readonly ExposedSample[],
  cluster: string,
  thresholdsMs: readonly number[],
  source: Record<string, string>,
  at: number,
): ArmCounters {
  const of = (name: string, accept: (labels: Record<string, string>) => boolean = () => true) =>
    samples.filter((s) => s.name === name && s.labels.envoy_cluster_name === cluster && accept(s.labels));
  const series = (list: readonly ExposedSample[]): SeriesSample[] =>
    list.map((s) => ({ labels: { ...s.labels, ...source }, value: s.value, timestamp: at }));
  const count = of('envoy_cluster_upstream_rq_time_count')[0]?.value ?? 0;
  const slow = (ms: number): SeriesSample[] => {
    const bucket = of('envoy_cluster_upstream_rq_time_bucket', (labels) => Number(labels.le) === ms)[0];
    return bucket ? [{ labels: { envoy_cluster_name: cluster, ...source }, value: count - bucket.value, timestamp: at }] : [];
  };
  const retries = of('envoy_cluster_upstream_rq_retry');
  return {
    requests: series(of('envoy_cluster_upstream_rq')),
    errors: series(of('envoy_cluster_upstream_rq', (labels) => /^5\d\d$/.test(labels.envoy_response_code ?? ''))),
    slow: Object.fromEntries(thresholdsMs.map((ms) => [String(ms), slow(ms)])),
    ...(retries.length ? { retries: series(retries) } : {}),
  };
}

/**
 * The sequential judge's counters straight from the gateway's admin endpoint (what Prometheus
 * would scrape): one source per gateway instance, stamped with the read time, so every look sees
 * a new sample and a replaced gateway is a new source whose uptime starts again.
 */
async function snapshotFromGateway(
  gateway: Pick<Gateway, 'metricsUrl' | 'metricsTarget' | 'window'>,
  spec: RolloutSpec,
  thresholdsMs: readonly number[],
  historySeconds: number | undefined,
): Promise<CounterSnapshot> {
  const at = Date.now();
  const response = await fetch(gateway.metricsUrl, { signal: AbortSignal.timeout(5000) });
  if (!response.ok) throw new Error(`the gateway's metrics endpoint ${gateway.metricsUrl} answered ${response.status}`);
  const samples = parseExposition(await response.text());
  const source = { job: 'gateway-direct', instance: gateway.metricsTarget };
  const { router } = spec.spec;
  const snapshot: CounterSnapshot = {
    at: new Date(at).toISOString(),
    canary: armCounters(samples, envoyClusterName(router.envoyClusterName, router.canary.upstream), thresholdsMs, source, at),
    primary: armCounters(samples, envoyClusterName(router.envoyClusterName, router.primary.upstream), thresholdsMs, source, at),
  };
  const uptime = samples.find((s) => s.name === 'envoy_server_uptime');
  if (uptime) snapshot.uptime = [{ labels: source, value: uptime.value, timestamp: at }];
  if (historySeconds) {
    // Prepare's expectations: the recent rates from the gateway's own per-second numbers (the
    // sandbox's load starts seconds before the rollout: a longer window would dilute them).
    const seconds = Math.min(historySeconds, 5);
    const canary = gateway.window(router.canary.upstream.name, seconds);
    const primary = gateway.window(router.primary.upstream.name, seconds);
    const history: CounterHistory = {
      seconds,
      scrapeIntervalSeconds: null,
      canaryRps: canary.requests / seconds,
      primaryRps: primary.requests / seconds,
      primaryErrorRate: primary.requests > 0 ? primary.errors / primary.requests : null,
    };
    snapshot.history = history;
  }
  return snapshot;
}

/** A window of at least one second, in whole seconds. */
function windowSeconds(spec: RolloutSpec, metric: MetricSpec): number {
  return Math.max(1, Math.round(parseDuration(metric.interval ?? spec.spec.strategy.interval) / 1000));
}

function valueOf(
  gateway: Pick<Gateway, 'window'>,
  name: 'request-success-rate' | 'request-duration',
  upstream: string,
  seconds: number,
): MetricValue {
  const window = gateway.window(upstream, seconds);
  return name === 'request-success-rate' ? window.successRate : window.p99Ms;
}

/** MetricDeps reading the gateway directly: `startLocalRuntime({ overrides: directMetricDeps(gateway) })`. */
export function directMetricDeps(gateway: Pick<Gateway, 'window' | 'metricsUrl' | 'metricsTarget'>): MetricDeps {
  const provider: MetricProvider = {
    // In-process: online as long as the gateway answers for the upstreams it knows.
    isOnline: async () => undefined,
    runQuery: async (query) => {
      throw new Error(`the direct metric provider answers the built-in metrics only (Prometheus is not installed), not PromQL: ${query}`);
    },
  };
  return {
    providersFor: () => [provider],
    snapshotCounters: (spec, thresholdsMs, options) => snapshotFromGateway(gateway, spec, thresholdsMs, options?.historySeconds),
    readMetrics: async (spec) =>
      spec.spec.analysis.metrics.map((metric): MetricReading => {
        const name = metric.name;
        if (metric.query || !isBuiltInMetric(name)) {
          throw new Error(
            `metric "${name}": a custom query needs Prometheus, which is not installed (install Debian's prometheus package)`,
          );
        }
        const seconds = windowSeconds(spec, metric);
        const { primary, canary } = spec.spec.router;
        const reading: MetricReading = {
          name,
          value: valueOf(gateway, name, canary.upstream.name, seconds),
          primaryValue: valueOf(gateway, name, primary.upstream.name, seconds),
          query: `direct: ${name} of ${canary.upstream.name} over ${seconds}s`,
        };
        if (metric.thresholdRange) reading.thresholdRange = { ...metric.thresholdRange };
        return reading;
      }),
  };
}
