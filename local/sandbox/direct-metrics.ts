/**
 * The demo's fallback when Prometheus is not installed: the two built-in metrics computed from the
 * gateway's own numbers instead of PromQL — the same definitions (percent non-5xx; p99 ms
 * interpolated inside Envoy's buckets like histogram_quantile) over the same window (the metric's
 * `interval`, else `strategy.interval`). Passed as `overrides` to startLocalRuntime only then; a
 * custom PromQL query cannot be answered without Prometheus and fails the look with that reason.
 */
import { parseDuration } from '../../lambdas/core/duration.ts';
import type { MetricProvider } from '../../lambdas/core/ports.ts';
import type { MetricReading, MetricValue } from '../../lambdas/core/verdict.ts';
import { isBuiltInMetric } from '../../lambdas/core/queries.ts';
import type { MetricSpec, RolloutSpec } from '../../lambdas/core/spec.ts';
import type { MetricDeps } from '../../lambdas/app/deps.ts';
import type { Gateway } from './gateway.ts';

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
export function directMetricDeps(gateway: Pick<Gateway, 'window'>): MetricDeps {
  const provider: MetricProvider = {
    // In-process: online as long as the gateway answers for the upstreams it knows.
    isOnline: async () => undefined,
    runQuery: async (query) => {
      throw new Error(`the direct metric provider answers the built-in metrics only (Prometheus is not installed), not PromQL: ${query}`);
    },
  };
  return {
    providersFor: () => [provider],
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
