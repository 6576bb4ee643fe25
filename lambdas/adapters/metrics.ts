/**
 * Which backend answers a metric, and one look at all of a rollout's metrics. The factory
 * switches over the provider type; types the schema knows but Sluice does not run yet are
 * refused here too, never silently read as something else.
 */
import type { MetricProvider, MetricReading, MetricValue } from '../core/ports.ts';
import { metricQueries } from '../core/queries.ts';
import type { MetricSpec, PrometheusServer, RolloutSpec } from '../core/spec.ts';
import { PrometheusProvider } from './prometheus.ts';

export type MetricProviderFor = (spec: RolloutSpec, metric: MetricSpec) => MetricProvider;

/**
 * The Prometheus server of a metric. A provider with its own address is its own server (no
 * credentials leak from spec.analysis.prometheus to it); a provider without one inherits the
 * server of spec.analysis.prometheus, its own auth fields overriding.
 */
export function prometheusServerFor(spec: RolloutSpec, metric: MetricSpec): PrometheusServer {
  const shared = spec.spec.analysis.prometheus;
  const own = metric.provider?.type === 'prometheus' ? metric.provider : undefined;
  if (own?.address) {
    const { type: _type, ...server } = own;
    return { ...server, address: own.address };
  }
  if (!shared) throw new Error(`metric "${metric.name}": no Prometheus server: set spec.analysis.prometheus.address or the metric's provider.address`);
  if (!own) return shared;
  return {
    ...shared,
    bearerToken: own.bearerToken ?? shared.bearerToken,
    basicAuth: own.basicAuth ?? shared.basicAuth,
    ca: own.ca ?? shared.ca,
  };
}

export function metricProviderFor(spec: RolloutSpec, metric: MetricSpec): MetricProvider {
  const provider = metric.provider ?? { type: 'prometheus' as const };
  const type = provider.type;
  switch (type) {
    case 'prometheus':
      return new PrometheusProvider(prometheusServerFor(spec, metric));
    case 'cloudwatch':
    case 'cloudwatch-alarm':
    case 'web':
    case 'amp':
      throw new Error(`metric "${metric.name}": the ${type} metric provider is not supported yet`);
    default: {
      const unknown: never = type;
      throw new Error(`metric "${metric.name}": unknown metric provider "${String(unknown)}"`);
    }
  }
}

/**
 * Reads every metric of the spec once: the canary's value, and for built-in metrics the
 * primary's too (for the picture; the verdict uses only the canary's). Errors propagate: a
 * TransientError is retried by the state machine, anything else fails the look.
 */
export async function readMetrics(spec: RolloutSpec, providerFor: MetricProviderFor = metricProviderFor): Promise<MetricReading[]> {
  return Promise.all(
    spec.spec.analysis.metrics.map(async (metric): Promise<MetricReading> => {
      const queries = metricQueries(spec, metric);
      const provider = providerFor(spec, metric);
      const [value, primaryValue] = await Promise.all([
        provider.runQuery(queries.canary),
        queries.primary === undefined ? Promise.resolve<MetricValue | undefined>(undefined) : provider.runQuery(queries.primary),
      ]);
      const reading: MetricReading = { name: metric.name, value, query: queries.canary };
      if (metric.thresholdRange) reading.thresholdRange = { ...metric.thresholdRange };
      if (primaryValue !== undefined) reading.primaryValue = primaryValue;
      return reading;
    }),
  );
}
