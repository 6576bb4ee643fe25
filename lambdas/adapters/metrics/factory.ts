/**
 * Which backend answers a metric, and one look at all of a rollout's metrics. The factory
 * switches over the provider type (prometheus, cloudwatch, cloudwatch-alarm, web, amp) with an
 * exhaustive check: a type the schema gains without a provider here does not compile.
 */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { parseDuration } from '../../core/duration.ts';
import type { MetricProvider } from '../../core/ports.ts';
import type { MetricReading, MetricValue } from '../../core/verdict.ts';
import { metricQueries, queryVariables, renderQuery } from '../../core/queries.ts';
import type { MetricSpec, PrometheusServer, RolloutSpec } from '../../core/spec.ts';
import { ampProvider } from './amp.ts';
import { alarmsRegion, CloudWatchAlarmProvider } from './cloudwatch-alarm.ts';
import { CloudWatchProvider } from './cloudwatch.ts';
import { PrometheusProvider } from './prometheus.ts';
import { WebProvider } from './web.ts';

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
  if (!shared)
    throw new Error(`metric "${metric.name}": no Prometheus server: set spec.analysis.prometheus.address or the metric's provider.address`);
  if (!own) return shared;
  return {
    ...shared,
    bearerToken: own.bearerToken ?? shared.bearerToken,
    basicAuth: own.basicAuth ?? shared.basicAuth,
    ca: own.ca ?? shared.ca,
  };
}

/** One CloudWatch client per region, kept across looks of a warm Lambda. */
const cloudWatchClients = new Map<string, CloudWatchClient>();
function cloudWatchClient(region: string | undefined): CloudWatchClient {
  const key = region ?? '';
  let client = cloudWatchClients.get(key);
  if (!client) {
    // Without a region the SDK's own chain decides (AWS_REGION, profile), as for every other client.
    client = new CloudWatchClient(region ? { region } : {});
    cloudWatchClients.set(key, client);
  }
  return client;
}

/** The EKS cluster's region: the default for AWS providers that name none. */
function clusterRegion(spec: RolloutSpec): string | undefined {
  const cluster = spec.spec.cluster;
  return 'region' in cluster ? cluster.region : undefined;
}

export function metricProviderFor(spec: RolloutSpec, metric: MetricSpec): MetricProvider {
  const provider = metric.provider ?? { type: 'prometheus' as const };
  const type = provider.type;
  switch (provider.type) {
    case 'prometheus':
      return new PrometheusProvider(prometheusServerFor(spec, metric));
    case 'cloudwatch':
      return new CloudWatchProvider({
        client: cloudWatchClient(provider.region ?? clusterRegion(spec)),
        periodSeconds: parseDuration(provider.period) / 1000,
        delaySeconds: parseDuration(provider.delay) / 1000,
      });
    case 'cloudwatch-alarm': {
      const alarms = metric.alarms ?? [];
      // The deployed stack sets SLUICE_COMPOSITE_ALARMS to what its DescribeAlarms grant allows.
      const composite = process.env.SLUICE_COMPOSITE_ALARMS !== 'false';
      return new CloudWatchAlarmProvider({
        client: cloudWatchClient(provider.region ?? alarmsRegion(alarms) ?? clusterRegion(spec)),
        alarms,
        composite,
      });
    }
    case 'web':
      // isOnline checks the URL the looks will ask, variables filled in.
      return new WebProvider({
        url: providerQueries(spec, metric).canary,
        jsonPath: provider.jsonPath,
        headers: provider.headers,
        timeout: provider.timeout,
      });
    case 'amp':
      return ampProvider({ workspaceUrl: provider.workspaceUrl, region: provider.region, timeout: provider.timeout });
    default: {
      const unknown: never = provider;
      throw new Error(`metric "${metric.name}": unknown metric provider "${String(type)}" (${JSON.stringify(unknown)})`);
    }
  }
}

/**
 * What a metric asks its provider, per provider type: PromQL for Prometheus and AMP; the JSON of
 * the metric's metricDataQueries for CloudWatch and the provider's URL for web, both with the
 * template variables filled in; for alarms, the alarm names (evidence only).
 */
export function providerQueries(spec: RolloutSpec, metric: MetricSpec): { canary: string; primary?: string } {
  const provider = metric.provider ?? { type: 'prometheus' as const };
  const render = (template: string) => {
    try {
      return renderQuery(template, queryVariables(spec, metric));
    } catch (error) {
      throw new Error(`metric "${metric.name}": ${(error as Error).message}`, { cause: error });
    }
  };
  switch (provider.type) {
    case 'prometheus':
    case 'amp':
      return metricQueries(spec, metric);
    case 'cloudwatch':
      return { canary: render(JSON.stringify(metric.metricDataQueries ?? [])) };
    case 'web':
      return { canary: render(provider.url) };
    case 'cloudwatch-alarm':
      return { canary: `alarms: ${(metric.alarms ?? []).join(', ')}` };
    default: {
      const unknown: never = provider;
      throw new Error(`metric "${metric.name}": unknown metric provider ${JSON.stringify(unknown)}`);
    }
  }
}

/**
 * Reads every metric of the spec once: the canary's value, and for built-in metrics the
 * primary's too (for the picture; the verdict uses only the canary's). Errors propagate: a
 * TransientError is retried by the state machine, anything else fails the look.
 */
export async function readMetrics(spec: RolloutSpec, providerFor: MetricProviderFor = metricProviderFor): Promise<MetricReading[]> {
  // A metric of counters has no single value: the sequential judge reads and preflights its counts.
  const valued = spec.spec.analysis.metrics.filter((metric) => !metric.counters || metric.query);
  return Promise.all(
    valued.map(async (metric): Promise<MetricReading> => {
      const queries = providerQueries(spec, metric);
      const provider = providerFor(spec, metric);
      const [value, primaryValue] = await Promise.all([
        provider.runQuery(queries.canary),
        queries.primary === undefined ? Promise.resolve<MetricValue | undefined>(undefined) : provider.runQuery(queries.primary),
      ]);
      const reading: MetricReading = { name: metric.name, value, query: queries.canary };
      if (metric.thresholdRange) reading.thresholdRange = { ...metric.thresholdRange };
      // An alarm metric's value is the number of alarms firing: any at all fails the check.
      else if (metric.provider?.type === 'cloudwatch-alarm') reading.thresholdRange = { max: 0 };
      if (primaryValue !== undefined) reading.primaryValue = primaryValue;
      return reading;
    }),
  );
}
